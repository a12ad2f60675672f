"""Every step of an ingestion run uses the version that run writes, also when a newer version is on disk."""

from pathlib import Path

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from cripto_platform.datasets.lake import LakeTableDataset, RawVersionsDataset
from cripto_platform.pipelines.ingestion import create_pipeline
from tests.conftest import without_check

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[3] / "conf/base/parameters_ingestion.yml").read_text())["ingestion"]
SALES_TABLES = {
    "sales_zones": ("zone_catalog", []),
    "sales_products": ("product_catalog", []),
    "sales_points_of_sale": ("point_of_sale_catalog", ["id_zona"]),
    "sales_facts": ("sales_fact", ["anio"]),
}


def _lake_catalog(root: Path, version: str, params: dict) -> DataCatalog:
    datasets = {
        name: LakeTableDataset(path=str(root / "03_primary/sales"), table=table, partition_cols=cols)
        for name, (table, cols) in SALES_TABLES.items()
    }
    datasets.update(
        sales_source=MemoryDataset({}),  # no source folder: the generator writes the files
        sales_raw=RawVersionsDataset(path=str(root / "01_raw/sales"), dataset="cripto_platform.datasets.BytesDataset"),
        sales_monthly_features=LakeTableDataset(path=str(root / "04_feature/sales"), table="monthly_features", partition_cols=["anio"]),
        crypto_klines_bronze=MemoryDataset(),
        crypto_candles_silver=LakeTableDataset(path=str(root / "02_intermediate/crypto"), table="candles", partition_cols=["symbol", "month"]),
        crypto_candles_silver_previous=LakeTableDataset(
            path=str(root / "02_intermediate/crypto"), table="candles", partition_cols=["symbol", "month"], all_versions=True
        ),
        crypto_daily_features=LakeTableDataset(path=str(root / "04_feature/crypto"), table="daily_features", partition_cols=["symbol"]),
        sales_warehouse=MemoryDataset(),
        crypto_gaps_report=MemoryDataset(),
        sales_quarantine=MemoryDataset(),
        ingestion_version=MemoryDataset(version),
        **{f"params:ingestion.{key}": MemoryDataset(value) for key, value in params.items()},
        **{f"params:ingestion.crypto.{key}": MemoryDataset(value) for key, value in params["crypto"].items()},
    )
    return DataCatalog(datasets=datasets)


def _run(root: Path, version: str, params: dict, first_input: str) -> DataCatalog:
    catalog = _lake_catalog(root, version, params)
    pipeline = create_pipeline().from_inputs(first_input)
    # one source's nodes, not the two last nodes that read every source's lake tables
    SequentialRunner().run(without_check(pipeline, "record_lake_tables"), catalog)
    return catalog


def _sales_params(months: int, seed: int) -> dict:
    sales = {**PARAMS["sales"], "sample": {**PARAMS["sales"]["sample"], "n_sales_per_month": 40, "months": months, "seed": seed,
                                         "n_points_of_sale": 6, "malformed_rows": 0, "unknown_product_rows": 0}}
    return {**PARAMS, "sales": sales}


def test_an_explicit_older_sales_version_builds_warehouse_and_features_from_itself(tmp_path):
    _run(tmp_path, "20250301", _sales_params(months=5, seed=7), "params:ingestion.sales")  # the newest on disk
    catalog = _run(tmp_path, "20240301", _sales_params(months=2, seed=1), "params:ingestion.sales")

    facts = LakeTableDataset(path=str(tmp_path / "03_primary/sales"), table="sales_fact", load_version="20240301").load()
    assert len(facts) == 2 * 40
    warehouse = catalog.load("sales_warehouse")
    assert len(warehouse["sales_fact"]) == len(facts)
    assert warehouse["sales_fact"]["unidades"].sum() == facts["unidades"].sum()
    features = LakeTableDataset(path=str(tmp_path / "04_feature/sales"), table="monthly_features", load_version="20240301").load()
    assert features["unidades"].sum() == facts["unidades"].sum()
    assert sorted(features["mes"].astype(str).unique()) == ["2024-01-01", "2024-02-01"]


def _crypto_params(until: str) -> dict:
    crypto = {
        **PARAMS["crypto"],
        "end_date": None,
        "exchange": {**PARAMS["crypto"]["exchange"], "generated": {"listed_from": "2024-01-01", "until": until, "seed": 4, "missing_fraction": 0.0}},
        "features": {**PARAMS["crypto"]["features"], "volatility_windows": [7], "moving_average_windows": [7], "volume_zscore_window": 7},
    }
    return {**PARAMS, "crypto": crypto}


def test_an_explicit_older_crypto_version_builds_silver_and_gold_from_itself(tmp_path):
    _run(tmp_path, "20240601", _crypto_params("2024-06-01"), "crypto_candles_silver_previous")  # the newest on disk
    _run(tmp_path, "20240301", _crypto_params("2024-06-01"), "crypto_candles_silver_previous")

    silver = LakeTableDataset(path=str(tmp_path / "02_intermediate/crypto"), table="candles", load_version="20240301").load()
    assert pd.to_datetime(silver["date"]).max() == pd.Timestamp("2024-02-29")  # nothing from the newer version
    gold = LakeTableDataset(path=str(tmp_path / "04_feature/crypto"), table="daily_features", load_version="20240301").load()
    assert len(gold) == len(silver) == 3 * 60
    assert pd.to_datetime(gold["date"]).max() == pd.Timestamp("2024-02-29")


def test_silver_previous_is_silver_s_own_entry_read_only():
    """crypto_candles_silver_previous repeats nothing of silver's entry (a YAML anchor) and no node saves it."""
    from kedro.config import OmegaConfigLoader

    catalog = OmegaConfigLoader(str(Path(__file__).resolve().parents[3] / "conf"), base_env="base",
                                default_run_env="base")["catalog"]
    silver, previous = catalog["crypto_candles_silver"], catalog["crypto_candles_silver_previous"]
    assert {k: v for k, v in previous.items() if k not in ("all_versions", "metadata")} == \
        {k: v for k, v in silver.items() if k != "metadata"}
    assert previous["all_versions"] is True
    pipeline = create_pipeline()
    assert "crypto_candles_silver_previous" in pipeline.inputs()
    assert "crypto_candles_silver_previous" not in pipeline.all_outputs()
