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


@pytest.fixture(scope="module")
def viz_api():
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
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=5) as response:
                    yield json.load(response)
                    return
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"kedro viz did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


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
