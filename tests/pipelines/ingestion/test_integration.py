"""The ingestion pipeline through a KedroSession: local lake + embedded PostgreSQL, then S3 (moto)."""

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from cripto_platform.screenshots import SMALL as SMALL_RUNS
from cripto_platform.sources.exchange import GeneratedExchange, start_server, to_ms
from tests.conftest import run_kedro, use_bucket

pytestmark = pytest.mark.integration

# The screenshots' small ingestion run, plus planted bad lines and windows that fit its two months of candles.
SMALL = {
    **SMALL_RUNS["ingestion"],
    "ingestion.kaggle.datasets.credit_risk.sample.malformed_rows": 3,
    "ingestion.crypto.features.volatility_windows": [7],
    "ingestion.crypto.features.moving_average_windows": [7],
    "ingestion.crypto.features.volume_zscore_window": 7,
}


def _keys(engine, table):
    query = sa.text(
        """
        select tc.constraint_type, kcu.column_name, ccu.table_name as references_table
        from information_schema.table_constraints tc
        join information_schema.key_column_usage kcu on tc.constraint_name = kcu.constraint_name
        join information_schema.constraint_column_usage ccu on tc.constraint_name = ccu.constraint_name
        where tc.table_name = :table and tc.constraint_type in ('PRIMARY KEY', 'FOREIGN KEY')
        """
    )
    with engine.connect() as connection:
        return {tuple(row) for row in connection.execute(query, {"table": table})}


def test_base_run_lands_raw_processed_warehouse_and_features(kedro_project, warehouse_engine):
    run_kedro(kedro_project, "ingestion", {**SMALL, "ingestion.version": "20240301"})
    data = kedro_project / "data"

    # raw zone: files exactly as received, under {source}/{version}/
    raw_csv = (data / "01_raw/kaggle/credit_risk/20240301/credit_risk_dataset.csv").read_bytes()
    manifest = json.loads((data / "01_raw/kaggle/credit_risk/20240301/_manifest.json").read_text())
    assert manifest["files"]["credit_risk_dataset.csv"]["bytes"] == len(raw_csv)
    assert sorted(p.name for p in (data / "01_raw/kaggle/citesum/20240301").iterdir()) == [
        "_manifest.json", "test.json", "train.json", "validation.json"]
    assert len(list((data / "01_raw/sales/20240301/ventas").glob("ventas_2024*.csv"))) == 4

    # processed zone: typed, partitioned, compressed parquet under {source}/{version}/{table}
    loans_dir = data / "03_primary/kaggle/credit_risk/20240301/loans"
    assert {p.name.split("=")[0] for p in loans_dir.iterdir()} == {"loan_intent"}
    loans = pd.read_parquet(loans_dir)
    assert len(loans) == 400 - 3 and loans["loan_amnt"].dtype == "int64"
    import pyarrow.parquet as pq

    first_file = next(loans_dir.rglob("*.parquet"))
    assert pq.ParquetFile(first_file).metadata.row_group(0).column(0).compression == "ZSTD"
    quarantine = pd.read_parquet(next((data / "02_intermediate/quarantine/credit_risk.parquet").rglob("*.parquet")))
    assert len(quarantine) == 3 and quarantine["line_number"].min() >= 2
    motor = data / "03_primary/kaggle/motor_temperature/20240301/measurements"
    assert len(list(motor.glob("profile_id=*"))) == 3
    for table in ("papers", "summaries", "paper_categories"):
        assert (data / f"03_primary/kaggle/citesum/20240301/{table}").is_dir()

    # crypto medallion
    bronze = sorted((data / "01_raw/crypto/20240301/klines").rglob("*.json"))
    assert {p.parent.name for p in bronze} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert isinstance(json.loads(bronze[0].read_text()), list)  # the response body as received
    silver_dir = data / "02_intermediate/crypto/20240301/candles"
    assert (silver_dir / "symbol=BTCUSDT" / "month=2024-02").is_dir()
    silver = pd.read_parquet(silver_dir)
    assert not silver.duplicated(["symbol", "open_time"]).any()
    assert pd.to_datetime(silver["date"]).max() == pd.Timestamp("2024-02-29")
    gold = pd.read_parquet(data / "04_feature/crypto/20240301/daily_features")
    assert {"return_1d", "log_return_1d", "volatility_7d", "ma_7d", "volume_zscore_7d", "target_next_return_1d"} <= set(gold.columns)
    assert len(gold) == len(silver)
    gaps = pd.read_csv(next((data / "08_reporting/crypto_gaps.csv").rglob("*.csv")))
    assert list(gaps.columns) == ["symbol", "gap_start", "gap_end", "missing_candles"]

    # sales: warehouse tables with their keys, feature table as parquet
    assert ("PRIMARY KEY", "id_venta", "sales_fact") in _keys(warehouse_engine, "sales_fact")
    assert {("FOREIGN KEY", "id_producto", "product_catalog"), ("FOREIGN KEY", "id_punto_venta", "point_of_sale_catalog")} <= _keys(warehouse_engine, "sales_fact")
    assert ("FOREIGN KEY", "id_zona", "zone_catalog") in _keys(warehouse_engine, "point_of_sale_catalog")
    with warehouse_engine.connect() as connection:
        facts = connection.execute(sa.text("select count(*) from sales_fact")).scalar()
        products = connection.execute(sa.text("select count(*) from product_catalog")).scalar()
    sales_quarantine = pd.read_parquet(next((data / "02_intermediate/quarantine/sales.parquet").rglob("*.parquet")))
    assert facts + len(sales_quarantine) == 4 * 150  # every sale loaded or quarantined
    assert sales_quarantine["reason"].str.contains("unknown id_producto").sum() == 4
    assert products == 12
    features = pd.read_parquet(data / "04_feature/sales/20240301/monthly_features")
    assert {"id_producto", "id_punto_venta", "mes", "unidades", "unidades_mes_siguiente"} <= set(features.columns)
    assert features["unidades"].sum() == pd.read_parquet(data / "03_primary/sales/20240301/sales_fact")["unidades"].sum()


def test_batch_second_run_fetches_only_new_candles_from_the_exchange_server(kedro_project):
    server = start_server(GeneratedExchange(listed_from="2024-01-01", until="2024-03-01", missing_fraction=0.0))
    try:
        params = {**SMALL, "ingestion.crypto.exchange.base_url": server.url, "ingestion.crypto.exchange.limit": 25}
        run_kedro(kedro_project, "ingestion", {**params, "ingestion.version": "20240301"})
        first_requests = len(server.requests)
        assert first_requests == 3 * 3  # 60 days in pages of 25, per symbol

        server.exchange.until = "2024-03-06"  # five more days close on the exchange
        run_kedro(kedro_project, "ingestion", {**params, "ingestion.version": "20240306"})
        second = server.requests[first_requests:]
        assert len(second) == 3
        assert {int(q["startTime"]) for q in second} == {to_ms("2024-03-01")}
    finally:
        server.shutdown()
        server.server_close()
    data = kedro_project / "data"
    new_bronze = list((data / "01_raw/crypto/20240306/klines").rglob("*.json"))
    assert sum(len(json.loads(p.read_text())) for p in new_bronze) == 3 * 5
    latest = pd.read_parquet(data / "02_intermediate/crypto/20240306/candles")
    earlier = pd.read_parquet(data / "02_intermediate/crypto/20240301/candles")
    assert len(latest) == 3 * 65 and len(earlier) == 3 * 60  # the earlier version stays readable
    assert pd.to_datetime(latest["date"]).max() == pd.Timestamp("2024-03-05")


def test_failed_download_leaves_the_previous_version_untouched(kedro_project, monkeypatch):
    run_kedro(kedro_project, "ingestion", {**SMALL, "ingestion.version": "20240301"})
    loans = kedro_project / "data/03_primary/kaggle/credit_risk"
    before = {p: p.stat().st_mtime_ns for p in loans.rglob("*.parquet")}

    from cripto_platform.pipelines.ingestion import kaggle_nodes
    from cripto_platform.sources.kaggle import KaggleConnector

    class PartialApi:
        def dataset_download_files(self, dataset, path=None, **kwargs):
            (__import__("pathlib").Path(path) / "credit_risk_dataset.csv").write_bytes(b"")  # truncated

    monkeypatch.setattr(kaggle_nodes, "make_connector", lambda: KaggleConnector(PartialApi()))
    with pytest.raises(Exception, match="incomplete"):
        run_kedro(kedro_project, "ingestion", {**SMALL, "ingestion.version": "20240302", "ingestion.kaggle.source": "kaggle"})
    assert sorted(p.name for p in loans.iterdir()) == ["20240301"]
    assert {p: p.stat().st_mtime_ns for p in loans.rglob("*.parquet")} == before
    assert not (kedro_project / "data/01_raw/kaggle/credit_risk/20240302").exists()


def test_cloud_run_writes_to_the_s3_bucket(kedro_project, s3_bucket, s3_endpoint):
    import boto3

    use_bucket(kedro_project, s3_bucket)
    run_kedro(kedro_project, "ingestion", {**SMALL, "ingestion.version": "20240301"}, env="cloud")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket) for obj in page.get("Contents", [])]
    for prefix in (
        "01_raw/kaggle/credit_risk/20240301/credit_risk_dataset.csv",
        "01_raw/crypto/20240301/klines/BTCUSDT/",
        "01_raw/sales/20240301/ventas/ventas_202401.csv",
        "03_primary/kaggle/credit_risk/20240301/loans/loan_intent=",
        "03_primary/kaggle/citesum/20240301/papers/split=train/",
        "02_intermediate/crypto/20240301/candles/symbol=ETHUSDT/month=2024-02/",
        "04_feature/crypto/20240301/daily_features/symbol=SOLUSDT/",
        "04_feature/sales/20240301/monthly_features/anio=2024/",
        "02_intermediate/quarantine/credit_risk.parquet/",
        "08_reporting/crypto_gaps.csv/",
    ):
        assert any(key.startswith(prefix) for key in keys), f"nothing under s3://{s3_bucket}/{prefix}"
    assert not (kedro_project / "data/03_primary").exists()  # nothing written locally


def test_cloud_run_fails_first_when_the_bucket_is_missing(kedro_project, s3_endpoint):
    use_bucket(kedro_project, "no-such-bucket-here")
    with pytest.raises(Exception, match="lake root 's3://no-such-bucket-here' does not exist"):
        run_kedro(kedro_project, "ingestion", SMALL, env="cloud")


def test_historical_mode_backfills_a_range_into_silver(kedro_project):
    params = {**SMALL, "ingestion.crypto.start_date": "2024-02-01"}
    run_kedro(kedro_project, "ingestion", {**params, "ingestion.version": "20240301"})
    backfill = {
        **params,
        "ingestion.version": "20240302",
        "ingestion.crypto.mode": "historical",
        "ingestion.crypto.historical.start_date": "2024-01-01",
        "ingestion.crypto.historical.end_date": "2024-01-31",
    }
    run_kedro(kedro_project, "ingestion", backfill)
    data = kedro_project / "data"
    before = pd.read_parquet(data / "02_intermediate/crypto/20240301/candles")
    after = pd.read_parquet(data / "02_intermediate/crypto/20240302/candles")
    assert pd.to_datetime(before["date"]).min() == pd.Timestamp("2024-02-01")
    assert pd.to_datetime(after["date"]).min() == pd.Timestamp("2024-01-01")
    assert len(after) == len(before) + len(after[pd.to_datetime(after["date"]) < "2024-02-01"])
    assert not after.duplicated(["symbol", "open_time"]).any()
    backfill_bronze = list((data / "01_raw/crypto/20240302/klines").rglob("20240101-20240131-p*.json"))
    assert {p.parent.name for p in backfill_bronze} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    gold = pd.read_parquet(data / "04_feature/crypto/20240302/daily_features")
    assert len(gold) == len(after)


def test_a_sales_source_folder_given_as_a_run_parameter_lands_in_the_raw_zone(kedro_project, tmp_path):
    """--params ingestion.sales.source_uri reaches the catalog's sales_source; its files land byte for byte."""
    from cripto_platform.sources.sales import generate_sales_files

    files = generate_sales_files(n_products=3, n_zones=2, n_points_of_sale=3, n_sales_per_month=7, months=2, seed=5)
    folder = tmp_path / "seller-share"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    run_kedro(kedro_project, "ingestion", {"ingestion.version": "20240301", "ingestion.sales.source_uri": str(folder)},
              node_names=["ingestion.resolve_ingestion_version", "ingestion.collect_sales_files"])
    landed = kedro_project / "data/01_raw/sales/20240301"
    assert {str(p.relative_to(landed)): p.read_bytes() for p in landed.rglob("*") if p.is_file()} == files


def test_a_source_mostly_quarantined_fails_the_run_at_its_check_with_every_row_stored(kedro_project):
    """A Kaggle file whose lines mostly do not parse (a new format, say) used to end a green run with most of it in
    quarantine; check_deliverables now fails the run naming the quarantine and its share, and nothing is lost: the
    good lines are in the lake and the bad ones in the quarantine, for the operator to inspect."""
    from cripto_platform.quality.deliverables import DeliverableCheckError

    params = {**SMALL, "ingestion.version": "20240301",
              "ingestion.kaggle.datasets.credit_risk.sample.malformed_rows": 300}
    with pytest.raises(DeliverableCheckError, match=r"credit_risk_quarantine: (\d+) of (\d+) rows quarantined "
                                                    r"\(\d+\.\d%\) against kaggle_credit_risk, above "
                                                    r"max_quarantine_share 50\.0%") as failed:
        run_kedro(kedro_project, "ingestion", params)
    assert "sales_quarantine" not in str(failed.value)  # only the source over the limit is named
    kept = pd.read_parquet(kedro_project / "data/03_primary/kaggle/credit_risk/20240301/loans")
    (quarantine_file,) = (kedro_project / "data/02_intermediate/quarantine/credit_risk.parquet").rglob("*.parquet")
    quarantined = pd.read_parquet(quarantine_file)
    assert len(quarantined) == 300 and len(kept) > 0
    assert f"{len(quarantined)} of {len(quarantined) + len(kept)} rows" in str(failed.value)
