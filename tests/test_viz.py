"""`kedro viz run` serves every pipeline with its nodes and layers (what a person looks at)."""

import json
import os
import signal
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from cripto_platform.screenshots import free_port
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration


LAYER_ORDER = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"]


@pytest.fixture(scope="module")
def viz_server():
    """A running ``kedro viz run``; yields its base URL."""
    port = free_port()
    kedro = shutil.which("kedro", path=os.path.dirname(sys.executable))
    server = subprocess.Popen(
        [kedro, "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        start_new_session=True,  # its own process group, so teardown also stops viz's worker process
    )
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=5):
                    pass
                yield f"http://127.0.0.1:{port}"
                return
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"kedro viz did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def viz_api(viz_server):
    return _get(f"{viz_server}/api/main")


def test_viz_lists_every_registered_pipeline(viz_api):
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    served = {pipeline["id"] for pipeline in viz_api["pipelines"]}
    assert set(pipelines.keys()) <= served
    task_names = {node["name"] for node in viz_api["nodes"] if node["type"] == "task"}
    assert {"select_clustering_model", "enrich_with_occupancy"} <= task_names


def test_viz_shows_catalog_layers(viz_api):
    layers = {node.get("layer") for node in viz_api["nodes"] if node["type"] == "data"}
    assert {"raw", "intermediate", "models", "reporting"} <= layers


def _registered_pipelines() -> list[str]:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return sorted(pipelines.keys())


def test_default_view_has_every_layer_in_order(viz_api):
    """The layer list the UI draws (kedro-viz empties it when the layers form a cycle)."""
    assert viz_api["layers"] == LAYER_ORDER


def test_every_pipeline_view_has_layers_and_every_edge_goes_forward(viz_server):
    """Per registered pipeline, as the UI fetches it (``/api/pipelines/<name>``): a non-empty layer list
    holding every layer of its datasets, and no dataset feeding a dataset of an earlier layer in it."""
    for name in _registered_pipelines():
        view = _get(f"{viz_server}/api/pipelines/{name}")
        layers = view["layers"]
        assert layers, f"pipeline {name}: kedro-viz disabled the layers (a cycle among them)"
        nodes = {node["id"]: node for node in view["nodes"]}
        in_view = {node["id"] for node in view["nodes"] if name in node.get("pipelines", [])}
        data_layers = {nodes[i].get("layer") for i in in_view if nodes[i]["type"] == "data"} - {None}
        assert data_layers <= set(layers), name
        children: dict[str, set[str]] = {}
        for edge in view["edges"]:
            children.setdefault(edge["source"], set()).add(edge["target"])
        for task in (i for i in in_view if nodes[i]["type"] == "task"):
            sources = [s for s, targets in children.items() if task in targets and nodes.get(s, {}).get("layer")]
            for source in sources:
                for target in children.get(task, ()):
                    if nodes.get(target, {}).get("layer"):
                        assert layers.index(nodes[source]["layer"]) <= layers.index(nodes[target]["layer"]), (
                            f"pipeline {name}: {nodes[source]['name']} ({nodes[source]['layer']}) feeds "
                            f"{nodes[target]['name']} ({nodes[target]['layer']})")


# What the default view opens with, besides one collapsed group per pipeline: kedro-viz draws the root's children
# (parameters are hidden by default), i.e. each group's free inputs and outputs. Kept to the datasets that cross
# pipelines and the sources read from outside (or from earlier runs): a pipeline's deliverables are read by its own
# last node, check_deliverables, so kedro-viz draws them inside the pipeline's group.
CROSSING = {
    "run_metadata",  # every pipeline (RunMetadataHooks)
    "ingestion_lake_tables",  # ingestion -> profiling: the record of its lake tables, read as lazy scans
    "reservations", "reservation_clusters",  # clustering -> profiling
    "payments_l0", "companies_l0",  # payments -> profiling (and companies_l0 -> recommendation)
    "payments_index",  # payments -> recommendation
}
DELIVERABLES = {
    "ingestion": {
        "kaggle_credit_risk", "kaggle_motor_temperature", "kaggle_citesum_papers", "kaggle_citesum_summaries",
        "kaggle_citesum_paper_categories", "crypto_candles_silver", "crypto_daily_features", "sales_zones",
        "sales_products", "sales_points_of_sale", "sales_facts", "sales_monthly_features", "sales_warehouse",
        "crypto_gaps_report", "credit_risk_quarantine", "motor_temperature_quarantine", "citesum_quarantine",
        "sales_quarantine",
    },
    "clustering": {"reservations_quarantine", "cluster_profile_report", "cluster_projection_chart",
                   "model_selection_chart"},
    "payments": {"payments_landing", "payments_landing_merged", "payments_quarantine", "payments_merge_chart"},
    "recommendation": {"client_payment_metrics", "company_cooccurrence", "client_recommendations_table",
                       "recommendation_quarantine", "recommendation_evaluation_chart"},
    "profiling": {"profiling_index_html", "profiling_summary_chart"},
}


def test_default_view_opens_as_one_group_per_pipeline(viz_api):
    groups = {key for key in viz_api["modular_pipelines"] if key != "__root__" and "." not in key}
    assert groups == set(_registered_pipelines()) - {"__default__"}
    root = viz_api["modular_pipelines"]["__root__"]["children"]
    assert {child["id"] for child in root if child["type"] == "modularPipeline"} == groups
    assert not [child for child in root if child["type"] == "task"]


def test_default_view_shows_only_crossing_datasets_and_sources(viz_api):
    """The collapsed default view was 5 groups and 102 loose datasets (markers, scans, previous profiles, pages), then
    46: every pipeline's deliverables were drawn outside its group, as kedro-viz draws a group's terminal outputs."""
    from kedro.framework.project import pipelines

    _registered_pipelines()  # bootstraps the project
    sources = {name.split("@")[0] for name in pipelines["__default__"].inputs()
               if not name.startswith("params:") and name != "parameters"}
    names = {node["id"]: node["name"] for node in viz_api["nodes"]}
    loose = {names[child["id"]] for child in viz_api["modular_pipelines"]["__root__"]["children"]
             if child["type"] == "data"}
    assert loose == CROSSING | sources, (sorted(loose - CROSSING - sources), sorted((CROSSING | sources) - loose))
    assert len(sources) <= 8 and len(loose) <= 14


def test_each_pipeline_s_deliverables_are_drawn_inside_its_group(viz_api):
    ids = {node["name"]: node["id"] for node in viz_api["nodes"] if node["type"] == "data"}
    for group, deliverables in DELIVERABLES.items():
        children = {child["id"] for child in viz_api["modular_pipelines"][group]["children"]}
        outside = sorted(name for name in deliverables if ids[name] not in children)
        assert not outside, f"{group}: {outside} drawn outside the group"


def test_chart_datasets_are_plotly(viz_api):
    charts = {node["name"] for node in viz_api["nodes"] if node.get("dataset_type") == "plotly.json_dataset.JSONDataset"}
    assert {"cluster_projection_chart", "model_selection_chart", "payments_merge_chart",
            "recommendation_evaluation_chart", "profiling_summary_chart"} <= charts


def test_the_deliverables_read_back_by_the_checks_still_preview_in_kedro_viz(viz_server, viz_api):
    """They are read back inside their pipeline lazily, not through a transcoded twin: kedro-viz 12.5 gives a
    transcoded dataset's panel no preview."""
    from cripto_platform.pipelines.ingestion.pipeline import LAKE_TABLES

    ids = {node["name"]: node["id"] for node in viz_api["nodes"] if node["type"] == "data"}
    for name in (*LAKE_TABLES, "payments_index", "client_recommendations_table", "client_payment_metrics",
                 "company_cooccurrence"):
        meta = _get(f"{viz_server}/api/nodes/{ids[name]}")
        assert "original_type" not in meta, f"{name} is transcoded: no preview in kedro-viz"
        assert meta.get("preview_type") == "TablePreview", (name, sorted(meta))
