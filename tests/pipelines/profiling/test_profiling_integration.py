"""ingestion (small) then profiling through KedroSession: files per run, links, schema, drift on the second run."""

from __future__ import annotations

import json
import re

import pytest

from cripto_platform.pipelines.profiling.tables import CANDIDATES
from tests.conftest import run_kedro
from tests.pipelines.profiling.conftest import validate
from tests.pipelines.ingestion.test_integration import SMALL

pytestmark = pytest.mark.integration

LAKE = [table.name for table in CANDIDATES if table.kind == "lake"]


def _run_folders(project):
    return sorted(p for p in (project / "data/08_reporting/profiling").iterdir() if p.is_dir())


def test_profiles_after_ingestion_with_drift_on_second_run(kedro_project, profile_schema):
    only_lake = {"profiling.tables.include": LAKE}
    run_kedro(kedro_project, "ingestion", {**SMALL, "ingestion.version": "20240301"})
    run_kedro(kedro_project, "profiling", only_lake)

    (first,) = _run_folders(kedro_project)
    assert {p.name for p in first.glob("*.json")} == {f"{t.name}.json" for t in CANDIDATES}
    assert {p.name for p in first.glob("*.html")} == {f"{t.name}.html" for t in CANDIDATES} | {"index.html"}
    profiles = {p.stem: json.loads(p.read_text()) for p in first.glob("*.json")}
    for profile in profiles.values():
        validate(profile, profile_schema)
    assert all(profiles[name]["status"] == "profiled" for name in LAKE)
    assert profiles["payments_l0"]["status"] == "skipped"
    loans = profiles["kaggle_credit_risk"]
    assert loans["source"]["version"] == "20240301" and loans["table_stats"]["rows"] == 400 - 3
    assert {c["name"] for c in loans["columns"]} >= {"loan_amnt", "loan_intent"}  # partition column included
    assert not loans["drift"]["compared"]
    facts = profiles["sales_facts"]
    assert facts["rules"] and {"rule", "passed", "failed_rows"} <= set(facts["rules"][0])

    index = (first / "index.html").read_text()
    links = set(re.findall(r'href="([^"]+)"', index))
    assert links == {f"{t.name}.html" for t in CANDIDATES}
    assert all((first / link).exists() for link in links)
    page = (first / "kaggle_credit_risk.html").read_text()
    assert "<svg" in page and "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")

    summary = sorted((kedro_project / "data/08_reporting/profiling_summary.csv").rglob("*.csv"))
    assert len(summary) == 1
    assert list((kedro_project / "data/08_reporting/profiling_summary_chart.json").rglob("*.json"))

    bigger = {**SMALL, "ingestion.kaggle.datasets.credit_risk.sample.n_rows": 900, "ingestion.version": "20240302"}
    run_kedro(kedro_project, "ingestion", bigger)
    run_kedro(kedro_project, "profiling", only_lake)
    earlier, second = _run_folders(kedro_project)
    assert earlier == first
    loans = json.loads((second / "kaggle_credit_risk.json").read_text())
    validate(loans, profile_schema)
    assert loans["source"]["version"] == "20240302"
    assert loans["drift"]["compared"] and loans["drift"]["previous_version"] == first.name
    flagged = {(c["kind"], c["column"]) for c in loans["drift"]["checks"] if c["flagged"]}
    assert ("row_count", None) in flagged
    assert "drift flags" in (second / "index.html").read_text()
