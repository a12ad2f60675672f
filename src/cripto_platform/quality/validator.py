"""The catalog validator: a dataset's quality rules run by Kedro on save, blocking or warning per rule.

Declared on a catalog entry (Kedro 1.7 instantiates the class with ``options`` as keyword arguments)::

    validator:
      class: cripto_platform.quality.QualityValidator
      "on": save
      severity: error
      options: {dataset: payments_batch}

``validate`` evaluates every rule (pandera, lazily) on the frame about to be written; the ``warn``
rules that fail are logged in one paragraph and the data goes on; if an ``error`` rule fails it
raises ``QualityRuleError`` (a Kedro ``DataValidationError``), so the save does not happen and the
run stops, and nothing that depends on the dataset runs. With ``severity: warn`` on the catalog
entry Kedro logs that error instead of raising it: the whole dataset is non-blocking.

Turning rules off: ``options: {skip: [rule, ...]}`` in the catalog; for one run the environment
variable ``CRIPTO_QUALITY_SKIP`` (comma-separated ``<dataset>.<rule>`` or ``<dataset>.*``); every
validator at once with Kedro's ``KEDRO_DATASET_VALIDATION=0``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd
from kedro.validation.exceptions import CheckFailure, DataValidationError

from cripto_platform.quality.results import evaluate_rules, merge_rule_results
from cripto_platform.quality.schemas import dataset_rules

logger = logging.getLogger(__name__)

SKIP_ENV = "CRIPTO_QUALITY_SKIP"
MAX_RULES_IN_MESSAGE = 5


def skipped_for_run(dataset: str) -> set[str]:
    """Rule names of ``dataset`` that ``CRIPTO_QUALITY_SKIP`` turns off (``"*"``: all of them)."""
    skipped = set()
    for item in os.environ.get(SKIP_ENV, "").replace(" ", ",").split(","):
        name, _, rule = item.strip().partition(".")
        if name == dataset and rule:
            skipped.add(rule)
    return skipped


def describe_failures(results: list[dict], rows: int) -> str:
    """``rule on column 'c' (check) failed for n of N rows, e.g. a, b; ...`` for the failed results."""
    parts = []
    for result in results[:MAX_RULES_IN_MESSAGE]:
        where = f"column '{result['column']}'" if result["column"] else "the table"
        if result["column"] and ", " in result["column"]:
            where = f"columns ({result['column']})"
        examples = ", ".join(repr(example) for example in result["examples"][:3])
        count = f"{result['failed_rows']} of {rows} rows" if result["column"] else f"{result['failed_rows']} case(s)"
        parts.append(
            f"{result['rule']} on {where} ({result['check']}) failed for {count}"
            + (f", e.g. {examples}" if examples else "")
        )
    if len(results) > MAX_RULES_IN_MESSAGE:
        parts.append(f"and {len(results) - MAX_RULES_IN_MESSAGE} more rule(s)")
    return "; ".join(parts)


class QualityRuleError(DataValidationError):
    """A blocking quality rule failed: one paragraph naming dataset, rule, column, check, count, examples."""

    def __init__(self, dataset: str, failed: list[dict], rows: int, failures: list[CheckFailure]) -> None:
        super().__init__(
            f"dataset '{dataset}' broke {len(failed)} blocking quality rule(s)",
            dataset_name=dataset,
            failures=failures,
        )
        self.rule_dataset = dataset
        self.failed = failed
        self.rows = rows

    def __str__(self) -> str:
        dataset = self.dataset_name or self.rule_dataset
        outcome = {"save": "on save, so it was not written and the run stopped",
                   "load": "on load, so it was not passed on and the run stopped"}.get(self.mode or "", "")
        first = self.failed[0]
        return (
            f"dataset '{dataset}' broke {len(self.failed)} blocking quality rule(s)"
            f"{' ' + outcome if outcome else ''}: {describe_failures(self.failed, self.rows)}. "
            f"To let a rule pass for one run: {SKIP_ENV}={self.rule_dataset}.{first['rule']} "
            f"(README, data quality rules)."
        )


class QualityValidator:
    """Kedro ``Validator``: runs the registered rules of ``dataset`` (``schemas.RULES``) on the data.

    Args:
        dataset: The registry name of the rules (the catalog dataset name).
        skip: Rule names never run for this entry.
    """

    def __init__(self, dataset: str, skip: list[str] | None = None) -> None:
        self._rules = dataset_rules(dataset)
        unknown = sorted(set(skip or ()) - {rule.name for rule in self._rules.rules})
        if unknown:
            raise ValueError(f"dataset '{dataset}': skip names unknown rules {unknown}")
        self._skip = frozenset(skip or ())

    def __repr__(self) -> str:
        return f"QualityValidator(dataset={self._rules.dataset!r})"

    def validate(self, data: Any) -> Any:
        """The data unchanged; logs failed ``warn`` rules, raises ``QualityRuleError`` on failed ``error`` rules."""
        name = self._rules.dataset
        skipped = self._skip | skipped_for_run(name)
        if "*" in skipped:
            logger.warning("quality rules of dataset '%s' skipped for this run (%s)", name, SKIP_ENV)
            return data
        active = tuple(rule for rule in self._rules.rules if rule.name not in skipped)
        if skipped - self._skip:
            logger.warning("quality rule(s) %s of dataset '%s' skipped for this run (%s)",
                           sorted(skipped - self._skip), name, SKIP_ENV)
        results: list[dict] = []
        rows = 0
        for frame in _frames(data):
            results = merge_rule_results(results, evaluate_rules(self._rules, frame, active))
            rows += len(frame)
        checks = {rule.name: rule.description for rule in active}
        failed = [{**result, "check": checks[result["rule"]]} for result in results if not result["passed"]]
        warned = [result for result in failed if result["severity"] == "warn"]
        blocking = [result for result in failed if result["severity"] == "error"]
        if warned:
            logger.warning(
                "dataset '%s' broke %d non-blocking quality rule(s), written anyway: %s",
                name, len(warned), describe_failures(warned, rows),
            )
        if blocking:
            raise QualityRuleError(
                name, blocking, rows,
                [CheckFailure(message=result["rule"], check=result["check"], column=result["column"],
                              failure_count=result["failed_rows"], failure_examples=result["examples"])
                 for result in blocking],
            )
        return data


def _frames(data: Any) -> list[pd.DataFrame]:
    """The frames of a save: a frame, or ``{version: frame}`` as the lake datasets take it."""
    if isinstance(data, dict):
        return [value() if callable(value) else value for value in data.values()]
    return [data]
