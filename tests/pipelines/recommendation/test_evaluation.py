"""Offline evaluation: the holdout, the metric definitions (checked against implicit), recommenders, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from implicit.evaluation import ranking_metrics_at_k
from implicit.nearest_neighbours import CosineRecommender

from cripto_platform.pipelines.recommendation import evaluation, nodes
from tests.pipelines.recommendation.conftest import params


@pytest.fixture(scope="module")
def usable(payments, companies):
    window, bounds = nodes.select_payments_window(payments, params("window"))
    return nodes.check_payments(window, bounds, companies)[0]


@pytest.fixture(scope="module")
def holdout(usable):
    return evaluation.split_holdout(usable, params("evaluation"))


def test_days_holdout_trains_before_the_cutoff_and_targets_new_companies(usable, holdout):
    cutoff = pd.Timestamp(holdout.summary["cutoff"])
    assert cutoff == usable["payment_at"].max() - pd.Timedelta(days=14)
    before = usable[usable["payment_at"] <= cutoff]
    after = usable[usable["payment_at"] > cutoff]
    assert holdout.train.counts.sum() == len(before) and holdout.summary["held_out_payments"] == len(after)
    clients, codes = list(holdout.train.client_ids), list(holdout.train.company_codes)
    paid_before = set(zip(before["external_client_id"], before["company_code"]))
    expected = {pair for pair in zip(after["external_client_id"], after["company_code"]) if pair not in paid_before}
    trained = set(before["external_client_id"])
    expected = {(client, company) for client, company in expected if client in trained}
    rows, cols = holdout.test.nonzero()
    assert {(clients[r], codes[c]) for r, c in zip(rows, cols)} == expected
    assert holdout.summary["held_out_new_pairs"] == len(expected) > 0


def test_last_k_holdout_holds_out_each_clients_latest_payments(usable):
    split = evaluation.split_holdout(usable, params("evaluation", holdout={"by": "last", "days": 14, "last": 2}))
    per_client = usable.groupby("external_client_id").size()
    assert split.summary["held_out_payments"] == int(np.minimum(per_client, 2).sum())
    assert split.train.counts.sum() == len(usable) - split.summary["held_out_payments"]


def test_ranking_metrics_on_a_hand_computed_case():
    test = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]))
    recommended = np.array([[2, 1], [3, 4], [0, 1]])
    result = evaluation.ranking_metrics(recommended, test, 2)
    # client 0: hit at rank 1 of 2 held out; client 1: hit at rank 2 of 1; client 2 has nothing held out
    assert result["clients"] == 2
    assert result["precision"] == pytest.approx(2 / (2 + 1))
    assert result["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert result["map"] == pytest.approx((1 / 2 + (1 / 2) / 1) / 2)
    ideal = 1 + 1 / np.log2(3)
    assert result["ndcg"] == pytest.approx((1 / ideal + (1 / np.log2(3)) / 1) / 2)
    assert result["coverage"] == pytest.approx(4 / 5)  # items 2, 1, 3, 4 recommended to the evaluated clients
    assert evaluation.ranking_metrics(recommended, sp.csr_matrix((3, 5)), 2)["precision"] is None


@pytest.mark.filterwarnings("ignore::implicit.utils.ParameterWarning")  # implicit's fit converting its own COO
def test_metrics_match_implicit_ranking_metrics_at_k(holdout):
    result = evaluation.evaluate_cosine_recommender(holdout, params("matrix", weight="count"), params("index"),
                                                    params("evaluation"))
    recommender = CosineRecommender(K=params("index").neighbours + 1, num_threads=1)
    train = sp.csr_matrix(holdout.train.counts, dtype=np.float64)
    recommender.fit(train, show_progress=False)
    reference = ranking_metrics_at_k(recommender, train, holdout.test, K=10, show_progress=False)
    assert result["clients"] == holdout.summary["clients_evaluated"] > 50
    assert result["precision"] == pytest.approx(reference["precision"], abs=1e-12)
    assert result["map"] == pytest.approx(reference["map"], abs=1e-12)
    assert result["ndcg"] == pytest.approx(reference["ndcg"], abs=1e-12)
    assert result["precision"] > 0.1


def test_every_recommender_is_scored_and_the_report_and_chart_assemble(holdout, run_metadata):
    matrix, vectors, index, eval_params = params("matrix"), params("vectors", vector_dim=8), params("index"), \
        params("evaluation")
    results = [
        evaluation.evaluate_svd_recommender(holdout, matrix, vectors, index, eval_params),
        evaluation.evaluate_als_recommender(holdout, matrix, vectors, index, eval_params),
        evaluation.evaluate_cosine_recommender(holdout, matrix, index, eval_params),
        evaluation.evaluate_bm25_recommender(holdout, matrix, index, eval_params),
        evaluation.evaluate_popularity_recommender(holdout, eval_params),
    ]
    for result in results:
        assert set(evaluation.METRICS) <= set(result) and 0 <= result["precision"] <= 1, result
    # The planted groups are learnable: item-item beats popularity on this data.
    by_name = {result["name"]: result for result in results}
    assert by_name["item_cosine"]["precision"] > by_name["popularity"]["precision"]
    assert by_name["annoy_svd"]["precision"] > by_name["popularity"]["precision"]
    report = evaluation.assemble_recommendation_evaluation({"payments_used": 1}, {"recall_at_k": 1.0}, holdout, *results,
                                                   vectors, eval_params, run_metadata)
    json.dumps(report)  # what json.JSONDataset writes
    assert report["evaluation"]["published_recommender"] == f"annoy_{vectors.method}"
    assert report["evaluation"]["recommenders"]["item_cosine"]["precision_vs_item_cosine"] == 1.0
    chart = evaluation.chart_recommendation_evaluation(report)
    assert len(chart.data) == 5 and any("(published)" in trace.name for trace in chart.data)
