"""Shared helpers: profiling options as shipped (from the YAML), the profile JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

SCHEMA_PATH = PROJECT_ROOT / "src/cripto_platform/pipelines/profiling/profile.schema.json"


def shipped_params() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_profiling.yml").read_text())["profiling"]


@pytest.fixture
def options() -> dict:
    return dict(shipped_params()["profile"])


@pytest.fixture(scope="session")
def profile_schema() -> dict:
    return json.loads(Path(SCHEMA_PATH).read_text())


def validate(document: dict, schema: dict) -> None:
    import jsonschema

    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
