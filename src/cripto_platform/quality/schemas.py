"""The quality rules of the platform's key tables, each a pandera check, registered by catalog dataset name.

A rule is one pandera check with a stable name, the column it looks at (``None`` for a rule on the
whole table), and a severity: ``error`` rules block (the table is not written and the run stops),
``warn`` rules are logged and the data is written. ``RULES[<catalog dataset name>]`` holds a
dataset's rules; ``RULES[name].schema()`` is the pandera ``DataFrameSchema`` they make up (what
``QualityValidator`` runs from the catalog's ``validator:`` key, and ``results.rule_results`` for the
profile). No rule declares a dtype: the same rules hold whether a frame was just computed, written
to parquet (categorical partition columns) or read back from PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from cripto_platform.payments import COMPANY_COLUMNS, KEY, PAYMENT_COLUMNS
from cripto_platform.sources.payments import CATEGORIES, STATUSES

Severity = Literal["error", "warn"]
Kind = Literal["columns", "not_null", "values", "table"]

NUMERIC_14_2_LIMIT = 1e12  # numeric(14, 2) holds |x| <= 999999999999.99
MAX_PAYMENTS_BATCH_ROWS = 20_000_000  # a bigger batch means a lost watermark, not a day's payments


@dataclass(frozen=True)
class Rule:
    """One quality rule: a named pandera check on a column (or on the table) and its severity.

    ``check`` is ``None`` for the two rules pandera expresses on the schema itself: ``columns``
    (the listed columns exist) and ``not_null`` (``nullable=False``). ``regex``: ``column`` is a
    pattern and the check applies to every matching column.
    """

    name: str
    column: str | None
    severity: Severity
    kind: Kind
    description: str
    check: pa.Check | None = None
    columns: tuple[str, ...] = ()
    regex: bool = False


def columns_present(*columns: str, severity: Severity = "error") -> Rule:
    return Rule("columns_present", None, severity, "columns", f"columns {', '.join(columns)} exist", columns=columns)


def not_null(column: str, severity: Severity = "error") -> Rule:
    return Rule(f"{column}_not_null", column, severity, "not_null", f"{column} is not null")


def values(name: str, column: str, check: pa.Check, description: str, severity: Severity = "error",
           regex: bool = False) -> Rule:
    """A check on every non-null value of ``column``; pandera reports each failing value."""
    return Rule(name, column, severity, "values", description, _named(check, name, description), regex=regex)


def unique(*columns: str, severity: Severity = "error", name: str | None = None) -> Rule:
    """No two rows share the values of ``columns`` (every row of a duplicated key fails)."""
    label = f"unique ({', '.join(columns)})"
    cols = list(columns)
    check = pa.Check(lambda frame: ~frame.duplicated(cols, keep=False), name=name or "key_unique", error=label)
    return Rule(name or "key_unique", ", ".join(columns), severity, "table", label, check, columns=columns)


def row_count(minimum: int | None = None, maximum: int | None = None, severity: Severity = "error") -> Rule:
    """A dataframe-level check: the number of rows is within ``[minimum, maximum]``."""
    low = 0 if minimum is None else minimum
    high = np.inf if maximum is None else maximum
    label = f"row count in [{low}, {'inf' if maximum is None else maximum}]"
    check = pa.Check(lambda frame: bool(low <= len(frame) <= high), name="row_count", error=label)
    return Rule("row_count", None, severity, "table", label, check)


def _named(check: pa.Check, name: str, description: str) -> pa.Check:
    check.name, check.error = name, description  # pandera reports `error` as the failing check's text
    return check


@dataclass(frozen=True)
class DatasetRules:
    """The rules of one catalog dataset and the pandera schema they make up."""

    dataset: str
    rules: tuple[Rule, ...]
    _by_text: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset '{self.dataset}': rule names repeat: {names}")
        texts = [rule.description for rule in self.rules]
        if len(set(texts)) != len(texts):
            raise ValueError(f"dataset '{self.dataset}': rule descriptions repeat (they identify pandera's checks)")
        self._by_text.update({rule.description: rule for rule in self.rules})

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"dataset '{self.dataset}' has no rule '{name}'; rules: {[r.name for r in self.rules]}")

    def by_check_text(self, text: str) -> Rule | None:
        return self._by_text.get(text)

    def schema(self, rules: tuple[Rule, ...] | None = None) -> pa.DataFrameSchema:
        """The pandera schema of ``rules`` (default: all of them); extra columns are allowed."""
        rules = self.rules if rules is None else rules
        required = {column for rule in rules if rule.kind == "columns" for column in rule.columns}
        specs: dict[str, dict] = {}

        def spec(rule_column: str, regex: bool = False) -> dict:
            return specs.setdefault(rule_column, {"checks": [], "nullable": True, "regex": regex})

        for column in sorted(required):
            spec(column)
        for rule in rules:
            if rule.kind == "not_null":
                spec(rule.column)["nullable"] = False
            elif rule.kind == "values":
                spec(rule.column, rule.regex)["checks"].append(rule.check)
        table_checks = [rule.check for rule in rules if rule.kind == "table"]
        return pa.DataFrameSchema(
            {
                column: pa.Column(checks=s["checks"], nullable=s["nullable"], regex=s["regex"],
                                  required=column in required, coerce=False)
                for column, s in specs.items()
            },
            checks=table_checks,
            strict=False,
            name=self.dataset,
        )


# ---------------------------------------------------------------------------------------- payments


PAYMENTS_BATCH = DatasetRules(
    "payments_batch",
    (
        columns_present(*PAYMENT_COLUMNS),
        not_null("payment_id"),
        not_null("company_code"),
        not_null("updated_at"),
        unique(*KEY, name="payment_key_unique"),
        values("payment_id_positive", "payment_id", pa.Check.gt(0), "payment_id > 0"),
        values("amount_fits_numeric_14_2", "amount",
               pa.Check.in_range(-NUMERIC_14_2_LIMIT, NUMERIC_14_2_LIMIT, include_min=False, include_max=False),
               "|amount| < 10^12 (numeric(14, 2))"),
        values("amount_not_negative", "amount", pa.Check.ge(0), "amount >= 0", severity="warn"),
        # An unknown status is a new state of the source, not corrupt data: the SCD2 table stores any
        # text, so it is written and reported rather than stopping every payment of the batch.
        values("status_known", "status", pa.Check.isin(STATUSES.tolist()),
               f"status in {STATUSES.tolist()}", severity="warn"),
        row_count(maximum=MAX_PAYMENTS_BATCH_ROWS, severity="warn"),
    ),
)

COMPANIES = DatasetRules(
    "companies_l0",
    (
        columns_present(*COMPANY_COLUMNS),
        not_null("company_code"),
        unique("company_code", name="company_code_unique"),
        values("company_code_not_blank", "company_code", pa.Check(lambda s: s.astype(str).str.strip() != ""),
               "company_code is not blank"),
        values("company_id_positive", "company_id", pa.Check.gt(0), "company_id > 0", severity="warn"),
        not_null("name", severity="warn"),
        values("category_known", "category", pa.Check.isin(CATEGORIES.tolist()),
               f"category in {CATEGORIES.tolist()}", severity="warn"),
        row_count(minimum=1),
    ),
)

# ---------------------------------------------------------------------------------------- ingestion


CRYPTO_DAILY_FEATURES = DatasetRules(
    "crypto_daily_features",
    (
        columns_present("symbol", "date", "feature_version", "close", "volume", "return_1d", "target_next_return_1d"),
        not_null("symbol"),
        not_null("date"),
        not_null("close"),
        unique("symbol", "date", name="symbol_date_unique"),
        values("close_positive", "close", pa.Check.gt(0), "close > 0"),
        values("volume_not_negative", "volume", pa.Check.ge(0), "volume >= 0"),
        values("return_above_minus_one", "return_1d", pa.Check.gt(-1), "return_1d > -1"),
        values("volatility_not_negative", r"^volatility_\d+d$", pa.Check.ge(0), "volatility_<n>d >= 0", regex=True),
        row_count(minimum=1),
    ),
)

SALES_FACTS = DatasetRules(
    "sales_facts",
    (
        columns_present("id_venta", "fecha", "id_punto_venta", "id_producto", "unidades", "monto", "archivo_origen", "anio"),
        *(not_null(column) for column in
          ("id_venta", "fecha", "id_punto_venta", "id_producto", "unidades", "monto", "archivo_origen")),
        unique("id_venta", name="id_venta_unique"),
        values("unidades_positive", "unidades", pa.Check.gt(0), "unidades > 0", severity="warn"),
        values("monto_not_negative", "monto", pa.Check.ge(0), "monto >= 0", severity="warn"),
        values("anio_plausible", "anio", pa.Check.in_range(2000, 2100), "anio in [2000, 2100]", severity="warn"),
        row_count(minimum=1),
    ),
)

# ---------------------------------------------------------------------------------------- clustering


RESERVATION_CLUSTERS = DatasetRules(
    "reservation_clusters",
    (
        columns_present("reservation_id", "cluster", "run_id", severity="warn"),
        not_null("reservation_id", severity="warn"),
        not_null("cluster", severity="warn"),
        not_null("run_id", severity="warn"),
        unique("run_id", "reservation_id", severity="warn", name="run_reservation_unique"),
        values("cluster_label_valid", "cluster", pa.Check.ge(-1), "cluster >= -1 (-1: noise)", severity="warn"),
        values("arrival_occupancy_not_negative", "arrival_occupancy_rate", pa.Check.ge(0),
               "arrival_occupancy_rate >= 0", severity="warn"),
        row_count(minimum=1, severity="warn"),
    ),
)

# ---------------------------------------------------------------------------------------- recommendation


RECOMMENDATION_SOURCES = ["similar", "popular"]

CLIENT_RECOMMENDATIONS = DatasetRules(
    "client_recommendations",
    (
        columns_present("external_client_id", "rank", "company_code", "score", "source"),
        *(not_null(column) for column in ("external_client_id", "rank", "company_code", "score", "source")),
        unique("external_client_id", "rank", name="client_rank_unique"),
        unique("external_client_id", "company_code", name="client_company_unique"),
        values("rank_positive", "rank", pa.Check.ge(1), "rank >= 1"),
        values("source_known", "source", pa.Check.isin(RECOMMENDATION_SOURCES), f"source in {RECOMMENDATION_SOURCES}"),
        values("score_finite", "score", pa.Check(lambda s: np.isfinite(pd.to_numeric(s, errors="coerce"))),
               "score is finite", severity="warn"),
        row_count(minimum=1),
    ),
)


RULES: dict[str, DatasetRules] = {
    rules.dataset: rules
    for rules in (PAYMENTS_BATCH, COMPANIES, CRYPTO_DAILY_FEATURES, SALES_FACTS, RESERVATION_CLUSTERS,
                  CLIENT_RECOMMENDATIONS)
}
RULED_DATASETS: tuple[str, ...] = tuple(RULES)

# The pandera schemas themselves, e.g. for ``validator: cripto_platform.quality.schemas.SCHEMAS...`` or a notebook.
SCHEMAS: dict[str, pa.DataFrameSchema] = {name: rules.schema() for name, rules in RULES.items()}


def dataset_rules(dataset_name: str) -> DatasetRules:
    """The rules registered for a catalog dataset; a ``KeyError`` naming the ruled datasets otherwise."""
    try:
        return RULES[dataset_name]
    except KeyError:
        raise KeyError(f"no quality rules for dataset '{dataset_name}'; ruled datasets: {list(RULED_DATASETS)}") from None
