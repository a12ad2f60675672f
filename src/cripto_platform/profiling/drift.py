"""A table's profile against its previous profile: every comparison made, the ones past a threshold flagged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _flag(checks: list, kind: str, column: str | None, previous: Any, current: Any, change: float | None,
          threshold: float | None, flagged: bool) -> None:
    checks.append({"kind": kind, "column": column, "previous": previous, "current": current,
                   "change": change, "threshold": threshold, "flagged": bool(flagged)})


def compare_profiles(current: dict, previous: dict | None, previous_version: str | None,
                     thresholds: Mapping[str, Any]) -> dict:
    """Drift of ``current`` from ``previous`` (``None``: nothing to compare with)."""
    if not previous or previous.get("status") != "profiled" or current.get("status") != "profiled":
        return {"previous_version": previous_version if previous else None, "compared": False,
                "checks": [], "flags": 0}
    checks: list[dict] = []
    rows_now, rows_before = current["table_stats"]["rows"], previous["table_stats"]["rows"]
    change = (rows_now - rows_before) / rows_before if rows_before else (0.0 if rows_now == 0 else None)
    _flag(checks, "row_count", None, rows_before, rows_now, change, thresholds["row_count_change"],
          change is None or abs(change) > thresholds["row_count_change"])
    before = {c["name"]: c for c in previous["columns"]}
    now = {c["name"]: c for c in current["columns"]}
    for name in now.keys() - before.keys():
        _flag(checks, "new_column", name, None, now[name]["kind"], None, None, thresholds["flag_schema_changes"])
    for name in before.keys() - now.keys():
        _flag(checks, "vanished_column", name, before[name]["kind"], None, None, None, thresholds["flag_schema_changes"])
    for name in sorted(now.keys() & before.keys()):
        a, b = before[name], now[name]
        if a["kind"] != b["kind"]:
            _flag(checks, "kind_changed", name, a["kind"], b["kind"], None, None, thresholds["flag_schema_changes"])
            continue
        delta = b["missing_share"] - a["missing_share"]
        _flag(checks, "missing_share", name, a["missing_share"], b["missing_share"], delta,
              thresholds["missing_share_change"], abs(delta) > thresholds["missing_share_change"])
        if a["numeric"] and b["numeric"]:
            _numeric_drift(checks, name, a["numeric"], b["numeric"], thresholds)
        if a["text"] and b["text"]:
            _category_drift(checks, name, a, b, thresholds)
    flags = sum(check["flagged"] for check in checks)
    return {"previous_version": previous_version, "compared": True, "checks": checks, "flags": flags}


def _numeric_drift(checks: list, name: str, a: dict, b: dict, thresholds: Mapping[str, Any]) -> None:
    scale = a["std"] or None
    if a["mean"] is not None and b["mean"] is not None:
        shift = abs(b["mean"] - a["mean"]) / scale if scale else (0.0 if b["mean"] == a["mean"] else None)
        _flag(checks, "mean_shift", name, a["mean"], b["mean"], shift, thresholds["mean_shift_std"],
              shift is None or shift > thresholds["mean_shift_std"])
    qa, qb = a["quantiles"], b["quantiles"]
    spread = (qa["p75"] - qa["p25"]) if qa["p75"] is not None and qa["p25"] is not None else None
    spread = spread or scale
    for level in ("p05", "p50", "p95"):
        if qa[level] is None or qb[level] is None:
            continue
        shift = abs(qb[level] - qa[level]) / spread if spread else (0.0 if qb[level] == qa[level] else None)
        _flag(checks, "quantile_shift", f"{name}.{level}", qa[level], qb[level], shift,
              thresholds["quantile_shift_iqr"], shift is None or shift > thresholds["quantile_shift_iqr"])


def _category_drift(checks: list, name: str, a: dict, b: dict, thresholds: Mapping[str, Any]) -> None:
    """New or vanished categories, when both profiles list every value (exact and few enough)."""
    limit = thresholds["max_categories"]
    complete = all(c["text"]["top_values_exact"] and c["distinct"] <= min(limit, len(c["text"]["top_values"]))
                   for c in (a, b))
    if not complete:
        return
    old = {item["value"] for item in a["text"]["top_values"]}
    new = {item["value"] for item in b["text"]["top_values"]}
    for value in sorted(new - old):
        _flag(checks, "new_category", name, None, value, None, None, thresholds["flag_category_changes"])
    for value in sorted(old - new):
        _flag(checks, "vanished_category", name, value, None, None, None, thresholds["flag_category_changes"])
