"""The payments pipeline wired up to the merge request, on an in-memory catalog (SequentialRunner, no warehouse),
and its lineage: one name per artefact, the merge log a transcoded view of the table, watermarks confirmed."""

from __future__ import annotations

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from cripto_platform.payments import KEY, PAYMENT_COLUMNS
from cripto_platform.pipelines.payments import create_pipeline
from tests.conftest import PROJECT_ROOT
from tests.pipelines.payments.params import payments_params

RUN = {"run_id": "run-1", "started_at": "2024-03-03T00:00:00+00:00", "save_version": ""}


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


class RecordingWatermark(KeptDataset):
    """A watermark whose ``confirm()`` records what had been saved to ``payments_l0@scd2`` by then."""

    def __init__(self, catalog_ref: list, data: dict | None = None):
        super().__init__(data, copy_mode="assign")
        self.catalog_ref, self.confirmed = catalog_ref, []

    def confirm(self) -> None:
        catalog = self.catalog_ref[0]
        merged = catalog.load("payments_l0@scd2") if catalog.exists("payments_l0@scd2") else None
        self.confirmed.append(merged)


def test_a_small_batch_becomes_the_merge_request_and_the_watermark_is_confirmed_after_it():
    params = payments_params(**{
        "sample_data.payments_per_day": 20, "sample_data.n_companies": 12, "sample_data.n_clients": 40,
        "sample_data.duplicate_fraction": 0.1, "sample_data.invalid_fraction": 0.05,
    })
    pipeline = create_pipeline().to_nodes("build_payments_merge")
    assert "land_payments_batch" not in {node.name for node in pipeline.nodes}  # only what the merge needs
    ref: list = []
    watermark = RecordingWatermark(ref, {"name": "payments", "table": "etl_watermarks",
                                         "last_update": "2024-03-01T00:00:00+00:00", "run_id": "run-0"})
    companies_watermark = RecordingWatermark(ref)
    catalog = DataCatalog({
        "payments_watermark": watermark,
        "companies_watermark": companies_watermark,
        "payments_api": MemoryDataset({"base_url": None}),
        "run_metadata": MemoryDataset(RUN),
        **{f"params:payments.{block}": MemoryDataset(getattr(params, block), copy_mode="assign")
           for block in ("source", "sample_data", "window", "merge")},
    })
    ref.append(catalog)
    for name in pipeline.datasets() - set(catalog.keys()):
        catalog[name] = KeptDataset(copy_mode="assign")
    SequentialRunner().run(pipeline, catalog)

    request = catalog.load("payments_l0@scd2")
    # Kedro confirmed each watermark once, after its node's save (the merge request was saved by then)
    assert len(watermark.confirmed) == 1 and watermark.confirmed[0] is request
    assert len(companies_watermark.confirmed) == 1
    assert catalog.load("payments_watermark")["last_update"] == "2024-03-01T00:00:00+00:00"  # only confirm moves it
    assert request["batch_id"] == "2024-03-01T00:00:00+00:00/2024-03-03T00:00:00+00:00"
    assert request["effective_at"] == request["watermark"] == "2024-03-03T00:00:00+00:00"
    assert request["run_id"] == "run-1" and request["missing_keys"] == "ignore"
    rows = request["rows"]
    assert list(rows.columns) == PAYMENT_COLUMNS and len(rows) > 0
    assert not rows.duplicated(KEY).any()
    assert request["duplicates"] > 0 and request["quarantined"] == len(catalog.load("payments_quarantine_rows")) > 0
    raw = catalog.load("payments_batch_raw")
    assert len(rows) + request["duplicates"] + request["quarantined"] == len(raw)
    updated = pd.to_datetime(rows["updated_at"], utc=True)
    assert updated.gt(pd.Timestamp("2024-03-01", tz="UTC")).all() and updated.le(pd.Timestamp("2024-03-03", tz="UTC")).all()
    assert set(rows["company_code"]) <= set(catalog.load("companies_l0")["company_code"])


def test_lineage_one_name_per_artefact_and_the_merge_log_read_after_the_merge():
    pipeline = create_pipeline()
    by_name = {node.name: node for node in pipeline.nodes}
    merge = by_name["build_payments_merge"]
    assert merge.outputs == ["payments_l0@scd2"] and merge.confirms == ["payments_watermark"]
    assert by_name["prepare_companies"].confirms == ["companies_watermark"]
    assert not {"payments_watermark", "companies_watermark"} & set(pipeline.all_outputs())  # no node writes them
    for reader in ("report_payments_merge", "chart_payments_merges"):
        assert "payments_l0@merges" in by_name[reader].inputs
        assert merge in pipeline.node_dependencies[by_name[reader]]  # transcoding orders it after the merge
    # the landing bucket: one name, saved by the node that makes sure of it, loaded by the landing
    assert by_name["ensure_landing_bucket"].outputs == ["payments_landing_bucket"]
    assert "payments_landing_bucket" in by_name["land_payments_batch"].inputs
    assert by_name["ensure_landing_bucket"] in pipeline.node_dependencies[by_name["land_payments_batch"]]


def test_the_catalog_declares_the_landing_bucket_once_and_the_merge_log_as_a_view_of_the_table():
    from kedro.config import OmegaConfigLoader

    catalog = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")["catalog"]
    buckets = [name for name, entry in catalog.items() if entry["type"].endswith("LandingBucketDataset")]
    assert buckets == ["payments_landing_bucket"]
    assert [name for name, entry in catalog.items() if entry.get("path") == "data/01_raw/payments_landing"] == buckets
    merges = catalog["payments_l0@merges"]
    assert merges["type"].endswith("WarehouseQueryDataset") and merges["sql_file"] == "payments_merge_log.sql"
    assert merges["query_params"] == {"table_name": catalog["payments_l0@scd2"]["table"]}
    assert merges["identifiers"]["merge_log"] == catalog["payments_l0@scd2"]["merge_log_table"]
    assert catalog["payments_watermark"]["identifiers"]["merge_log"] == catalog["payments_l0@scd2"]["merge_log_table"]
    assert catalog["payments_watermark"]["query_params"] == merges["query_params"]
