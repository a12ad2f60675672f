"""`kedro viz run` serves every pipeline with its nodes and layers (what a person looks at)."""

import json
import os
import random
import signal
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration


def _free_port() -> int:
    """A free port below 49152: kedro viz refuses the ephemeral range the OS hands out for port 0."""
    for port in random.sample(range(20000, 40000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 40000")


LAYER_ORDER = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"]


@pytest.fixture(scope="module")
def viz_server():
    """A running ``kedro viz run``; yields its base URL."""
    port = _free_port()
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


def test_default_view_opens_as_one_group_per_pipeline(viz_api):
    groups = {key for key in viz_api["modular_pipelines"] if key != "__root__" and "." not in key}
    assert groups == set(_registered_pipelines()) - {"__default__"}
    root = viz_api["modular_pipelines"]["__root__"]["children"]
    assert {child["id"] for child in root if child["type"] == "modularPipeline"} == groups


def test_chart_datasets_are_plotly(viz_api):
    charts = {node["name"] for node in viz_api["nodes"] if node.get("dataset_type") == "plotly.json_dataset.JSONDataset"}
    assert {"cluster_projection_chart", "model_selection_chart", "payments_merge_chart",
            "recommendation_evaluation_chart", "profiling_summary_chart"} <= charts
