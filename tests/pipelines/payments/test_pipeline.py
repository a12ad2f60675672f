"""The payments pipeline wired up to the merge request, on an in-memory catalog (SequentialRunner, no warehouse)."""

from __future__ import annotations

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from cripto_platform.payments import KEY, PAYMENT_COLUMNS
from cripto_platform.pipelines.payments import create_pipeline
from tests.pipelines.payments.params import payments_params

RUN = {"run_id": "run-1", "started_at": "2024-03-03T00:00:00+00:00", "save_version": ""}


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def test_a_small_batch_becomes_the_merge_request():
    params = payments_params(**{
        "sample_data.payments_per_day": 20, "sample_data.n_companies": 12, "sample_data.n_clients": 40,
        "sample_data.duplicate_fraction": 0.1, "sample_data.invalid_fraction": 0.05,
    })
    pipeline = create_pipeline().to_nodes("build_payments_merge")
    assert "land_payments_batch" not in {node.name for node in pipeline.nodes}  # only what the merge needs
    catalog = DataCatalog({
        "payments_watermark": MemoryDataset({"name": "payments", "table": "etl_watermarks",
                                             "last_update": "2024-03-01T00:00:00+00:00", "run_id": "run-0"}),
        "payments_api": MemoryDataset({"base_url": None}),
        "run_metadata": MemoryDataset(RUN),
        **{f"params:payments.{block}": MemoryDataset(getattr(params, block), copy_mode="assign")
           for block in ("source", "sample_data", "window", "merge")},
    })
    for name in pipeline.datasets() - set(catalog.keys()):
        catalog[name] = KeptDataset(copy_mode="assign")
    SequentialRunner().run(pipeline, catalog)

    request = catalog.load("payments_l0@scd2")
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
