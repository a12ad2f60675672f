"""Run metadata (the seed's ``0_run_parameters``): a uuid run id and start time per run."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pandas as pd

RUN_METADATA_DATASET = "run_metadata"


def new_run_metadata(save_version: str | None = None) -> dict[str, str]:
    """Metadata for one ``kedro run``; ``save_version`` links it to versioned outputs."""
    return {
        "run_id": str(uuid.uuid4()),
        # Microseconds: two runs within one second still order (reservation_clusters_latest, watermarks).
        "started_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "save_version": save_version or "",
    }


def stamp_run(df: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """Return ``df`` with ``run_id`` and ``run_started_at`` columns first."""
    stamped = df.copy()
    stamped.insert(0, "run_started_at", pd.Timestamp(run_metadata["started_at"]))
    stamped.insert(0, "run_id", run_metadata["run_id"])
    return stamped


def utc_timestamp(value) -> pd.Timestamp:
    """``value`` as a UTC ``pd.Timestamp`` (naive means UTC), the rule every run time and window uses."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
