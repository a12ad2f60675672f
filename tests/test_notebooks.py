"""Each exploration notebook runs top to bottom against a project where its pipeline has run."""

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import PROJECT_ROOT, run_kedro

pytestmark = pytest.mark.integration

INGESTION_SMALL = {
    "ingestion.kaggle.source": "generator",
    "ingestion.kaggle.datasets.credit_risk.sample.n_rows": 300,
    "ingestion.kaggle.datasets.motor_temperature.sample.rows_per_profile": 20,
    "ingestion.kaggle.datasets.citesum.sample.n_papers": 100,
    "ingestion.sales.sample.n_sales_per_month": 100,
}


def _days_ahead(days: int) -> str:
    """A process time after the first run's (now), so the second payments merge closes versions."""
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


# notebook -> the runs (pipeline, params) it explores, in order
NOTEBOOK_PIPELINES = {
    "clustering.ipynb": [("clustering", {"clustering.sample_data.n_reservations": 600})],
    "payments.ipynb": [
        ("payments", {"payments.sample_data.payments_per_day": 80}),
        ("payments", {"payments.sample_data.payments_per_day": 80, "payments.window.process_time": _days_ahead(5)}),
    ],
    "recommendation.ipynb": [("payments", {"payments.sample_data.payments_per_day": 200}), ("recommendation", {})],
    "ingestion.ipynb": [("ingestion", INGESTION_SMALL)],
    "profiling.ipynb": [("ingestion", INGESTION_SMALL), ("profiling", {})],
}
PLOTLY_MIMETYPES = ("application/vnd.plotly.v1+json", "text/html")


@pytest.fixture
def own_warehouse(kedro_project, tmp_path_factory, monkeypatch):
    """A warehouse of the notebook's own: its runs (a payments merge days ahead) leave the session's server as it was."""
    from cripto_platform.warehouse import ENV_PGDATA, stop_embedded_server

    pgdata = tmp_path_factory.mktemp("notebook-pgdata")
    monkeypatch.setenv(ENV_PGDATA, str(pgdata))
    yield pgdata
    stop_embedded_server(pgdata)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PIPELINES))
def test_notebook_runs_on_the_catalog(notebook, kedro_project, own_warehouse):
    """Executed headless by a real Jupyter kernel, as Jupyter would run it (outputs are not saved)."""
    import nbformat
    from nbclient import NotebookClient

    for pipeline, params in NOTEBOOK_PIPELINES[notebook]:
        run_kedro(kedro_project, pipeline, params)
    document = nbformat.read(PROJECT_ROOT / "notebooks" / notebook, as_version=4)
    assert all(not cell.get("outputs") for cell in document.cells if cell.cell_type == "code"), \
        f"{notebook} is committed with outputs"
    # As Jupyter runs it: the working directory is notebooks/ (the project is found from there).
    # The kernel inherits this process's environment (the test's embedded warehouse).
    workdir = kedro_project / "notebooks"
    workdir.mkdir(exist_ok=True)
    NotebookClient(document, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = [output for cell in document.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    assert any(output.get("output_type") in ("execute_result", "display_data") for output in outputs)
    figures = [output for output in outputs if output.get("output_type") in ("execute_result", "display_data")
               and "application/vnd.plotly.v1+json" in output.get("data", {})
               or "plotly" in str(output.get("data", {}).get("text/html", ""))]
    assert figures, f"{notebook} drew no plotly figure ({PLOTLY_MIMETYPES})"
