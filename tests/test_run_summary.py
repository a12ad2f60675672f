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


@pytest.mark.integration
def test_default_kedro_run_prints_a_summary_and_no_warning_for_planted_rows(kedro_project):
    """``kedro run`` (every pipeline) through the CLI, as a newcomer runs it, on an 80-column non-terminal."""
    from cripto_platform.warehouse import stop_embedded_server

    params = ",".join(f"{key}={value}" for key, value in SMALL.items())
    # A warehouse of its own, as on a fresh clone: the session's server holds other tests' watermarks, after
    # which this run's payments window can be empty (and then there are no planted rows to summarise).
    pgdata = kedro_project / "pgdata"
    env = {**os.environ, "COLUMNS": "80", "KEDRO_DISABLE_TELEMETRY": "1", "CRIPTO_WAREHOUSE_PGDATA": str(pgdata)}
    kedro = Path(sys.executable).with_name("kedro")
    try:
        result = subprocess.run([str(kedro), "run", "--params", params], cwd=kedro_project, env=env,
                                capture_output=True, text=True, timeout=600)
    finally:
        stop_embedded_server(pgdata)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
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
    planted_starts = ("quarantined", "credit_risk/", "sales/", "crypto silver")
    warnings = [line.split("WARNING", 1)[1].strip() for line in lines if "WARNING" in line]
    assert not [line for line in warnings if line.startswith(planted_starts)], output
    # No per-node / per-dataset lines from kedro: the whole run reads in a screenful or three.
    assert "Running node" not in output and "Loading data from" not in output
    # ~160 lines plus one progress line per model-selection fit and per profiled table
    assert len(lines) < 300, f"{len(lines)} lines:\n{output}"


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
