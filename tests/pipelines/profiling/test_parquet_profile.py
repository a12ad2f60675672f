"""The parquet profiler's figures against pandas on generated tables with known properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cripto_platform.profiling import profile_parquet


def _table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "amount": rng.normal(100, 15, n),
        "units": rng.integers(-3, 7, n),
        "constant": np.full(n, 7.0),
        "all_null": pd.array([None] * n, dtype="Float64"),
        "city": pd.array(rng.choice(["Bogotá", "Medellín", "東京", "😀", ""], n), dtype="str"),
        "flag": rng.random(n) > 0.3,
        "at": pd.date_range("2024-03-30", periods=n, freq="37min", tz="Europe/Madrid"),
        "naive_at": pd.date_range("2020-01-01", periods=n, freq="D"),
    })
    frame.loc[frame.index % 9 == 0, "amount"] = np.nan
    frame.loc[frame.index % 13 == 0, "city"] = None
    return pd.concat([frame, frame.iloc[:25]], ignore_index=True)  # 25 planted duplicates


def _write(frame: pd.DataFrame, path, row_group_size: int = 500) -> str:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size)
    return str(path)


def _col(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_figures_match_pandas_over_many_row_groups(tmp_path, options):
    frame = _table()
    options["batch_rows"] = 400  # several batches per row group boundary
    profile = profile_parquet(_write(frame, tmp_path / "t.parquet"), options)
    stats = profile["table_stats"]
    assert stats["rows"] == len(frame) and stats["columns"] == frame.shape[1]
    assert stats["batches"] > 5
    assert stats["duplicate_rows"] == frame.duplicated().sum() == 25 and stats["duplicate_rows_exact"]
    assert stats["size_on_disk_bytes"] == (tmp_path / "t.parquet").stat().st_size

    amount = _col(profile, "amount")
    assert amount["missing"] == frame["amount"].isna().sum()
    assert amount["missing_share"] == pytest.approx(frame["amount"].isna().mean())
    assert amount["distinct"] == frame["amount"].nunique()
    numeric = amount["numeric"]
    assert numeric["mean"] == pytest.approx(frame["amount"].mean(), rel=1e-12)
    assert numeric["std"] == pytest.approx(frame["amount"].std(), rel=1e-9)
    assert numeric["min"] == frame["amount"].min() and numeric["max"] == frame["amount"].max()
    expected = frame["amount"].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).tolist()
    assert list(numeric["quantiles"].values()) == pytest.approx(expected)
    assert numeric["quantiles_exact"] and sum(numeric["histogram"]["counts"]) == amount["count"]
    counts, _ = np.histogram(frame["amount"].dropna(), bins=options["histogram_bins"])
    assert abs(np.array(numeric["histogram"]["counts"]) - counts).sum() <= 2  # edge rounding only

    units = _col(profile, "units")["numeric"]
    assert units["zeros"] == (frame["units"] == 0).sum() and units["negatives"] == (frame["units"] < 0).sum()

    constant = _col(profile, "constant")
    assert constant["distinct"] == 1 and constant["numeric"]["std"] == 0.0
    assert constant["numeric"]["histogram"]["counts"] == [len(frame)]

    all_null = _col(profile, "all_null")
    assert all_null["missing"] == len(frame) and all_null["count"] == 0 and all_null["missing_share"] == 1.0
    assert all_null["numeric"]["mean"] is None and all_null["numeric"]["histogram"]["counts"] == []

    city = _col(profile, "city")
    assert city["kind"] == "text" and city["distinct"] == frame["city"].nunique()
    top = frame["city"].value_counts()
    assert [(t["value"], t["count"]) for t in city["text"]["top_values"]] == sorted(
        top.items(), key=lambda item: (-item[1], item[0]))
    lengths = frame["city"].dropna().str.len()
    assert city["text"]["length"]["mean"] == pytest.approx(lengths.mean())
    assert city["text"]["length"]["max"] == lengths.max() == 8 and city["text"]["empty"] == (frame["city"] == "").sum()

    flag = _col(profile, "flag")["boolean"]
    assert flag == {"true": int(frame["flag"].sum()), "false": int((~frame["flag"]).sum())}

    at = _col(profile, "at")
    assert at["kind"] == "datetime" and at["temporal"]["timezone"] == "Europe/Madrid"
    assert at["temporal"]["min"] == frame["at"].min().tz_convert("UTC").isoformat()
    assert at["temporal"]["max"] == frame["at"].max().tz_convert("UTC").isoformat()
    assert sum(at["temporal"]["histogram"]["counts"]) == len(frame)
    assert _col(profile, "naive_at")["temporal"]["min"] == "2020-01-01T00:00:00"

    numeric_cols = profile["correlations"]["columns"]
    expected_pearson = frame[numeric_cols].astype(float).corr().to_numpy()
    got = np.array(profile["correlations"]["pearson"], dtype=float)
    assert np.allclose(got, expected_pearson, equal_nan=True, atol=1e-9)
    expected_spearman = frame[numeric_cols].astype(float).corr(method="spearman").to_numpy()
    assert np.allclose(np.array(profile["correlations"]["spearman"], dtype=float), expected_spearman,
                       equal_nan=True, atol=1e-9)


def test_empty_table(tmp_path, options):
    frame = _table().iloc[:0]
    profile = profile_parquet(_write(frame, tmp_path / "empty.parquet"), options)
    assert profile["table_stats"]["rows"] == 0 and profile["table_stats"]["duplicate_rows"] == 0
    assert all(c["count"] == 0 and c["missing_share"] == 0.0 for c in profile["columns"])


def test_mixed_types_and_hive_partitions(tmp_path, options):
    frame = pd.DataFrame({
        "mixed": ["1", "two", "3.0", None],  # mixed values stored as text
        "decimal": pa.array([1, 2, 3, None], pa.decimal128(10, 2)).to_pandas(),
        "day": pd.to_datetime(["2024-01-01", "2024-01-02", None, "2024-01-04"]).date,
        "items": [[1, 2], [], None, [3]],
        "part": ["a", "a", "b", "b"],
    })
    pq.write_to_dataset(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "ds", partition_cols=["part"])
    profile = profile_parquet(str(tmp_path / "ds"), options)
    kinds = {c["name"]: c["kind"] for c in profile["columns"]}
    assert kinds == {"mixed": "text", "decimal": "numeric", "day": "date", "items": "other", "part": "text"}
    assert _col(profile, "decimal")["numeric"]["mean"] == pytest.approx(2.0)
    assert _col(profile, "day")["temporal"]["max"] == "2024-01-04"
    assert _col(profile, "items")["missing"] == 1 and _col(profile, "part")["distinct"] == 2


def test_budgets_exceeded_are_reported_approximate(tmp_path, options):
    n = 20000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=n), "id": [f"id{i}" for i in range(n)]})
    frame = pd.concat([frame, frame.iloc[:100]], ignore_index=True)
    options.update(sample_rows=2000, distinct_exact_limit=1000, row_hash_limit=5000, top_values_capacity=50,
                   batch_rows=3000)
    profile = profile_parquet(_write(frame, tmp_path / "big.parquet", 4000), options)
    x, ident = _col(profile, "x"), _col(profile, "id")
    assert not x["numeric"]["quantiles_exact"] and not x["distinct_exact"]
    assert x["distinct"] == pytest.approx(n, rel=0.1)
    assert x["numeric"]["quantiles"]["p50"] == pytest.approx(frame["x"].median(), abs=0.1)
    assert x["numeric"]["mean"] == pytest.approx(frame["x"].mean())  # still exact
    assert not ident["text"]["top_values_exact"]
    assert not profile["table_stats"]["duplicate_rows_exact"]
    assert profile["table_stats"]["duplicate_rows"] == pytest.approx(100, abs=0.1 * n)
    figures = " ".join(a["figure"] for a in profile["approximations"])
    assert "quantiles" in figures and "x.distinct" in figures and "id.top_values" in figures
