"""The recommendation pipeline wired end to end on an in-memory catalog (SequentialRunner)."""

from __future__ import annotations

import json

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from cripto_platform.pipelines.recommendation import create_pipeline
from cripto_platform.pipelines.recommendation.params import BLOCKS
from cripto_platform.recommender import CompanyIndex
from tests.conftest import without_check
from tests.pipelines.recommendation.conftest import params


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def memory_catalog(payments, companies, run_metadata, pipeline, **overrides) -> DataCatalog:
    catalog = DataCatalog({
        "payments_index": MemoryDataset(payments),
        "companies_l0": MemoryDataset(companies),
        "run_metadata": MemoryDataset(run_metadata),
        **{f"params:recommendation.{block}": MemoryDataset(params(block, **overrides.get(block, {})),
                                                            copy_mode="assign") for block in BLOCKS},
    })
    for name in pipeline.datasets() - set(catalog.keys()):
        catalog[name] = KeptDataset(copy_mode="assign")  # the Annoy index cannot be deep-copied
    return catalog


@pytest.mark.filterwarnings("ignore::implicit.utils.ParameterWarning")
def test_pipeline_runs_on_memory_datasets(payments, companies, run_metadata):
    # check_deliverables probes the warehouse table (client_recommendations_table, lazy): integration tests
    pipeline = without_check(create_pipeline())
    catalog = memory_catalog(payments, companies, run_metadata, pipeline)
    SequentialRunner().run(pipeline, catalog)

    index = catalog.load("company_index")
    assert isinstance(index, CompanyIndex) and len(index.company_codes) == 32
    recommendations = catalog.load("client_recommendations")
    assert recommendations["external_client_id"].nunique() == payments["external_client_id"].nunique()
    assert (recommendations.groupby("external_client_id").size() == params("batch").top_n).all()
    table = catalog.load("client_recommendations_table")
    assert (table["run_id"] == run_metadata["run_id"]).all() and len(table) == len(recommendations)
    report = catalog.load("recommendation_evaluation")
    json.dumps(report)
    assert report["run_id"] == run_metadata["run_id"]
    assert report["index"]["recall_at_k"] >= 0.95 and report["input"]["payments_used"] == len(payments)
    assert set(report["evaluation"]["recommenders"]) == {"annoy_svd", "annoy_als", "item_cosine", "item_bm25",
                                                         "popularity"}
    assert len(catalog.load("recommendation_evaluation_chart").data) == 5
    assert len(catalog.load("company_payment_metrics")) == 32
    assert len(catalog.load("client_payment_metrics")) == payments["external_client_id"].nunique()
    assert catalog.load("recommendation_quarantine").empty


def test_nothing_is_produced_when_the_window_is_empty(payments, companies, run_metadata):
    pipeline = create_pipeline()
    catalog = memory_catalog(payments, companies, run_metadata, pipeline,
                             window={"since": "2030-01-01T00:00:00Z"})
    with pytest.raises(ValueError, match="dataset 'payments_index' has no payments in the recommendation window"):
        SequentialRunner().run(pipeline, catalog)
    for output in ("company_index", "client_recommendations", "client_recommendations_table",
                   "recommendation_evaluation", "company_vectors"):
        assert not catalog.exists(output), output
