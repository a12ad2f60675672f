"""Figures shared by the parquet and SQL profilers: quantile levels, histogram binning, JSON-safe numbers."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95}
SCHEMA_VERSION = "1.0"


def number(value: Any) -> float | int | None:
    """A JSON number, or None for null/NaN/inf."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def bin_counts(values: np.ndarray, lo: float, hi: float, bins: int) -> list[int]:
    """Equal-width bins over [lo, hi], the last one closed: ``floor((v - lo) / (hi - lo) * bins)``.

    The SQL profiler evaluates the same expression in PostgreSQL (float8), so both agree bin by bin.
    One bin when lo == hi.
    """
    if values.size == 0:
        return []
    if hi <= lo:
        return [int(values.size)]
    index = np.floor((values - lo) / (hi - lo) * bins)
    index = np.clip(index, 0, bins - 1).astype(np.int64)
    return np.bincount(index, minlength=bins).tolist()


def bin_edges(lo: float, hi: float, bins: int) -> list[float]:
    if hi <= lo:
        return [float(lo), float(hi)]
    return [float(lo + (hi - lo) * i / bins) for i in range(bins + 1)]


def iso_instant(value: Any, kind: str) -> str | None:
    """A date as ``YYYY-MM-DD``; a timestamp as ISO text (zone-aware ones in UTC)."""
    if value is None or value is pd.NaT:
        return None
    if kind == "date":
        if isinstance(value, dt.datetime):
            value = value.date()
        return value.isoformat() if isinstance(value, dt.date) else pd.Timestamp(value).date().isoformat()
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    return stamp.isoformat()


def epoch_iso(seconds: float, kind: str, aware: bool) -> str:
    stamp = pd.Timestamp(seconds, unit="s", tz="UTC" if aware else None)
    return stamp.date().isoformat() if kind == "date" else stamp.isoformat()
