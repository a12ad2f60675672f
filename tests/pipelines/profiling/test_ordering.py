"""The default run profiles each table only after the node that writes it (never a missing table on a fresh project)."""

from __future__ import annotations

import pandas as pd
import pytest

from cripto_platform.datasets.written_marker import WrittenMarkerDataset
from cripto_platform.pipelines.profiling.tables import CANDIDATES
from tests.conftest import PROJECT_ROOT, run_kedro
from tests.test_run_summary import SMALL


def _default_nodes():
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    from cripto_platform.pipeline_registry import register_pipelines

    return register_pipelines()["__default__"].nodes  # topologically sorted


@pytest.mark.parametrize("table", list(CANDIDATES), ids=lambda t: t.name)
def test_every_profile_runs_after_the_tables_writer(table):
    nodes = _default_nodes()
    names = [node.name for node in nodes]
    writers = [i for i, node in enumerate(nodes)
               if not node.name.startswith("profiling.") and any(o.split("@")[0] == table.name for o in node.outputs)]
    assert writers, f"no node of __default__ writes {table.name}"
    (profile,) = [i for i, name in enumerate(names) if name == f"profiling.profiling_{table.name}.profile_table"]
    assert profile > max(writers), (
        f"{names[profile]} (position {profile}) runs before {[names[i] for i in writers]} "
        f"(positions {writers}) write {table.name}"
    )


def test_a_missing_marker_loads_as_none(tmp_path):
    dataset = WrittenMarkerDataset(filepath=str(tmp_path / "written/x.json"))
    assert dataset.load() is None
    dataset.save({"table": "x", "versions": ["20240101"], "rows": 3})
    assert dataset.load() == {"table": "x", "versions": ["20240101"], "rows": 3}


@pytest.mark.integration
def test_fresh_default_run_profiles_every_table(kedro_project):
    """A fresh project, the whole default pipeline once (small): no table is reported missing."""
    run_kedro(kedro_project, "__default__", SMALL)
    (summary,) = sorted((kedro_project / "data/08_reporting/profiling_summary.csv").rglob("*.csv"))
    statuses = pd.read_csv(summary).set_index("table")["status"].to_dict()
    assert set(statuses) == {t.name for t in CANDIDATES}
    assert {name for name, status in statuses.items() if status == "missing"} == set(), statuses
    assert set(statuses.values()) == {"profiled"}, statuses
    markers = kedro_project / "data/08_reporting/written"
    assert {p.stem for p in markers.glob("*.json")} >= {t.name for t in CANDIDATES if t.kind == "lake"}
