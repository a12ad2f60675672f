"""Shared fixtures: a real embedded PostgreSQL per test session, project paths."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Fixtures that start or reach a server: every test using one is an integration test, so
# `pytest -m "not integration"` is a fast unit run with no PostgreSQL, S3 or HTTP server.
SERVER_FIXTURES = {"warehouse_url", "warehouse_engine", "kedro_project", "s3_endpoint", "s3_bucket"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def warehouse_url(tmp_path_factory):
    """A real PostgreSQL 16 (pgserver) in a temporary data directory, stopped at the end."""
    from cripto_platform.warehouse import ENV_PGDATA, ENV_URL, resolve_url, stop_embedded_server

    pgdata = tmp_path_factory.mktemp("pgdata")
    with pytest.MonkeyPatch.context() as session_env:  # the session-scoped twin of monkeypatch
        session_env.delenv(ENV_URL, raising=False)
        session_env.setenv(ENV_PGDATA, str(pgdata))
        yield resolve_url()
        stop_embedded_server(pgdata)


@pytest.fixture
def warehouse_engine(warehouse_url):
    from cripto_platform.warehouse import get_engine

    return get_engine(warehouse_url)


@pytest.fixture
def kedro_project(tmp_path, monkeypatch, warehouse_url):
    """A throwaway copy of the project's conf/ and pyproject.toml, as the working directory.

    Runs write their data/ there instead of the checkout; the warehouse is the session's server.
    """
    import shutil

    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(PROJECT_ROOT / ".telemetry", tmp_path / ".telemetry")
    (tmp_path / "src").mkdir()  # bootstrap_project checks it exists; the package is installed
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    return tmp_path


def without_check(pipeline, *also: str):
    """``pipeline`` without its ``check_deliverables`` (and the nodes named in ``also``): for in-memory runs of
    part of a pipeline, whose checks read persisted outputs (and would clash by name outside namespaces)."""
    return pipeline - pipeline.only_nodes("check_deliverables", *also)


def run_kedro(project_path, pipeline: str, params: dict | None = None, env: str | None = None, **run_args):
    """Run one pipeline in a fresh KedroSession, as ``kedro run --pipeline`` would."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    nested: dict = {}
    for dotted, value in (params or {}).items():  # "a.b.c=1" as the CLI's --params nests it
        *parents, leaf = dotted.split(".")
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env, runtime_params=nested) as session:
        return session.run(pipeline_names=[pipeline], **run_args)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 HTTP endpoint (moto's server) on 127.0.0.1, found by the standard AWS variables."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    settings = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as session_env:
        for key, value in settings.items():
            session_env.setenv(key, value)
        yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, request):
    """A fresh, empty bucket on the local endpoint (a project copy's cloud env points at it with ``use_bucket``)."""
    import re

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", f"test-{request.node.name.lower()}")[:63].strip("-")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=name)
    return name


def use_bucket(project_path, bucket: str) -> None:
    """Point the project copy's ``cloud`` environment at ``bucket``, as a deployment edits its globals.yml."""
    (project_path / "conf" / "cloud" / "globals.yml").write_text(f"lake_root: s3://{bucket}\n")
