"""A run tells what it did: a short summary at the end, planted sample-data rejects summarised, few log lines."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cripto_platform.hooks import RunSummaryHooks, _SampleDataWarnings

SMALL = {
    "clustering.sample_data.n_reservations": 600,
    "payments.sample_data.payments_per_day": 80,
    "ingestion.kaggle.source": "generator",
    "ingestion.kaggle.datasets.credit_risk.sample.n_rows": 300,
    "ingestion.kaggle.datasets.motor_temperature.sample.rows_per_profile": 20,
    "ingestion.kaggle.datasets.citesum.sample.n_papers": 100,
    "ingestion.sales.sample.n_sales_per_month": 100,
}


# The start of the WARNING lines planted rows cause (from a real source they stay warnings).
PLANTED_WARNINGS = ("quarantined", "credit_risk/", "sales/", "crypto silver")


def _warnings(output: str) -> list[str]:
    return [line.split("WARNING", 1)[1].strip() for line in output.splitlines() if "WARNING" in line]


def _kedro_run(project: Path, *args: str, env: dict | None = None, start_method: str | None = None) -> str:
    """``kedro run <args>`` through the CLI in ``project`` with a warehouse of its own (as on a fresh clone: the
    session's server holds other tests' watermarks, after which a payments window can be empty).
    ``start_method``: multiprocessing's default for the run ("spawn" is macOS's)."""
    from cripto_platform.warehouse import stop_embedded_server

    pgdata = project / "pgdata"
    run_env = {**os.environ, "COLUMNS": "80", "KEDRO_DISABLE_TELEMETRY": "1", "CRIPTO_WAREHOUSE_PGDATA": str(pgdata),
               **(env or {})}
    command = [str(Path(sys.executable).with_name("kedro"))]
    if start_method:  # the kedro CLI, after setting multiprocessing's default start method
        command = [sys.executable, "-c", "import multiprocessing, sys; multiprocessing.set_start_method(sys.argv[1]); "
                   "sys.argv = ['kedro', *sys.argv[2:]]; from kedro.framework.cli import main; main()", start_method]
    try:
        result = subprocess.run([*command, "run", *args], cwd=project, env=run_env, capture_output=True, text=True,
                                timeout=600)
    finally:
        stop_embedded_server(pgdata)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.mark.integration
def test_default_kedro_run_prints_a_summary_and_no_warning_for_planted_rows(kedro_project):
    """``kedro run`` (every pipeline) through the CLI, as a newcomer runs it, on an 80-column non-terminal."""
    output = _kedro_run(kedro_project, "--params", ",".join(f"{key}={value}" for key, value in SMALL.items()))
    lines = output.splitlines()
    summary = output[output.index("Run summary:"):]
    assert "nodes completed in" in summary
    for pipeline in ("clustering", "ingestion", "payments", "profiling", "recommendation"):
        assert any(line.startswith(f"  {pipeline} ") and "wrote" in line for line in summary.splitlines()), summary
    assert "warehouse payments_l0" in summary and "data/08_reporting" in summary
    # The generators' planted rows: counted in the summary, not one WARNING line per file.
    for planted in ("reservations: ", "credit_risk: ", "sales: ", "payments: "):
        assert any(line.strip().startswith(planted) and "planted" in line and "(sample data" in line
                   for line in summary.splitlines()), (planted, summary)
    # (A run this small may warn about other things, e.g. companies with too few payments for a vector.)
    assert not [line for line in _warnings(output) if line.startswith(PLANTED_WARNINGS)], output
    # No per-node / per-dataset lines from kedro: the whole run reads in a screenful or three.
    assert "Running node" not in output and "Loading data from" not in output
    # ~160 lines plus one progress line per model-selection fit and per profiled table
    assert len(lines) < 300, f"{len(lines)} lines:\n{output}"


PAYMENTS_SMALL = "payments.sample_data.payments_per_day=80,payments.window.lookback_days=20"


@pytest.mark.integration
@pytest.mark.parametrize(("runner", "start_method"), [("ParallelRunner", None), ("ParallelRunner", "spawn"),
                                                      ("cripto_platform.runners.DaskRunner", None)])
def test_planted_rows_are_summarised_when_nodes_run_in_other_processes(kedro_project, runner, start_method):
    """ParallelRunner's workers (forked, or spawned as on macOS, where Kedro 1.7 registered no project hooks and the
    summary said "nothing was written") and Dask's worker processes log the quarantine warning and see the saved
    quarantine: neither a WARNING line there nor a summary here without the planted rows."""
    output = _kedro_run(kedro_project, "--runner", runner, "--pipeline", "payments", "--params", PAYMENTS_SMALL,
                        start_method=start_method)
    summary = output[output.index("Run summary:"):]
    assert not [line for line in _warnings(output) if line.startswith(PLANTED_WARNINGS)], output
    planted = [line.strip() for line in summary.splitlines() if line.strip().startswith("payments: ")]
    assert planted and "planted bad rows quarantined (sample data" in planted[0], summary
    assert any(line.startswith("  payments ") and "quarantined" in line for line in summary.splitlines()), summary
    assert "warehouse payments_l0" in summary
    assert "Unable to create statistics" not in output  # kedro-viz's stateless hook in spawned workers


@pytest.mark.integration
def test_real_source_rejects_still_warn_under_parallel_runner(kedro_project):
    """The same rows from the payments API (a real source) stay a WARNING line, and the summary points at it."""
    from cripto_platform.sources.payments_api import PaymentsApiServer, serve_in_thread

    server = PaymentsApiServer(("127.0.0.1", 0), generator={"payments_per_day": 80})
    serve_in_thread(server)
    try:
        output = _kedro_run(kedro_project, "--runner", "ParallelRunner", "--pipeline", "payments",
                            "--params", f"{PAYMENTS_SMALL},payments.source.kind=api",
                            env={"CRIPTO_PAYMENTS_API_URL": server.url})
    finally:
        server.shutdown()
        server.server_close()
    summary = output[output.index("Run summary:"):]
    assert [line for line in _warnings(output) if line.startswith("quarantined")], output
    assert "payments_quarantine: " in summary and "(see the warnings above)" in summary, summary
    assert "planted" not in summary


def _record(logger: str, msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord(logger, logging.WARNING, __file__, 1, msg, args, None)


def test_planted_rows_warning_is_demoted_only_for_a_sample_source():
    name = "cripto_platform.pipelines.ingestion.common"
    template = "%s: %d rows kept, %d quarantined (lines %s); see dataset '%s_quarantine'"
    sales = _record(name, template, "sales/20240101/ventas/ventas_202401.csv", 98, 2, "2, 9", "sales")
    credit = _record(name, template, "credit_risk/20240101/credit_risk_dataset.csv", 98, 2, "2, 9", "credit_risk")
    log_filter = _SampleDataWarnings(name, {"sales": True, "kaggle": False})
    assert log_filter.filter(sales) is False and sales.levelno == logging.DEBUG  # summarised instead
    assert log_filter.filter(credit) is True and credit.levelno == logging.WARNING  # real data: stays a warning
    other = _record(name, "lake root '%s' does not exist", "s3://x")
    assert log_filter.filter(other) is True and other.levelno == logging.WARNING


def test_a_sales_folder_set_in_the_catalog_is_a_real_source(tmp_path):
    """Whatever sets the folder (an environment's catalog, a local override, the runtime parameter), the sales
    rejects stay warnings: the hook asks the catalog's dataset, not the parameter."""
    from kedro.io import DataCatalog

    from cripto_platform.datasets import SourceFolderDataset
    from cripto_platform.hooks import _sample_sources

    folder = SourceFolderDataset(path=str(tmp_path), dataset="text.TextDataset")
    pipeline = _Pipeline([])
    assert _sample_sources({}, pipeline, DataCatalog({"sales_source": folder}))["sales"] is False
    none = SourceFolderDataset(path=None, dataset="text.TextDataset")
    assert _sample_sources({}, pipeline, DataCatalog({"sales_source": none}))["sales"] is True
    assert _sample_sources({}, pipeline, DataCatalog({}))["sales"] is True


class _Node:
    def __init__(self, name, namespace=None, tags=()):
        self.name, self.namespace, self.tags = name, namespace, set(tags)


class _Pipeline:
    def __init__(self, nodes, outputs=()):
        self.nodes, self._outputs = nodes, set(outputs)

    def all_outputs(self):
        return self._outputs


class _Catalog(dict):
    def get(self, name):
        return self[name]

    def load(self, name):
        return self[name]


class _Dataset:
    def __init__(self, **described):
        self.described = described

    def _describe(self):
        return self.described


def test_summary_counts_rows_locations_and_real_rejects(tmp_path, monkeypatch):
    """A failed run still says what was written before the failure; real rejects point at the warnings."""
    from kedro.framework import project

    node = _Node("validate_payments_batch")
    monkeypatch.setattr(project, "pipelines", {"payments": _Pipeline([node]), "__default__": _Pipeline([node])})
    catalog = _Catalog({
        "parameters": {"payments": {"source": {"kind": "api"}}},
        "payments_quarantine": _Dataset(filepath=tmp_path / "data/02_intermediate/quarantine/payments.parquet"),
        "payments_l0@scd2": _Dataset(table="payments_l0"),
    })
    hooks = RunSummaryHooks()
    hooks.before_pipeline_run({"project_path": str(tmp_path), "run_id": "2024-01-01T00.00.00.000Z"},
                              _Pipeline([node], ["payments_quarantine", "payments_l0@scd2"]), catalog)
    hooks.after_dataset_saved("payments_l0@scd2", pd.DataFrame({"a": range(5)}), node)
    hooks.after_dataset_saved("payments_quarantine", pd.DataFrame({"quarantine_reason": ["x", "y"]}), node)
    text = hooks.summary(RuntimeError("merge refused\nsecond line"))
    assert text.splitlines()[0].startswith("Run summary: 1 nodes FAILED in ")
    assert "error: RuntimeError: merge refused" in text and "second line" not in text
    assert any(line.split() == ["payments", "wrote", "5", "rows", "to", "2", "datasets;", "quarantined", "2"]
               for line in text.splitlines()), text
    assert "-> data/02_intermediate/quarantine, warehouse payments_l0" in text
    assert "payments_quarantine: 2 rows quarantined (see the warnings above)" in text
    assert "planted" not in text  # the API is a real source
