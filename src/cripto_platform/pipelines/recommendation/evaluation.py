"""Offline evaluation: a time holdout, five recommenders as independent nodes, one report and its chart.

Each client's latest payments are held out (the last ``holdout.days`` of the window, or each client's
last ``holdout.last`` payments); every recommender is trained on the rest and asked for ``k``
companies per client. What is scored is the discovery of *new* companies: a held-out company the
client had already paid in training is not a target (no recommender here proposes a paid company).
Clients are evaluated when they have training payments and at least one new held-out company.

The metric definitions are ``implicit.evaluation.ranking_metrics_at_k``'s, over the same clients:
precision = hits / sum of min(k, held-out companies) over all clients (pooled); MAP = mean over
clients of (sum of precision at each hit) / min(k, held-out); NDCG = mean of DCG / ideal DCG with
1 / log2(rank + 1) gains. Recall (mean of hits / held-out) and catalogue coverage (distinct companies
recommended / companies) are added.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.utils import ParameterWarning

from cripto_platform.pipelines.recommendation import model
from cripto_platform.pipelines.recommendation.params import EvaluationParams, IndexParams, MatrixParams, VectorParams
from cripto_platform.recommender import build_company_index, fill_with_popular, scoring_matrix, top_n_scores

logger = logging.getLogger(__name__)

METRICS = ("precision", "recall", "map", "ndcg", "coverage")
BASELINE = "item_cosine"


@dataclass(frozen=True)
class Holdout:
    """Training matrices over the window's clients and companies, and the held-out new companies."""

    train: model.ClientCompanyMatrix
    test: sp.csr_matrix  # binary; rows only for evaluated clients
    summary: dict


def split_holdout(payments: pd.DataFrame, params: EvaluationParams) -> Holdout:
    """Hold out each client's latest payments by time; the targets are new companies in the holdout."""
    ordered = payments.sort_values(["payment_at", "payment_id"], kind="stable")
    holdout = params.holdout
    if holdout.by == "days":
        cutoff = ordered["payment_at"].max() - pd.Timedelta(days=holdout.days)
        held = (ordered["payment_at"] > cutoff).to_numpy()
        rule = {"by": "days", "days": holdout.days, "cutoff": cutoff.isoformat()}
    else:
        from_end = ordered.groupby("external_client_id", sort=False).cumcount(ascending=False)
        held = (from_end < holdout.last).to_numpy()
        rule = {"by": "last", "last": holdout.last}
    clients = np.asarray(sorted(payments["external_client_id"].unique()), dtype=object)
    companies = np.asarray(sorted(payments["company_code"].unique()), dtype=object)
    train = model.client_company_matrix(ordered.loc[~held], clients, companies)
    later = model.client_company_matrix(ordered.loc[held], clients, companies).counts != 0
    paid_before = train.counts != 0
    new = sp.csr_matrix(later.astype(np.float64) - later.multiply(paid_before).astype(np.float64))
    new.eliminate_zeros()
    evaluated = (np.diff(new.indptr) > 0) & (np.diff(train.counts.indptr) > 0)
    test = sp.diags(evaluated.astype(np.float64)) @ new
    test = sp.csr_matrix(test)
    test.eliminate_zeros()
    summary = {
        **rule,
        "train_payments": int((~held).sum()),
        "held_out_payments": int(held.sum()),
        "clients_with_held_out_payments": int((np.diff(later.tocsr().indptr) > 0).sum()),
        "clients_evaluated": int(evaluated.sum()),
        "held_out_new_pairs": int(test.nnz),
    }
    logger.info("holdout %s: %d clients evaluated on %d new (client, company) pairs", rule, evaluated.sum(), test.nnz)
    return Holdout(train=train, test=test, summary=summary)


def ranking_metrics(recommended: np.ndarray, test: sp.csr_matrix, k: int) -> dict[str, Any]:
    """precision/MAP/NDCG as implicit's ``ranking_metrics_at_k``, plus recall and coverage, at ``k``.

    ``recommended`` is clients x (>= k) item positions, -1 for an empty slot; clients without
    held-out items are skipped.
    """
    test = sp.csr_matrix(test)
    users = np.flatnonzero(np.diff(test.indptr))
    if len(users) == 0:
        return {"clients": 0, **{metric: None for metric in METRICS}}
    recs = np.full((len(users), k), -1, dtype=np.int64)
    width = min(k, recommended.shape[1])
    recs[:, :width] = recommended[users, :width]
    held = test[users]
    hits = np.zeros(recs.shape, dtype=bool)
    rows, slots = np.nonzero(recs >= 0)
    hits[rows, slots] = np.asarray(held[rows, recs[rows, slots]]).ravel() != 0
    positives = np.diff(held.indptr)
    denominator = np.minimum(k, positives)
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(gains)[denominator - 1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        "clients": int(len(users)),
        "precision": float(hits.sum() / denominator.sum()),
        "recall": float(np.mean(hits.sum(axis=1) / positives)),
        "map": float(np.mean((precision_at * hits).sum(axis=1) / denominator)),
        "ndcg": float(np.mean((hits * gains).sum(axis=1) / ideal)),
        "coverage": float(len(np.unique(recs[recs >= 0])) / test.shape[1]),
    }


def _evaluated(holdout: Holdout) -> np.ndarray:
    return np.flatnonzero(np.diff(holdout.test.indptr))


def _result(name: str, description: str, recommended: np.ndarray, holdout: Holdout, k: int,
            started: float) -> dict[str, Any]:
    metrics = ranking_metrics(recommended, holdout.test, k)
    logger.info("evaluation %s: %s", name, {key: value for key, value in metrics.items()})
    return {"name": name, "description": description, **metrics, "seconds": round(time.perf_counter() - started, 3)}


def _vector_recommender(holdout: Holdout, matrix: MatrixParams, vectors: VectorParams, index: IndexParams,
                        params: EvaluationParams, method: str) -> dict[str, Any]:
    started = time.perf_counter()
    users = _evaluated(holdout)
    recommended = np.full((holdout.test.shape[0], params.k), -1, dtype=np.int64)
    active = np.flatnonzero(holdout.train.counts.getnnz(axis=0))  # companies with training payments
    if len(users) and len(active) > 1:
        train = holdout.train.columns(active)
        weighted = model.weight_matrix(train.values(matrix.weight), matrix.weighting, matrix.bm25_k1, matrix.bm25_b)
        cooc = model.cooccurrence(weighted)
        embedded = model.company_vectors(
            train, weighted, cooc, method=method, vector_dim=vectors.vector_dim, seed=vectors.seed,
            metrics_weight=vectors.metrics_weight, als_iterations=vectors.als_iterations,
            als_regularization=vectors.als_regularization, als_alpha=vectors.als_alpha)
        clients = train.counts.getnnz(axis=0)  # the popularity the published index keeps: distinct clients
        order = np.lexsort((np.arange(len(clients)), -clients))
        popular = pd.DataFrame({"company_code": train.company_codes[order].astype(str), "popularity": clients[order]})
        company_index = build_company_index(embedded, list(train.company_codes.astype(str)), popular,
                                            n_trees=index.n_trees, search_k=index.search_k, seed=index.seed)
        similarity = scoring_matrix(company_index, index.neighbours, index.popularity_alpha)
        items, _ = top_n_scores(train.counts[users], similarity, params.k)
        recommended[users] = np.where(items >= 0, active[np.clip(items, 0, None)], -1)
    description = (f"Annoy over {method.upper()} company vectors ({vectors.vector_dim} dims, {matrix.weighting} "
                   f"weighting of {matrix.weight}), {index.neighbours} neighbours, popularity prior alpha "
                   f"{index.popularity_alpha:g}, recommender.top_n_scores")
    return _result(f"annoy_{method}", description, recommended, holdout, params.k, started)


def evaluate_svd_recommender(holdout: Holdout, matrix: MatrixParams, vectors: VectorParams, index: IndexParams,
                             params: EvaluationParams) -> dict[str, Any]:
    """This recommender with SVD vectors: Annoy neighbours + ``top_n_scores``, trained on the holdout's train part."""
    return _vector_recommender(holdout, matrix, vectors, index, params, "svd")


def evaluate_als_recommender(holdout: Holdout, matrix: MatrixParams, vectors: VectorParams, index: IndexParams,
                             params: EvaluationParams) -> dict[str, Any]:
    """This recommender with ALS vectors: Annoy neighbours + ``top_n_scores``, trained on the holdout's train part."""
    return _vector_recommender(holdout, matrix, vectors, index, params, "als")


def _implicit_recommender(name: str, description: str, recommender, holdout: Holdout, matrix: MatrixParams,
                          params: EvaluationParams) -> dict[str, Any]:
    started = time.perf_counter()
    train = sp.csr_matrix(holdout.train.values(matrix.weight), dtype=np.float64)
    with warnings.catch_warnings():  # implicit's own fit hands itself a transposed (COO) matrix and warns
        warnings.simplefilter("ignore", ParameterWarning)
        recommender.fit(train, show_progress=False)
    users = _evaluated(holdout)
    recommended = np.full((holdout.test.shape[0], params.k), -1, dtype=np.int64)
    if len(users):
        ids, _ = recommender.recommend(users, train[users], N=params.k)
        recommended[users, : ids.shape[1]] = ids
    return _result(name, description, recommended, holdout, params.k, started)


def evaluate_cosine_recommender(holdout: Holdout, matrix: MatrixParams, index: IndexParams,
                                params: EvaluationParams) -> dict[str, Any]:
    """implicit's exact item-item ``CosineRecommender`` (K = neighbours + the item itself)."""
    from implicit.nearest_neighbours import CosineRecommender

    return _implicit_recommender(BASELINE, f"implicit CosineRecommender (exact item-item, K={index.neighbours + 1})",
                                 CosineRecommender(K=index.neighbours + 1, num_threads=1), holdout, matrix, params)


def evaluate_bm25_recommender(holdout: Holdout, matrix: MatrixParams, index: IndexParams,
                              params: EvaluationParams) -> dict[str, Any]:
    """implicit's exact item-item ``BM25Recommender`` with the matrix block's K1 and B."""
    from implicit.nearest_neighbours import BM25Recommender

    recommender = BM25Recommender(K=index.neighbours + 1, K1=matrix.bm25_k1, B=matrix.bm25_b, num_threads=1)
    return _implicit_recommender("item_bm25", f"implicit BM25Recommender (exact item-item, K={index.neighbours + 1}, "
                                 f"K1={matrix.bm25_k1}, B={matrix.bm25_b})", recommender, holdout, matrix, params)


def evaluate_popularity_recommender(holdout: Holdout, params: EvaluationParams) -> dict[str, Any]:
    """Baseline: the companies with the most distinct training clients that the client does not pay yet."""
    started = time.perf_counter()
    users = _evaluated(holdout)
    counts = holdout.train.counts
    clients = counts.getnnz(axis=0)
    popular = np.lexsort((np.arange(len(clients)), -clients))
    recommended = np.full((holdout.test.shape[0], params.k), -1, dtype=np.int64)
    if len(users):
        empty = np.full((len(users), params.k), -1, dtype=np.int64)
        recommended[users], _ = fill_with_popular(empty, counts[users], popular[clients[popular] > 0])
    return _result("popularity", "most distinct paying clients in training, unpaid ones", recommended, holdout,
                   params.k, started)


def assemble_recommendation_evaluation(inputs: dict, index_validation: dict, holdout: Holdout, svd: dict, als: dict,
                               cosine: dict, bm25: dict, popular: dict, vectors: VectorParams,
                               params: EvaluationParams, run_metadata: dict[str, str]) -> dict[str, Any]:
    """One JSON report: inputs (window, quarantine), the index check, and every recommender's metrics."""
    results = {result["name"]: result for result in (svd, als, cosine, bm25, popular)}
    baseline = results[BASELINE]["precision"]
    for result in results.values():
        precision = result["precision"]
        result["precision_vs_item_cosine"] = (round(precision / baseline, 4) if precision is not None and baseline
                                              else None)
    return {
        "run_id": run_metadata["run_id"],
        "run_started_at": run_metadata["started_at"],
        "input": inputs,
        "index": {**index_validation, "vector_method": vectors.method, "vector_dim": vectors.vector_dim},
        "evaluation": {
            "k": params.k,
            "holdout": holdout.summary,
            "published_recommender": f"annoy_{vectors.method}",
            "definitions": "precision, map, ndcg as implicit.evaluation.ranking_metrics_at_k; recall = mean "
                           "hits / held-out new companies; coverage = distinct recommended / companies",
            "recommenders": results,
        },
    }


def chart_recommendation_evaluation(report: dict[str, Any]):
    """Grouped bars: each recommender's precision, recall, MAP, NDCG and coverage at k (kedro-viz shows it)."""
    import plotly.graph_objects as go

    evaluation = report["evaluation"]
    figure = go.Figure()
    for name, result in evaluation["recommenders"].items():
        label = f"{name} (published)" if name == evaluation["published_recommender"] else name
        figure.add_bar(name=label, x=[f"{metric}@{evaluation['k']}" for metric in METRICS],
                       y=[result[metric] for metric in METRICS])
    holdout = evaluation["holdout"]
    figure.update_layout(
        barmode="group", yaxis_title="score", template="plotly_white",
        title=f"Recommenders on a holdout ({holdout.get('clients_evaluated', 0)} clients, "
              f"{holdout.get('held_out_new_pairs', 0)} new companies held out); run {report['run_id'][:8]}",
    )
    return figure
