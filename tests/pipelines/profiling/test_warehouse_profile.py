"""A warehouse table profiled in SQL equals the same table profiled from parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cripto_platform.profiling import profile_parquet
from cripto_platform.profiling.sources import WarehouseSource
from cripto_platform.profiling.sql import profile_table
from cripto_platform.warehouse import copy_dataframe, create_table_for, transaction

pytestmark = pytest.mark.integration


def _frame(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "amount": rng.normal(50, 10, n).round(3),
        "units": rng.integers(-2, 5, n),
        "constant": np.zeros(n),
        "label": pd.array(rng.choice(["α", "b", "ç", "dd"], n), dtype="str"),
        "ok": rng.random(n) > 0.5,
        "at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
    })
    frame.loc[frame.index % 11 == 0, "amount"] = np.nan
    frame.loc[frame.index % 17 == 0, "label"] = None
    return pd.concat([frame, frame.iloc[:12]], ignore_index=True)


def _comparable(column: dict) -> dict:
    column = {k: v for k, v in column.items() if k != "physical_type"}
    return column


def test_sql_profile_equals_parquet_profile(tmp_path, warehouse_url, options):
    frame = _frame()
    with transaction(warehouse_url) as cursor:
        cursor.execute("DROP TABLE IF EXISTS profile_twin")
        create_table_for(cursor, "profile_twin", frame)
        copy_dataframe(cursor, "profile_twin", frame)
    path = tmp_path / "twin.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=300)
    options["batch_rows"] = 256

    lake = profile_parquet(str(path), options)
    sql = profile_table(WarehouseSource(name="profile_twin", table="profile_twin", url=warehouse_url), options)

    for key in ("rows", "columns", "duplicate_rows", "duplicate_rows_exact"):
        assert sql["table_stats"][key] == lake["table_stats"][key], key
    assert sql["table_stats"]["duplicate_rows"] == frame.duplicated().sum() == 12
    for a, b in zip(lake["columns"], sql["columns"], strict=True):
        a, b = _comparable(a), _comparable(b)
        if a["numeric"]:
            na, nb = a.pop("numeric"), b.pop("numeric")
            for key in ("min", "max", "mean", "std", "zeros", "negatives"):
                assert nb[key] == pytest.approx(na[key], rel=1e-9, abs=1e-12), (a["name"], key)
            assert list(nb["quantiles"].values()) == pytest.approx(list(na["quantiles"].values()), rel=1e-12)
            assert nb["histogram"]["counts"] == na["histogram"]["counts"], a["name"]
        if a["text"]:
            ta, tb = a.pop("text"), b.pop("text")
            assert tb["top_values"] == ta["top_values"] and tb["empty"] == ta["empty"]
            for key in ("min", "max", "mean", "std"):
                assert tb["length"][key] == pytest.approx(ta["length"][key])
        assert b == a, a["name"]
    assert sql["correlations"]["columns"] == lake["correlations"]["columns"]
    for method in ("pearson", "spearman"):
        assert np.allclose(np.array(sql["correlations"][method], dtype=float),
                           np.array(lake["correlations"][method], dtype=float), equal_nan=True, atol=1e-9)


def test_rules_read_the_table_in_chunks(warehouse_url, options):
    from cripto_platform.quality.results import merge_rule_results

    frame = _frame(700)
    with transaction(warehouse_url) as cursor:
        cursor.execute("DROP TABLE IF EXISTS profile_rules")
        create_table_for(cursor, "profile_rules", frame)
        copy_dataframe(cursor, "profile_rules", frame)
    chunks = []

    def rules(chunk: pd.DataFrame) -> list[dict]:
        chunks.append(len(chunk))
        bad = chunk["amount"].isna()
        return [{"rule": "amount_present", "column": "amount", "severity": "warn", "passed": not bad.any(),
                 "failed_rows": int(bad.sum()), "examples": []}]

    options["batch_rows"] = 100
    profile = profile_table(WarehouseSource(name="profile_rules", table="profile_rules", url=warehouse_url),
                            options, rules, merge_rule_results)
    assert max(chunks) <= 100 and sum(chunks) == len(frame)
    (result,) = profile["rules"]
    assert result["failed_rows"] == frame["amount"].isna().sum() and not result["passed"]
