"""Each exploration notebook runs top to bottom against a project where its pipeline has run."""

import json

import pytest

from tests.conftest import PROJECT_ROOT, run_kedro

pytestmark = pytest.mark.integration

NOTEBOOK_PIPELINES = {
    "clustering.ipynb": ("clustering", {"clustering.sample_data.n_reservations": 600}),
    "payments.ipynb": ("payments", {"payments.sample_data.payments_per_day": 80}),
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


def _code_cells(notebook: str) -> list[str]:
    cells = json.loads((PROJECT_ROOT / "notebooks" / notebook).read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PIPELINES))
def test_notebook_runs_on_the_catalog(notebook, kedro_project):
    from IPython.core.interactiveshell import InteractiveShell

    pipeline, params = NOTEBOOK_PIPELINES[notebook]
    run_kedro(kedro_project, pipeline, params)
    shell = InteractiveShell.instance()
    try:
        for source in _code_cells(notebook):
            result = shell.run_cell(source, store_history=False)
            assert result.success, f"{notebook}: cell failed:\n{source}\n{result.error_in_exec or result.error_before_exec}"
        assert "catalog" in shell.user_ns
    finally:
        InteractiveShell.clear_instance()
