"""Profiling nodes: each takes a lazy handle (never a whole table), returns dicts/frames the catalog writes."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from functools import partial
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from kedro.io.core import generate_timestamp

from cripto_platform.datasets.run_reports import RunReports
from cripto_platform.pipelines.profiling.params import DriftParams, ProfileParams, TablesParams
from cripto_platform.profiling import drift, html, sql
from cripto_platform.profiling.figures import SCHEMA_VERSION
from cripto_platform.profiling.parquet import profile_source
from cripto_platform.profiling.sources import ParquetSource, WarehouseSource

logger = logging.getLogger(__name__)


def _log_profiled(name: str, kind: str, figures: dict[str, Any], started: float) -> None:
    table = figures.get("table_stats") or {}
    logger.info("profiled %s table '%s': %s rows, %s columns in %.2fs", kind, name, table.get("rows", "?"),
                table.get("columns", "?"), time.perf_counter() - started)


def resolve_profiling_version(run_metadata: dict[str, str]) -> str:
    """The run's folder under ``08_reporting/profiling/``: Kedro's save version of this run."""
    return run_metadata.get("save_version") or generate_timestamp()


def _envelope(source: ParquetSource | WarehouseSource, kind: str, version: str | None, status: str,
              run_version: str, message: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "table": source.name,
        "status": status,
        "message": message,
        "run_version": run_version,
        "profiled_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {"kind": kind, "location": source.location, "version": version},
    }


def _rules(name: str, tables: TablesParams):
    """The quality rules for ``name`` (per batch) and their merge, or (None, None)."""
    if not tables.quality_rules:
        return None, None
    from cripto_platform.quality.results import RULED_DATASETS, merge_rule_results, rule_results

    return (partial(rule_results, name), merge_rule_results) if name in RULED_DATASETS else (None, None)


def _empty_figures() -> dict[str, Any]:
    return {"table_stats": None, "columns": [], "correlations": None, "approximations": [], "rules": None,
            "duration_seconds": 0.0}


def profile_lake_table(source: ParquetSource, options: ProfileParams, tables: TablesParams, run_version: str,
                       *after: Any) -> dict[str, Any]:
    """A lake table's newest version profiled a record batch at a time (``after``: ordering only)."""
    if source.name not in tables.include:
        return {**_envelope(source, "lake", source.version, "skipped", run_version,
                            "not in profiling.tables.include"), **_empty_figures()}
    if not source.exists:
        return {**_envelope(source, "lake", None, "missing", run_version, "the table has no version yet"),
                **_empty_figures()}
    rules, merge = _rules(source.name, tables)
    started = time.perf_counter()
    figures = profile_source(source, options.model_dump(), rules, merge)
    _log_profiled(source.name, "lake", figures, started)
    return {**_envelope(source, "lake", source.version, "profiled", run_version), **figures}


def profile_warehouse_table(source: WarehouseSource, options: ProfileParams, tables: TablesParams,
                            run_version: str, *after: Any) -> dict[str, Any]:
    """A warehouse table profiled by SQL aggregates inside PostgreSQL (``after``: ordering only)."""
    if source.name not in tables.include:
        return {**_envelope(source, "warehouse", None, "skipped", run_version, "not in profiling.tables.include"),
                **_empty_figures()}
    if not sql.table_exists(source):
        return {**_envelope(source, "warehouse", None, "missing", run_version, "the table does not exist"),
                **_empty_figures()}
    rules, merge = _rules(source.name, tables)
    started = time.perf_counter()
    figures = sql.profile_table(source, options.model_dump(), rules, merge)
    _log_profiled(source.name, "warehouse", figures, started)
    return {**_envelope(source, "warehouse", None, "profiled", run_version), **figures}


def open_lake_tables(tables: dict[str, ParquetSource]) -> dict[str, ParquetSource]:
    """Each lake table's lazy source, one output per table for its own profile branch."""
    return tables


def compare_with_previous(profile: dict[str, Any], previous_reports: RunReports,
                          thresholds: DriftParams) -> dict[str, dict]:
    """The profile with its drift from the previous run's profile of its table, as ``{run version: report}``."""
    previous = previous_reports.newest(profile["table"])
    previous_version, previous_profile = next(iter(previous.items()), (None, None))
    if previous_version == profile["run_version"]:  # this run's own file (a rerun of the same version)
        previous_version, previous_profile = None, None
    report = {**profile, "drift": drift.compare_profiles(profile, previous_profile, previous_version,
                                                         thresholds.model_dump())}
    return {profile["run_version"]: report}


def render_table_page(report: dict[str, dict]) -> dict[str, str]:
    """The table's self-contained HTML page, beside its JSON."""
    return {version: html.table_page(profile) for version, profile in report.items()}


def _summary_row(profile: dict[str, Any]) -> dict[str, Any]:
    stats = profile["table_stats"] or {}
    rows, columns = stats.get("rows"), stats.get("columns")
    cells = (rows or 0) * (columns or 0)
    missing = sum(c["missing"] for c in profile["columns"])
    rules = profile["rules"] or []
    return {
        "table": profile["table"],
        "status": profile["status"],
        "source_kind": profile["source"]["kind"],
        "source_version": profile["source"]["version"],
        "rows": rows,
        "columns": columns,
        "duplicate_rows": stats.get("duplicate_rows"),
        "missing_share": (missing / cells) if cells else None,
        "rules_evaluated": len(rules) if profile["rules"] is not None else None,
        "rule_failures": sum(not r["passed"] for r in rules),
        "rule_errors": sum((not r["passed"]) and r["severity"] == "error" for r in rules),
        "drift_flags": profile["drift"]["flags"],
        "size_on_disk_bytes": stats.get("size_on_disk_bytes"),
        "duration_seconds": profile["duration_seconds"],
    }


def summarise_profiles(*reports: dict[str, dict]) -> pd.DataFrame:
    """One row per table of this run: rows, columns, missing share, rule failures, drift flags."""
    rows = [_summary_row(profile) for report in reports for profile in report.values()]
    return pd.DataFrame(rows).astype({"source_version": "string", "rows": "Int64", "columns": "Int64", "duplicate_rows": "Int64",
                                      "rules_evaluated": "Int64", "size_on_disk_bytes": "Int64"})


def render_index(summary: pd.DataFrame, run_version: str, *pages: Any) -> dict[str, str]:
    """``index.html``: every table's summary row, linking its page (``pages``: ordering only, no dangling link)."""
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in summary.to_dict("records")]
    return {run_version: html.index_page(records, run_version)}


def plot_profiles(summary: pd.DataFrame) -> go.Figure:
    """Missing share and failed quality rules per table (kedro-viz shows it)."""
    figure = go.Figure()
    figure.add_bar(x=summary["table"], y=summary["missing_share"].astype(float), name="missing share")
    figure.add_bar(x=summary["table"], y=summary["rule_failures"], name="failed rules", yaxis="y2")
    figure.add_bar(x=summary["table"], y=summary["drift_flags"], name="drift flags", yaxis="y2")
    figure.update_layout(title="Profiles of the latest run", barmode="group",
                         yaxis={"title": "missing share", "tickformat": ".0%"},
                         yaxis2={"title": "count", "overlaying": "y", "side": "right"})
    return figure
