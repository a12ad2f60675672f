"""Each exploration notebook runs top to bottom against a project where its pipeline has run."""

import pytest

from tests.conftest import PROJECT_ROOT, run_kedro

pytestmark = pytest.mark.integration

NOTEBOOK_PIPELINES = {
    "clustering.ipynb": ("clustering", {"clustering.sample_data.n_reservations": 600}),
    "payments.ipynb": ("payments", {"payments.sample_data.payments_per_day": 80}),
    "recommendation.ipynb": (["payments", "recommendation"], {"payments.sample_data.payments_per_day": 200}),
    "ingestion.ipynb": (
        "ingestion",
        {
            "ingestion.kaggle.source": "generator",
            "ingestion.kaggle.datasets.credit_risk.sample.n_rows": 300,
            "ingestion.kaggle.datasets.motor_temperature.sample.rows_per_profile": 20,
            "ingestion.kaggle.datasets.citesum.sample.n_papers": 100,
            "ingestion.sales.sample.n_sales_per_month": 100,
        },
    ),
}


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PIPELINES))
def test_notebook_runs_on_the_catalog(notebook, kedro_project):
    """Executed headless by a real Jupyter kernel, as Jupyter would run it (outputs are not saved)."""
    import nbformat
    from nbclient import NotebookClient

    pipelines, params = NOTEBOOK_PIPELINES[notebook]
    for pipeline in [pipelines] if isinstance(pipelines, str) else pipelines:
        run_kedro(kedro_project, pipeline, params)
    document = nbformat.read(PROJECT_ROOT / "notebooks" / notebook, as_version=4)
    assert all(not cell.get("outputs") for cell in document.cells if cell.cell_type == "code"), \
        f"{notebook} is committed with outputs"
    # As Jupyter runs it: the working directory is notebooks/ (the project is found from there).
    # The kernel inherits this process's environment (the session's embedded warehouse).
    workdir = kedro_project / "notebooks"
    workdir.mkdir(exist_ok=True)
    NotebookClient(document, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = [output for cell in document.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    assert any(output.get("output_type") in ("execute_result", "display_data") for output in outputs)
