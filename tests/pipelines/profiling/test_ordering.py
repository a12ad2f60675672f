"""The default run profiles each table only after the node that writes it (never a missing table on a fresh project)."""

from __future__ import annotations

import json

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
    record = json.loads((kedro_project / "data/08_reporting/written/ingestion_lake_tables.json").read_text())
    assert set(record) == {t.name for t in CANDIDATES if t.kind == "lake"}
    assert all(entry["rows"] > 0 for entry in record.values()), record


def test_summary_versions_load_back_as_text(tmp_path):
    """index.html showed yyyymmdd versions as 2.02611e+07: the summary CSV read them back as numbers."""
    import pandas as pd
    import yaml
    from kedro.io import DataCatalog

    from cripto_platform.pipelines.profiling.nodes import render_index
    from tests.conftest import PROJECT_ROOT

    text = (PROJECT_ROOT / "conf/base/catalog_profiling.yml").read_text().replace("${globals:lake_root}", str(tmp_path))
    entry = yaml.safe_load(text)["profiling_summary_report"]
    entry.pop("versioned")
    catalog = DataCatalog.from_config({"profiling_summary_report": entry})
    catalog.save("profiling_summary_report", pd.DataFrame({
        "table": ["t"], "status": ["profiled"], "source_kind": ["lake"], "source_version": ["20261126"],
        "rows": [1], "columns": [1], "missing_share": [0.0], "rule_failures": [0], "drift_flags": [0]}))
    loaded = catalog.load("profiling_summary_report")
    assert loaded["source_version"].tolist() == ["20261126"]
    assert "<td>20261126</td>" in next(iter(render_index(loaded, "v").values()))


def test_the_lake_tables_record_is_made_from_scans_and_loads_lazy_scans(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cripto_platform.datasets.lake_scan import LakeScanDataset, LakeTablesDataset
    from cripto_platform.pipelines.ingestion.common import record_lake_tables

    tables = {"t": {"path": str(tmp_path / "t"), "table": "rows"}, "u": {"path": str(tmp_path / "u"), "table": "rows"}}
    dataset = LakeTablesDataset(filepath=str(tmp_path / "written/record.json"), tables=tables)
    assert not dataset.exists()
    (tmp_path / "t/20240101/rows").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "t/20240101/rows/part-0.parquet")
    record = record_lake_tables("20240101", **{name: LakeScanDataset(name=name, **spec).load()
                                               for name, spec in tables.items()})
    assert record == {"t": {"table": "t", "version": "20240101", "rows": 3, "files": 1,
                            "bytes": (tmp_path / "t/20240101/rows/part-0.parquet").stat().st_size}}
    dataset.save(record)
    assert dataset.exists()
    sources = dataset.load()
    assert sources["t"].exists and sources["t"].version == "20240101" and len(sources["t"].files) == 1
    assert not sources["u"].exists  # never written: its profile reports it missing
    preview = dataset.preview()
    assert preview["data"][0][:3] == ["t", "20240101", 3]
