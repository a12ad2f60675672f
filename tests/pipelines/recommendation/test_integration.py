"""`kedro run --pipeline payments` then `--pipeline recommendation` through KedroSessions: files, warehouse, S3."""

from __future__ import annotations

import json

import boto3
import pandas as pd
import pytest
import sqlalchemy as sa
from kedro.io.core import Version
from kedro.validation.exceptions import ParameterValidationError

from cripto_platform.datasets import AnnoyIndexDataset
from tests.conftest import run_kedro, use_bucket
from tests.pipelines.recommendation.conftest import SHIPPED

pytestmark = pytest.mark.integration

T1 = "2026-03-01T00:00:00+00:00"
SMALL = {
    "payments.window.process_time": T1,
    "payments.window.lookback_days": 30,
    "payments.sample_data.payments_per_day": 150,
    "payments.sample_data.n_clients": 400,
    "payments.sample_data.n_companies": 60,
}


@pytest.fixture
def clean_tables(warehouse_engine):
    with warehouse_engine.begin() as connection:
        for table in ("payments_l0", "companies_l0", "etl_merge_log", "client_recommendations"):
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        connection.execute(sa.text(
            "DO $$ BEGIN IF to_regclass('etl_watermarks') IS NOT NULL THEN "
            "DELETE FROM etl_watermarks WHERE name IN ('payments', 'companies'); END IF; END $$"
        ))
    return warehouse_engine


def _versions(folder) -> list:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def _warehouse_rows(engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(sa.text("SELECT * FROM client_recommendations"), connection)


def test_payments_then_recommendation_publish_index_report_chart_parquet_and_table(kedro_project, clean_tables):
    run_kedro(kedro_project, "payments", SMALL)
    run_kedro(kedro_project, "recommendation")
    data = kedro_project / "data"

    index = AnnoyIndexDataset(filepath=str(data / "06_models/company_index"), version=Version(None, None)).load()
    payments = pd.read_parquet(data / "04_feature/payments_index.parquet")
    assert set(index.company_codes) == set(payments["company_code"])

    [report_version] = _versions(data / "08_reporting/recommendation_evaluation.json")
    report = json.loads((data / "08_reporting/recommendation_evaluation.json" / report_version /
                         "recommendation_evaluation.json").read_text())
    assert report["index"]["recall_at_k"] >= 0.95 and report["index"]["vector_method"] == SHIPPED["vectors"]["method"]
    assert report["input"]["payments_in_window"] == len(payments)
    assert report["input"]["quarantined"]["null external_client_id"] == int(payments["external_client_id"].isna().sum())
    recommenders = report["evaluation"]["recommenders"]
    assert report["evaluation"]["holdout"]["clients_evaluated"] > 0
    assert all(recommenders[name]["precision"] is not None for name in recommenders)
    chart = json.loads((data / "08_reporting/recommendation_evaluation_chart.json" / report_version /
                        "recommendation_evaluation_chart.json").read_text())
    assert len(chart["data"]) == 5

    [parquet_version] = _versions(data / "07_model_output/client_recommendations.parquet")
    assert parquet_version == report_version  # one save version per run
    recommendations = pd.read_parquet(data / "07_model_output/client_recommendations.parquet" / parquet_version /
                                      "client_recommendations.parquet")
    table = _warehouse_rows(clean_tables)
    assert len(table) == len(recommendations) > 0
    assert set(table["run_id"]) == {report["run_id"]}
    assert table["external_client_id"].nunique() == payments["external_client_id"].nunique()

    # An empty window: a clear error, and nothing written (the last index, report and table stand).
    with pytest.raises(ValueError, match=r"dataset 'payments_index' has no payments in the recommendation window "
                                         r"\[2030-01-01T00:00:00\+00:00, "):
        run_kedro(kedro_project, "recommendation", {"recommendation.window.since": "2030-01-01T00:00:00Z"})
    # A parameter Kedro's validation refuses before the run starts.
    with pytest.raises(ParameterValidationError, match=r"(?s)Parameter .recommendation.vectors.: .*method.*pca"):
        run_kedro(kedro_project, "recommendation", {"recommendation.vectors.method": "pca"})
    assert _versions(data / "06_models/company_index") == [report_version]
    assert _versions(data / "08_reporting/recommendation_evaluation.json") == [report_version]
    assert _versions(data / "07_model_output/client_recommendations.parquet") == [report_version]
    assert set(_warehouse_rows(clean_tables)["run_id"]) == {report["run_id"]}


def test_cloud_env_writes_the_index_and_reports_to_the_s3_bucket(kedro_project, clean_tables, s3_bucket,
                                                                 s3_endpoint):
    use_bucket(kedro_project, s3_bucket)
    run_kedro(kedro_project, "payments", SMALL, env="cloud")
    run_kedro(kedro_project, "recommendation", env="cloud")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket, MaxKeys=1000).get("Contents", [])]
    index_files = [key for key in keys if key.startswith("06_models/company_index/")]
    assert {key.rsplit("/", 1)[1] for key in index_files} == {"index.ann", "meta.json"}
    for prefix in ("08_reporting/recommendation_evaluation.json/", "08_reporting/recommendation_evaluation_chart.json/",
                   "07_model_output/client_recommendations.parquet/", "04_feature/recommendation/company_vectors"):
        assert any(key.startswith(prefix) for key in keys), prefix
    assert not (kedro_project / "data/06_models").exists()
    index = AnnoyIndexDataset(filepath=f"s3://{s3_bucket}/06_models/company_index", version=Version(None, None)).load()
    assert len(index.company_codes) > 0 and len(_warehouse_rows(clean_tables)) > 0
