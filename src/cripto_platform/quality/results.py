"""Every quality rule's result on a frame, for the profile and for the catalog validator.

Contract (stable; the profiling pipeline calls these per row group or batch):

``rule_results(dataset_name: str, data: pandas.DataFrame) -> list[dict]``
    One dict per rule registered for the catalog dataset ``dataset_name``
    (``schemas.RULES``; ``RULED_DATASETS`` lists the names; another name raises ``KeyError``),
    in the registry's order, every rule evaluated (pandera ``lazy=True``: one failing rule never
    hides another)::

        {"rule": str,                 # stable rule name, e.g. "payment_id_positive"
         "column": str | None,        # the column; "a, b" for a key of several; None: the whole table
         "severity": "error" | "warn",  # error: blocks the write when the catalog validates the dataset
         "passed": bool,
         "failed_rows": int,          # rows failing the rule (a table-level rule that fails counts 1)
         "examples": list}            # up to 5 distinct offending values, JSON-safe: the value for a
                                      # column rule, {"row": i} for a null, {column: value} for a
                                      # duplicated key, {"rows": n} for a row count, the missing column
                                      # names for columns_present

    A rule whose column is absent fails with ``failed_rows == max(len(data), 1)`` and the example
    ``"column '<name>' is missing"``. ``data`` is not modified.

``merge_rule_results(a: list[dict], b: list[dict]) -> list[dict]``
    The results of two batches of the same dataset as one: ``passed`` is both passed,
    ``failed_rows`` add, examples are concatenated without repeats and capped at 5; rules only in
    one of the lists are kept. ``merge_rule_results([], r) == r``, so a fold can start from ``[]``.
    Rules on the whole table are evaluated per batch: a key duplicated across two batches, or a
    row-count bound over the whole table, is only seen when the table (or its key columns) is
    passed at once.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from cripto_platform.quality.schemas import RULED_DATASETS, DatasetRules, Rule, dataset_rules

MAX_EXAMPLES = 5

__all__ = ["MAX_EXAMPLES", "RULED_DATASETS", "evaluate_rules", "json_safe", "merge_rule_results", "rule_results"]


def rule_results(dataset_name: str, data: pd.DataFrame) -> list[dict]:
    """Every rule registered for ``dataset_name`` evaluated on ``data`` (see the module docstring)."""
    return evaluate_rules(dataset_rules(dataset_name), data)


def merge_rule_results(a: list[dict], b: list[dict]) -> list[dict]:
    """Two batches' results as one: passed if both passed, counts added, examples capped (module docstring)."""
    merged: dict[str, dict] = {}
    for result in [*a, *b]:
        current = merged.get(result["rule"])
        if current is None:
            merged[result["rule"]] = {**result, "examples": list(result["examples"])[:MAX_EXAMPLES]}
            continue
        current["passed"] = current["passed"] and result["passed"]
        current["failed_rows"] += result["failed_rows"]
        for example in result["examples"]:
            if len(current["examples"]) >= MAX_EXAMPLES:
                break
            if example not in current["examples"]:
                current["examples"].append(example)
    return list(merged.values())


def evaluate_rules(rules: DatasetRules, data: pd.DataFrame, only: tuple[Rule, ...] | None = None) -> list[dict]:
    """``rules`` (or the subset ``only``) evaluated lazily on ``data`` with pandera."""
    import pandera.errors

    data = _as_pandas(data)
    selected = rules.rules if only is None else only
    frame = data.reset_index(drop=True)  # failure cases name rows by position
    results = {rule.name: _result(rule) for rule in selected}
    present = set(frame.columns)
    missing_rules = {rule.name for rule in selected if _missing_columns(rule, present)}
    for rule in selected:
        if rule.name in missing_rules and rule.kind != "columns":
            absent = _missing_columns(rule, present)
            _fail(results[rule.name], len(frame), [f"column '{column}' is missing" for column in absent])
    runnable = tuple(rule for rule in selected if rule.name not in missing_rules or rule.kind == "columns")
    try:
        rules.schema(runnable).validate(frame, lazy=True)
        return list(results.values())
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
    if not isinstance(cases, pd.DataFrame):
        cases = pd.DataFrame(cases)
    by_column = {(rule.kind, rule.column): rule for rule in runnable}
    columns_rule = next((rule for rule in runnable if rule.kind == "columns"), None)

    def rule_of(check: Any, column: Any) -> Rule | None:
        if check == "column_in_dataframe":
            return columns_rule
        if check == "not_nullable":
            return by_column.get(("not_null", column))
        return rules.by_check_text(str(check))

    pairs = cases[["check", "column"]].drop_duplicates()
    owners = {(row.check, row.column): rule_of(row.check, row.column) for row in pairs.itertuples(index=False)}
    cases = cases.assign(rule=[getattr(owners[(c, col)], "name", None)
                               for c, col in zip(cases["check"], cases["column"], strict=True)])
    unknown = cases[cases["rule"].isna()]
    if len(unknown):  # e.g. a check that raised on an unexpected dtype: pandera reports the exception
        raise RuntimeError(
            f"dataset '{rules.dataset}': pandera reported failures no rule owns: "
            f"{unknown[['column', 'check', 'failure_case']].head(3).to_dict('records')}"
        )
    for name, group in cases.groupby("rule", sort=False):
        rule = next(rule for rule in runnable if rule.name == name)
        if name not in results:
            continue
        indexes = group["index"].dropna()
        if rule.kind == "columns":
            _fail(results[name], max(len(frame), 1), [str(value) for value in group["failure_case"]])
        elif rule.kind == "table" and indexes.empty:  # a scalar check on the whole frame (row count)
            _fail(results[name], 1, [{"rows": len(frame)}])
        elif rule.kind == "table":  # a row-wise check on several columns (a key): the rows' key values
            rows = pd.unique(indexes.astype("int64"))
            examples = frame.loc[rows[: MAX_EXAMPLES * 4], list(rule.columns)].drop_duplicates().head(MAX_EXAMPLES)
            _fail(results[name], len(rows), examples.to_dict("records"))
        elif rule.kind == "not_null":
            rows = pd.unique(indexes.astype("int64"))
            _fail(results[name], len(rows), [{"row": int(row)} for row in rows[:MAX_EXAMPLES]])
        else:
            failed = indexes.nunique() if len(indexes) else len(group)  # regex rules: rows, not cells
            _fail(results[name], int(failed), list(group["failure_case"].head(MAX_EXAMPLES * 4)))
    return list(results.values())


def _result(rule: Rule) -> dict:
    return {"rule": rule.name, "column": rule.column, "severity": rule.severity, "passed": True,
            "failed_rows": 0, "examples": []}


def _fail(result: dict, failed_rows: int, examples: list) -> None:
    result["passed"] = False
    result["failed_rows"] += int(failed_rows)
    for example in examples:
        safe = json_safe(example)
        if len(result["examples"]) >= MAX_EXAMPLES:
            break
        if safe not in result["examples"]:
            result["examples"].append(safe)


def _missing_columns(rule: Rule, present: set) -> list[str]:
    if rule.kind in ("columns", "table") and rule.columns:
        return [column for column in rule.columns if column not in present]
    if rule.column is None or rule.regex or rule.kind == "table":
        return []
    return [] if rule.column in present else [rule.column]


def _as_pandas(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    to_pandas = getattr(data, "to_pandas", None)  # polars / arrow tables
    if callable(to_pandas):
        return to_pandas()
    raise TypeError(f"quality rules take a pandas DataFrame, got {type(data).__name__}")


def json_safe(value: Any) -> Any:
    """A value as JSON can carry it: numpy scalars as Python numbers, times as ISO text, NaN as None."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else (value if math.isfinite(value) else str(value))
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
