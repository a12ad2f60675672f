"""Quality rules: every rule's result (rule_results), batch merges, the catalog validator and its message."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError
from kedro.validation.exceptions import DataValidationError

from cripto_platform.quality import (
    RULED_DATASETS,
    RULES,
    QualityRuleError,
    QualityValidator,
    merge_rule_results,
    rule_results,
)
from cripto_platform.quality.validator import SKIP_ENV
from tests.conftest import PROJECT_ROOT

UTC = pd.Timestamp("2026-03-01", tz="UTC")
RESULT_KEYS = {"rule", "column", "severity", "passed", "failed_rows", "examples"}


def payments_batch(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({
        "payment_id": np.arange(1, n + 1, dtype="int64"),
        "company_code": ["C0001"] * n,
        "external_client_id": pd.array(["CL000001"] * n, dtype="string"),
        "status": pd.array(["approved", "pending"] * (n // 2), dtype="string"),
        "amount": np.linspace(5, 999.99, n).round(2),
        "payment_at": UTC, "created_at": UTC, "updated_at": UTC,
    })


def crypto_features() -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=4)
    return pd.DataFrame({
        "symbol": ["BTCUSDT"] * 4, "date": dates, "feature_version": "20240105",
        "close": [100.0, 101.0, 99.0, 102.0], "volume": [10.0, 12.0, 9.0, 11.0],
        "return_1d": [np.nan, 0.01, -0.0198, 0.0303], "volatility_7d": [np.nan, np.nan, 0.01, 0.02],
        "target_next_return_1d": [0.01, -0.0198, 0.0303, np.nan],
    })


def by_rule(results: list[dict]) -> dict[str, dict]:
    return {result["rule"]: result for result in results}


def loader(env: str = "base") -> OmegaConfigLoader:
    return OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env)


def catalog_config(env: str = "base") -> dict:
    return loader(env)["catalog"]


def project_catalog(env: str = "base") -> DataCatalog:
    config = loader(env)
    return DataCatalog.from_config(config["catalog"], config["credentials"])


# ---------------------------------------------------------------- registry and catalog


def test_every_ruled_dataset_is_validated_on_save_by_its_catalog_entry_in_both_environments():
    assert set(RULED_DATASETS) == {"payments_batch", "companies_l0", "crypto_daily_features", "sales_facts",
                                   "reservation_clusters", "client_recommendations"}
    for env in ("base", "cloud"):
        # by dataset: a transcoded entry (reservation_clusters@table) validates the dataset's rows
        specs = {name.split("@")[0]: spec for name, spec in project_catalog(env).validator_specs.items()}
        assert set(specs) == set(RULED_DATASETS), env
        for name, spec in specs.items():
            assert spec.class_path == "cripto_platform.quality.QualityValidator"
            assert spec.on == ("save",) and spec.options == {"dataset": name}
            blocking = any(rule.severity == "error" for rule in RULES[name].rules)
            assert spec.severity == ("error" if blocking else "warn"), name


def test_kedro_resolves_the_declared_validator_with_its_options():
    from kedro.validation.core import resolve_validator

    spec = project_catalog().validator_specs["payments_batch"]
    validator = resolve_validator(spec)
    assert isinstance(validator, QualityValidator) and "payments_batch" in repr(validator)


def test_validator_options_name_known_datasets_and_rules():
    with pytest.raises(KeyError, match="no quality rules for dataset 'nope'"):
        QualityValidator("nope")
    with pytest.raises(ValueError, match="unknown rules"):
        QualityValidator("payments_batch", skip=["no_such_rule"])


# ---------------------------------------------------------------- rule_results


def test_a_clean_batch_passes_every_rule_and_every_rule_is_reported():
    results = rule_results("payments_batch", payments_batch())
    assert [r["rule"] for r in results] == [rule.name for rule in RULES["payments_batch"].rules]
    assert all(set(r) == RESULT_KEYS for r in results)
    assert all(r["passed"] and r["failed_rows"] == 0 and r["examples"] == [] for r in results)


def test_every_failing_rule_is_reported_with_its_count_and_examples():
    batch = payments_batch(8)
    batch.loc[1, "payment_id"] = -5
    batch.loc[[2, 3], "payment_id"] = 3  # one key twice
    batch.loc[4, "amount"] = 2e12
    batch.loc[5, "status"] = "disputed"
    batch.loc[6, "company_code"] = None
    results = by_rule(rule_results("payments_batch", batch))
    failed = {name for name, result in results.items() if not result["passed"]}
    assert failed == {"payment_id_positive", "payment_key_unique", "amount_fits_numeric_14_2", "status_known",
                      "company_code_not_null"}
    assert results["payment_id_positive"] == {"rule": "payment_id_positive", "column": "payment_id",
                                              "severity": "error", "passed": False, "failed_rows": 1,
                                              "examples": [-5]}
    assert results["payment_key_unique"]["failed_rows"] == 2
    assert results["payment_key_unique"]["examples"] == [{"payment_id": 3, "company_code": "C0001"}]
    assert results["payment_key_unique"]["column"] == "payment_id, company_code"
    assert results["amount_fits_numeric_14_2"]["examples"] == [2e12]
    assert results["status_known"]["severity"] == "warn" and results["status_known"]["examples"] == ["disputed"]
    assert results["company_code_not_null"]["examples"] == [{"row": 6}]
    json.dumps(list(results.values()), allow_nan=False)  # JSON-safe


def test_examples_are_capped_distinct_and_json_safe():
    batch = payments_batch(20)
    batch["payment_id"] = -np.arange(1, 21)
    batch["updated_at"] = pd.NaT
    results = by_rule(rule_results("payments_batch", batch))
    assert results["payment_id_positive"]["failed_rows"] == 20
    assert results["payment_id_positive"]["examples"] == [-1, -2, -3, -4, -5]
    assert results["updated_at_not_null"]["failed_rows"] == 20
    json.dumps(list(results.values()), allow_nan=False)


def test_table_level_rules_row_count_and_missing_columns():
    empty = rule_results("crypto_daily_features", crypto_features().iloc[:0])
    row_count = by_rule(empty)["row_count"]
    assert (row_count["passed"], row_count["failed_rows"], row_count["examples"]) == (False, 1, [{"rows": 0}])
    results = by_rule(rule_results("crypto_daily_features", crypto_features().drop(columns=["volume"])))
    assert results["columns_present"]["examples"] == ["volume"] and not results["columns_present"]["passed"]
    assert results["volume_not_negative"] == {"rule": "volume_not_negative", "column": "volume", "severity": "error",
                                              "passed": False, "failed_rows": 4,
                                              "examples": ["column 'volume' is missing"]}
    assert results["close_positive"]["passed"]


def test_pattern_columns_and_nulls_ignored_by_value_rules():
    features = crypto_features().assign(volatility_30d=[np.nan, -0.1, -0.2, 0.3])
    results = by_rule(rule_results("crypto_daily_features", features))
    assert results["volatility_not_negative"]["failed_rows"] == 2
    assert results["return_above_minus_one"]["passed"]  # the first return is NaN: not a value to check


def test_unknown_dataset_names_the_ruled_ones():
    with pytest.raises(KeyError, match="ruled datasets"):
        rule_results("nope", payments_batch())


def test_rule_results_does_not_modify_the_data():
    batch = payments_batch().set_index(pd.Index([10, 11, 12, 13, 14, 15]))
    before = batch.copy()
    rule_results("payments_batch", batch)
    pd.testing.assert_frame_equal(batch, before)


# ---------------------------------------------------------------- merge_rule_results


def test_merge_adds_counts_ands_passed_and_caps_examples():
    first, second = payments_batch(), payments_batch()
    first["payment_id"] = [-1, -2, -3, 4, 5, 6]
    second["payment_id"] = [-3, -4, -5, -6, 7, 8]
    a, b = rule_results("payments_batch", first), rule_results("payments_batch", second)
    merged = by_rule(merge_rule_results(a, b))
    assert merged["payment_id_positive"]["failed_rows"] == 7
    assert merged["payment_id_positive"]["examples"] == [-1, -2, -3, -4, -5]
    assert not merged["payment_id_positive"]["passed"]
    assert merged["status_known"]["passed"] and merged["status_known"]["failed_rows"] == 0
    assert merge_rule_results([], a) == a
    assert [r["rule"] for r in merge_rule_results(a, b)] == [r["rule"] for r in a]
    assert a[5]["failed_rows"] == 3  # inputs untouched


def test_batches_folded_together_count_what_one_frame_counts():
    batch = payments_batch(10)
    batch.loc[[1, 7], "status"] = "disputed"
    whole = by_rule(rule_results("payments_batch", batch))
    folded: list[dict] = []
    for start in range(0, 10, 3):
        folded = merge_rule_results(folded, rule_results("payments_batch", batch.iloc[start:start + 3]))
    assert by_rule(folded)["status_known"] == whole["status_known"]


# ---------------------------------------------------------------- the validator through Kedro's catalog


def memory_catalog(name: str, severity: str | None = None) -> DataCatalog:
    validator = dict(catalog_config()[name]["validator"])
    if severity:
        validator["severity"] = severity
    return DataCatalog.from_config({name: {"type": "MemoryDataset", "validator": validator}})


def test_a_blocking_failure_stops_the_save_with_one_paragraph_naming_dataset_column_rule_and_count():
    catalog = memory_catalog("payments_batch")
    batch = payments_batch()
    batch.loc[2, "payment_id"] = -7
    with pytest.raises(QualityRuleError) as raised:
        catalog.save("payments_batch", batch)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("dataset 'payments_batch' broke 1 blocking quality rule(s) on save, so it was not written")
    assert "payment_id_positive on column 'payment_id' (payment_id > 0) failed for 1 of 6 rows, e.g. -7" in message
    assert f"{SKIP_ENV}=payments_batch.payment_id_positive" in message
    assert isinstance(raised.value, DataValidationError) and raised.value.failures[0].failure_count == 1
    with pytest.raises(DatasetError, match="has not been saved yet"):  # nothing saved
        catalog.load("payments_batch")


def test_a_warn_rule_logs_and_the_data_is_saved(caplog):
    catalog = memory_catalog("payments_batch")
    batch = payments_batch()
    batch.loc[0, "status"] = "disputed"
    with caplog.at_level(logging.WARNING, logger="cripto_platform.quality"):
        catalog.save("payments_batch", batch)
    assert catalog.load("payments_batch")["status"].iloc[0] == "disputed"
    assert "dataset 'payments_batch' broke 1 non-blocking quality rule(s), written anyway: status_known on column " \
           "'status'" in caplog.text
    assert "1 of 6 rows, e.g. 'disputed'" in caplog.text


def test_a_non_blocking_dataset_logs_even_its_error_rules(caplog):
    catalog = memory_catalog("sales_facts", severity="warn")
    sales = pd.DataFrame({"id_venta": [1, 1], "fecha": ["2024-01-01"] * 2, "id_punto_venta": ["PV1"] * 2,
                          "id_producto": ["P1"] * 2, "unidades": [1, 2], "monto": [1.0, 2.0],
                          "archivo_origen": ["x"] * 2, "anio": [2024, 2024]})
    with caplog.at_level(logging.WARNING):
        catalog.save("sales_facts", {"20240101": sales})
    assert "id_venta_unique" in caplog.text and "2 of 2 rows" in caplog.text
    assert list(catalog.load("sales_facts")) == ["20240101"]


def test_the_gold_features_entry_refuses_a_bad_version_and_writes_a_good_one(tmp_path):
    config = catalog_config()["crypto_daily_features"]
    config = {**config, "path": str(tmp_path / "crypto")}
    catalog = DataCatalog.from_config({"crypto_daily_features": config})
    bad = crypto_features()
    bad.loc[3, "close"] = -1.0
    with pytest.raises(QualityRuleError, match=r"close_positive on column 'close' \(close > 0\) failed for 1 of 4 rows"):
        catalog.save("crypto_daily_features", {"20240105": bad})
    assert not (tmp_path / "crypto").exists()
    catalog.save("crypto_daily_features", {"20240105": crypto_features()})
    assert len(catalog.load("crypto_daily_features").to_pandas()) == 4


def test_a_rule_can_be_skipped_for_one_run_and_validation_turned_off(monkeypatch, caplog):
    batch = payments_batch()
    batch.loc[2, "payment_id"] = -7
    monkeypatch.setenv(SKIP_ENV, "sales_facts.row_count, payments_batch.payment_id_positive")
    with caplog.at_level(logging.WARNING):
        memory_catalog("payments_batch").save("payments_batch", batch)
    assert "quality rule(s) ['payment_id_positive'] of dataset 'payments_batch' skipped for this run" in caplog.text
    monkeypatch.setenv(SKIP_ENV, "payments_batch.*")
    memory_catalog("payments_batch").save("payments_batch", batch)
    monkeypatch.delenv(SKIP_ENV)
    monkeypatch.setenv("KEDRO_DATASET_VALIDATION", "0")  # Kedro's switch: no validator runs
    memory_catalog("payments_batch").save("payments_batch", batch)
    monkeypatch.delenv("KEDRO_DATASET_VALIDATION")
    with pytest.raises(QualityRuleError):
        memory_catalog("payments_batch").save("payments_batch", batch)
