"""`kedro run --pipeline payments` through a KedroSession: embedded PostgreSQL, local files or moto S3."""

from __future__ import annotations

import boto3
import pandas as pd
import pytest
import sqlalchemy as sa

from cripto_platform.pipelines.payments.nodes import (
    deduplicate_payments,
    fetch_payments_batch,
    validate_payments_batch,
)
from tests.conftest import run_kedro

pytestmark = pytest.mark.integration

T1, T2 = "2026-03-01T00:00:00+00:00", "2026-03-04T00:00:00+00:00"
SMALL = {"payments.sample_data.payments_per_day": 80, "payments.watermark.lookback_days": 20}
COMPARED = ["payment_at", "status", "amount", "external_client_id"]


@pytest.fixture
def clean_payments_tables(warehouse_engine):
    with warehouse_engine.begin() as connection:
        for table in ("payments_l0", "companies_l0", "etl_merge_log"):
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        connection.execute(sa.text(
            "DO $$ BEGIN IF to_regclass('etl_watermarks') IS NOT NULL THEN "
            "DELETE FROM etl_watermarks WHERE name IN ('payments', 'companies'); END IF; END $$"
        ))
    return warehouse_engine


def _query(engine, text):
    with engine.connect() as connection:
        return pd.read_sql(sa.text(text), connection)


def _watermark(engine):
    return _query(engine, "SELECT last_update FROM etl_watermarks WHERE name = 'payments'")["last_update"].iloc[0]


def _expected_changes(engine, params: dict, since: str, until: str) -> tuple[int, int]:
    """New and changed keys of the (since, until] batch, computed independently in pandas."""
    sample = {key.split(".")[-1]: value for key, value in params.items() if key.startswith("payments.sample_data.")}
    from kedro.config import OmegaConfigLoader

    base = OmegaConfigLoader("conf", base_env="base", default_run_env="base")["parameters"]["payments"]["sample_data"]
    raw = fetch_payments_batch({"since": since, "until": until}, {"kind": "generator"}, {**base, **sample})
    companies = _query(engine, "SELECT company_code FROM companies_l0")
    batch, _ = deduplicate_payments(validate_payments_batch(raw, companies)[0])
    current = _query(engine, "SELECT payment_id, company_code, payment_at, status, amount::float8 AS amount, "
                             "external_client_id FROM payments_l0 WHERE is_current")
    joined = batch.merge(current, on=["payment_id", "company_code"], how="left", suffixes=("", "_cur"), indicator=True)
    new = int((joined["_merge"] == "left_only").sum())
    old = joined[joined["_merge"] == "both"]
    differs = pd.Series(False, index=old.index)
    for column in COMPARED:
        a, b = old[column], old[f"{column}_cur"]
        if column == "payment_at":
            a, b = pd.to_datetime(a, utc=True), pd.to_datetime(b, utc=True)
        differs |= ~((a == b).fillna(False) | (a.isna() & b.isna()))
    return new, int(differs.sum())


def test_two_runs_grow_history_only_by_changes_and_advance_the_watermark(kedro_project, clean_payments_tables):
    engine = clean_payments_tables
    run_kedro(kedro_project, "payments", {**SMALL, "payments.process_time": T1})
    first = _query(engine, "SELECT * FROM payments_l0")
    assert len(first) > 500 and first["is_current"].all()
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T1)
    assert len(_query(engine, "SELECT * FROM companies_l0")) == 40

    landed = list((kedro_project / "data/01_raw/payments_landing/payments/process_date=2026-03-01").glob("*.parquet"))
    assert len(landed) == 1
    raw = pd.read_parquet(landed[0])
    quarantine = pd.read_parquet(next((kedro_project / "data/02_intermediate/quarantine/payments.parquet").rglob("*.parquet")))
    assert quarantine["quarantine_reason"].str.contains("null key payment_id|unparseable").all() and len(quarantine) > 0
    report_dir = kedro_project / "data/08_reporting/payments_merge.csv"
    report = pd.read_csv(next(report_dir.rglob("*.csv")))
    assert report.loc[0, "inserted_new"] == len(first)
    assert report.loc[0, "quarantined"] == len(quarantine)
    assert len(raw) == report.loc[0, "staged"] + report.loc[0, "duplicates"] + len(quarantine)

    expected_new, expected_changed = _expected_changes(engine, SMALL, T1, T2)
    assert expected_new > 0 and expected_changed > 0
    run_kedro(kedro_project, "payments", {**SMALL, "payments.process_time": T2})
    second = _query(engine, "SELECT * FROM payments_l0")
    assert len(second) - len(first) == expected_new + expected_changed
    closed = second[~second["is_current"]]
    assert len(closed) == expected_changed
    assert (pd.to_datetime(closed["end_date"], utc=True) == pd.Timestamp(T2)).all()
    assert not second[second["is_current"]].duplicated(["payment_id", "company_code"]).any()
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T2)
    reports = sorted(report_dir.rglob("*.csv"))
    assert len(reports) == 2
    latest = pd.read_csv(reports[-1])
    assert (latest.loc[0, "inserted_new"], latest.loc[0, "inserted_changed"], latest.loc[0, "closed_changed"]) == (
        expected_new, expected_changed, expected_changed)

    index = pd.read_parquet(kedro_project / "data/04_feature/payments_index.parquet")
    assert len(index) == int(second["is_current"].sum())  # all current payments were created in the last 90 days
    assert not index.duplicated(["payment_id", "company_code"]).any()

    # A process time before the watermark: the seed's future-date guard, nothing written.
    with pytest.raises(ValueError, match=r"watermark 'payments' .* is 2026-03-04T00:00:00\+00:00, after the process time"):
        run_kedro(kedro_project, "payments", {**SMALL, "payments.process_time": T1})
    assert len(_query(engine, "SELECT * FROM payments_l0")) == len(second)
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T2)


def test_cloud_env_lands_parquet_in_the_s3_bucket(kedro_project, clean_payments_tables, s3_bucket, s3_endpoint):
    run_kedro(kedro_project, "payments", {**SMALL, "payments.process_time": T1}, env="cloud")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    landed = [key for key in keys if key.startswith("01_raw/payments_landing/payments/process_date=2026-03-01/")]
    assert len(landed) == 1 and landed[0].endswith(".parquet")
    assert "04_feature/payments_index.parquet" in keys
    assert any(key.startswith("08_reporting/payments_merge.csv/") for key in keys)
    assert not (kedro_project / "data/01_raw/payments_landing").exists()


def test_cloud_env_missing_bucket_fails_naming_it_unless_creation_is_allowed(
    kedro_project, clean_payments_tables, s3_endpoint, monkeypatch
):
    monkeypatch.setenv("CRIPTO_S3_BUCKET", "payments-missing-bucket")
    params = {**SMALL, "payments.process_time": T1, "payments.landing.create_bucket_if_missing": False}
    with pytest.raises(ValueError, match=r"landing bucket 's3://payments-missing-bucket' does not exist"):
        run_kedro(kedro_project, "payments", params, env="cloud", node_names=["check_landing_bucket"])
    run_kedro(kedro_project, "payments", {**params, "payments.landing.create_bucket_if_missing": True},
              env="cloud", node_names=["check_landing_bucket"])
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    assert "payments-missing-bucket" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_api_source_through_the_shipped_server(kedro_project, clean_payments_tables, monkeypatch):
    from cripto_platform.sources.payments_api import PaymentsApiServer, serve_in_thread

    generator = {"seed": 7, "origin": "2024-01-01", "payments_per_day": 80, "n_companies": 40}
    server = PaymentsApiServer(("127.0.0.1", 0), generator=generator, n_companies=40, now=T1, fail_first=1)
    serve_in_thread(server)
    try:
        monkeypatch.setenv("CRIPTO_PAYMENTS_API_URL", server.url)  # the credentials route to the base URL
        params = {**SMALL, "payments.process_time": T1, "payments.source.kind": "api",
                  "payments.source.page_size": 500, "payments.source.backoff_seconds": 0.01}
        run_kedro(kedro_project, "payments", params)
    finally:
        server.shutdown()
        server.server_close()
    assert server.requests_seen > 3  # a 503 retried, companies, several pages of payments
    from_api = int(_query(clean_payments_tables, "SELECT count(*) AS n FROM payments_l0")["n"].iloc[0])
    # the same window straight from the generator: every valid key, once
    raw = fetch_payments_batch({"since": "2026-02-09T00:00:00+00:00", "until": T1}, {"kind": "generator"},
                               {**generator, "n_clients": 5000})
    companies = _query(clean_payments_tables, "SELECT company_code FROM companies_l0")
    batch, _ = deduplicate_payments(validate_payments_batch(raw, companies)[0])
    assert from_api == len(batch) > 0
