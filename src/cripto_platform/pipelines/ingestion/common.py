"""Nodes shared by every ingestion source: the version being written, its frames, and the lake root check."""

from __future__ import annotations

import logging
import re
from typing import Any

import pandas as pd

from cripto_platform.profiling.sources import ParquetSource

logger = logging.getLogger(__name__)


class LakeRootMissingError(RuntimeError):
    """The configured lake root (an S3 bucket) does not exist or cannot be reached."""


def resolve_ingestion_version(version: Any, run_metadata: dict[str, str]) -> str:
    """The ``yyyymmdd`` version folder written by this run: the parameter, else the run's UTC date."""
    if version not in (None, ""):
        text = str(version)
        if not re.fullmatch(r"\d{8}", text) or pd.to_datetime(text, format="%Y%m%d", errors="coerce") is pd.NaT:
            raise ValueError(f"parameter ingestion.version must be a yyyymmdd date, got '{version}'")
        return text
    return pd.Timestamp(run_metadata["started_at"]).tz_convert("UTC").strftime("%Y%m%d")


def of_version(tables: pd.DataFrame | dict[str, pd.DataFrame], version: str) -> pd.DataFrame:
    """The frame of ``version`` from a ``{version: frame}`` node output (a frame is returned as is)."""
    if not isinstance(tables, dict):
        return tables
    if str(version) not in tables:
        raise KeyError(f"no frame for version {version} in this run's output (have {sorted(tables)})")
    return tables[str(version)]


def check_lake_root(lake: dict[str, Any]) -> dict[str, Any]:
    """Fail naming the bucket when the object-store lake root is missing; local folders are created on write."""
    if lake["protocol"] in ("file", "local"):
        logger.info("lake root '%s' (local; folders are created as data is written)", lake["root"])
        return lake
    if not lake["exists"]:
        reason = f": {lake['error']}" if lake.get("error") else ""
        raise LakeRootMissingError(
            f"lake root '{lake['root']}' does not exist or cannot be reached{reason}. Create the bucket "
            "(e.g. `aws s3 mb`), or name an existing one in the environment's globals.yml (lake_root) and check "
            "AWS_ENDPOINT_URL"
        )
    logger.info("lake root '%s' exists", lake["root"])
    return lake


def log_quarantine(dataset: str, rows: int, quarantine: pd.DataFrame) -> None:
    """One log line with the rows kept and the quarantined line numbers of ``dataset``."""
    if quarantine.empty:
        logger.info("%s: %d rows, no line quarantined", dataset, rows)
        return
    # 11 are enough to show 10 and say there are more (a whole file can be quarantined)
    lines = quarantine["line_number"].head(11).tolist() if "line_number" in quarantine else []
    shown = ", ".join(map(str, lines[:10])) + (" …" if len(lines) > 10 else "")
    logger.warning(
        "%s: %d rows kept, %d quarantined (lines %s); see dataset '%s_quarantine'",
        dataset, rows, len(quarantine), shown, dataset.split("/")[0],
    )


def record_lake_tables(version: str, **tables: ParquetSource) -> dict[str, dict[str, Any]]:
    """The record of the lake tables this run wrote, ``{table: {"table", "version", "rows", "files", "bytes"}}``,
    from each table's lazy load (``LakeTableDataset(lazy=True)``) at the run's ``version`` (a backfill writes an older one than the newest; rows from
    the parquet footers, no row is read). A table with no such version (its source did not run) is left out."""
    at_run = {name: source.at_version(version) for name, source in sorted(tables.items())}
    return {
        name: {"table": name, "version": source.version, "rows": int(source.dataset().count_rows()),
               "files": len(source.files), "bytes": int(source.size_on_disk)}
        for name, source in at_run.items() if source.exists
    }
