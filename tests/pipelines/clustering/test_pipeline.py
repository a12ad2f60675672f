"""The clustering pipeline wired end to end on an in-memory catalog."""

import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from cripto_platform.pipelines.clustering import create_pipeline
from cripto_platform.run_metadata import new_run_metadata
from cripto_platform.sources.reservations import generate_reservations
from tests.conftest import PROJECT_ROOT, without_check

class _KeptMemoryDataset(MemoryDataset):
    """Keeps its data when the runner releases it after its last consumer, so the test can read it."""

    def _release(self) -> None:
        pass


PARAMS = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_clustering.yml").read_text())["clustering"]


def test_pipeline_runs_from_the_extract_on_memory_datasets():
    raw = generate_reservations(600, seed=3, invalid_fraction=0.02)
    # check_deliverables counts the published warehouse table (reservation_clusters@profile): integration tests
    pipeline = without_check(create_pipeline().from_nodes("clean_reservations"))
    metadata = new_run_metadata()
    catalog = DataCatalog(
        {
            "reservations@sql": MemoryDataset(raw),
            "params:clustering": MemoryDataset(PARAMS),
            "params:clustering.occupancy": MemoryDataset(PARAMS["occupancy"]),
            "run_metadata": MemoryDataset(metadata),
            "model_selection_report": _KeptMemoryDataset(),  # chart_model_selection consumes it
        }
    )
    for output in pipeline.outputs() | pipeline.datasets() - set(catalog.keys()):
        catalog[output] = MemoryDataset()
    SequentialRunner().run(pipeline, catalog)

    published = catalog.load("reservation_clusters@table")
    quarantine = catalog.load("reservations_quarantine")
    assert len(published) + len(quarantine) == len(raw)
    assert (published["run_id"] == metadata["run_id"]).all()
    assert (quarantine["run_id"] == metadata["run_id"]).all()
    assert {"cluster", "arrival_occupancy_rate", "stay_occupancy_rate"} <= set(published.columns)
    profile = catalog.load("cluster_profile_report")
    assert profile["size"].sum() == len(published)
    assert catalog.load("model_selection_report")["selected"].sum() == 1
    assert {"cluster_projection_chart", "model_selection_chart"} <= pipeline.outputs()
