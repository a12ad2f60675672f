"""Landing files of payments runs that never merged are not loaded as if they had (issue 9, item 11)."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError

from cripto_platform.pipelines.payments import nodes
from tests.conftest import run_kedro
from tests.pipelines.payments.test_integration import SMALL, T1, T2, clean_payments_tables  # noqa: F401 (fixture)

LANDING = "data/01_raw/payments_landing/payments"


def _catalog(path) -> DataCatalog:
    common = {"path": str(path), "dataset": {"type": "cripto_platform.datasets.AtomicParquetDataset"}}
    return DataCatalog.from_config({
        "landing": {"type": "cripto_platform.datasets.CommittedPartitionedDataset", **common,
                    "filename_suffix": ".parquet", "marker_suffix": ".merged"},
        "markers": {"type": "partitions.PartitionedDataset", **common, "filename_suffix": ".parquet.merged"},
    })


def test_only_partitions_with_a_marker_are_loaded(tmp_path):
    catalog = _catalog(tmp_path)
    frame = pd.DataFrame({"payment_id": [1, 2]})
    catalog.save("landing", {"process_date=2026-03-01/payments_a": frame, "process_date=2026-03-01/payments_b": frame})
    with pytest.raises(DatasetError, match=r"no committed partitions in .*'\*\.parquet\.merged' marker.*payments_a"):
        catalog.load("landing")

    catalog.save("markers", {"process_date=2026-03-01/payments_b": pd.DataFrame({"run_id": ["b"]})})
    loaded = catalog.load("landing")
    assert list(loaded) == ["process_date=2026-03-01/payments_b"]
    pd.testing.assert_frame_equal(loaded["process_date=2026-03-01/payments_b"](), frame)
    assert list(catalog.load("markers")) == ["process_date=2026-03-01/payments_b"]
    assert catalog.get("landing").uncommitted() == ["process_date=2026-03-01/payments_a"]


def test_the_marker_is_the_runs_merge_report_under_its_landing_partition():
    window, run = {"process_date": "2026-03-01"}, {"run_id": "r1", "started_at": "2026-03-01T00:00:00+00:00"}
    landed = nodes.land_payments_batch(pd.DataFrame(), window, {"exists": True}, run)
    report = pd.DataFrame({"run_id": ["r1"], "inserted_new": [3]})
    marker = nodes.mark_payments_landing_merged(report, window, run)
    assert list(marker) == list(landed)
    with pytest.raises(ValueError, match=r"'payments_merge_report' is not this run's \(r2\)"):
        nodes.mark_payments_landing_merged(report, window, {**run, "run_id": "r2"})


def _project_catalog(project) -> DataCatalog:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        return session.load_context().catalog


@pytest.mark.integration
def test_a_run_that_fails_at_the_merge_leaves_its_landing_file_out_of_loads(
    kedro_project, clean_payments_tables, monkeypatch  # noqa: F811
):
    from cripto_platform.datasets import PaymentsSCD2Dataset

    with monkeypatch.context() as patch:
        def lost(self, data):
            raise DatasetError("warehouse connection lost")

        patch.setattr(PaymentsSCD2Dataset, "save", lost)
        with pytest.raises(DatasetError, match="warehouse connection lost"):
            run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    failed = sorted((kedro_project / LANDING).rglob("*.parquet"))
    assert len(failed) == 1  # landed, complete, but not merged
    assert not list((kedro_project / LANDING).rglob("*.merged"))
    with pytest.raises(DatasetError, match="no committed partitions"):
        _project_catalog(kedro_project).load("payments_landing")

    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T2})
    loaded = _project_catalog(kedro_project).load("payments_landing")
    merged = [path for path in (kedro_project / LANDING).rglob("*.parquet") if path != failed[0]]
    assert len(merged) == 1
    assert list(loaded) == [str(merged[0].relative_to(kedro_project / LANDING)).removesuffix(".parquet")]
    marker = pd.read_parquet(str(merged[0]) + ".merged")
    assert marker.loc[0, "run_id"] in merged[0].name and marker.loc[0, "staged"] > 0
    landing = _project_catalog(kedro_project).get("payments_landing")
    assert [partition.split("/")[-1] for partition in landing.uncommitted()] == [failed[0].stem]
