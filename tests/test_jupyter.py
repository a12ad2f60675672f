"""`kedro jupyter lab` and `kedro jupyter notebook` start from the README's install (issue 14)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("flavour, page", [("lab", "/lab"), ("notebook", "/tree")])
def test_kedro_jupyter_starts_and_serves_its_page(flavour, page, tmp_path):
    port = _free_port()
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    command = [str(kedro), "jupyter", flavour, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--IdentityProvider.token=t", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode(errors="replace")[-3000:]
            try:
                answer = requests.get(f"http://127.0.0.1:{port}{page}?token=t", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.5)
                continue
            assert answer.status_code == 200, answer.text[:500]
            kernels = requests.get(f"http://127.0.0.1:{port}/api/kernelspecs?token=t", timeout=5).json()
            assert any(name.startswith("kedro_") for name in kernels["kernelspecs"]), kernels["kernelspecs"].keys()
            return
        pytest.fail(f"kedro jupyter {flavour} did not answer on port {port} within 90 s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
