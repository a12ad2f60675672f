"""Drift flags between two profiles of a changed table; no flags on an unchanged one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cripto_platform.pipelines.profiling.params import DriftParams
from cripto_platform.profiling import profile_parquet
from cripto_platform.profiling.drift import compare_profiles
from tests.pipelines.profiling.conftest import shipped_params


def _profile(frame: pd.DataFrame, path, options) -> dict:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return {"status": "profiled", **profile_parquet(str(path), options)}


def test_changed_table_is_flagged(tmp_path, options):
    rng = np.random.default_rng(3)
    before = pd.DataFrame({"x": rng.normal(0, 1, 1000), "segment": rng.choice(["a", "b", "c"], 1000),
                           "gone": np.arange(1000)})
    after = pd.DataFrame({"x": rng.normal(2, 1, 2000), "segment": rng.choice(["a", "b", "d"], 2000),
                          "fresh": np.arange(2000)})
    after.loc[after.index % 4 == 0, "x"] = np.nan
    thresholds = DriftParams(**shipped_params()["drift"]).model_dump()
    drift = compare_profiles(_profile(after, tmp_path / "b.parquet", options),
                             _profile(before, tmp_path / "a.parquet", options), "v1", thresholds)
    flagged = {(c["kind"], c["column"]) for c in drift["checks"] if c["flagged"]}
    assert {("row_count", None), ("new_column", "fresh"), ("vanished_column", "gone"),
            ("missing_share", "x"), ("mean_shift", "x"), ("quantile_shift", "x.p50"),
            ("new_category", "segment"), ("vanished_category", "segment")} <= flagged
    assert drift["flags"] == len([c for c in drift["checks"] if c["flagged"]]) and drift["compared"]

    same = compare_profiles(_profile(before, tmp_path / "c.parquet", options),
                            _profile(before, tmp_path / "a.parquet", options), "v1", thresholds)
    assert same["compared"] and same["flags"] == 0 and same["checks"]


def test_no_previous_profile():
    assert compare_profiles({"status": "profiled"}, None, None, {})["compared"] is False


def test_each_table_is_compared_with_its_own_newest_earlier_report(tmp_path):
    """One dataset serves every table's previous report: the newest run holding that table's file."""
    from cripto_platform.datasets.run_reports import RunReportDataset, RunReportsDataset
    from cripto_platform.pipelines.profiling.nodes import compare_with_previous

    root = str(tmp_path / "profiling")
    older, newer, now = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z", "2026-01-03T00.00.00.000Z"
    RunReportDataset(path=root, file_name="a.json").save({older: {"table": "a", "seen": "older"}})
    RunReportDataset(path=root, file_name="a.json").save({newer: {"table": "a", "seen": "newer"}})
    RunReportDataset(path=root, file_name="b.json").save({older: {"table": "b", "seen": "older"}})
    reports = RunReportsDataset(path=root, suffix=".json").load()
    assert reports.newest("a") == {newer: {"table": "a", "seen": "newer"}}
    assert reports.newest("b") == {older: {"table": "b", "seen": "older"}}  # b was not profiled in the newer run
    assert reports.newest("c") == {}

    thresholds = DriftParams(**shipped_params()["drift"])
    profile = {"table": "c", "status": "profiled", "run_version": now}
    (report,) = compare_with_previous(profile, reports, thresholds).values()
    assert report["drift"]["compared"] is False  # no earlier report of c
