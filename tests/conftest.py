"""Shared fixtures: a real embedded PostgreSQL per test session, project paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def warehouse_url(tmp_path_factory):
    """A real PostgreSQL 16 (pgserver) in a temporary data directory, stopped at the end."""
    from cripto_platform.warehouse import ENV_PGDATA, ENV_URL, resolve_url, stop_embedded_server

    pgdata = tmp_path_factory.mktemp("pgdata")
    previous = {key: os.environ.get(key) for key in (ENV_PGDATA, ENV_URL)}
    os.environ.pop(ENV_URL, None)
    os.environ[ENV_PGDATA] = str(pgdata)
    url = resolve_url()
    yield url
    stop_embedded_server(pgdata)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def warehouse_engine(warehouse_url):
    from cripto_platform.warehouse import get_engine

    return get_engine(warehouse_url)
