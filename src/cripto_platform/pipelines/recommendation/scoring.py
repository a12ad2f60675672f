"""Recommendation nodes: the Annoy index, its validation against exact neighbours, the batch recommendations."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cripto_platform.pipelines.recommendation import model
from cripto_platform.pipelines.recommendation.params import BatchParams, IndexParams, ValidationParams
from cripto_platform.recommender import (
    CompanyIndex,
    build_company_index,
    fill_with_popular,
    scoring_matrix,
    top_n_scores,
)
from cripto_platform.run_metadata import stamp_run

logger = logging.getLogger(__name__)


def _vector_array(vectors: pd.DataFrame) -> np.ndarray:
    return vectors.drop(columns="company_code").to_numpy(dtype=np.float64)


def popularity(metrics: pd.DataFrame) -> pd.DataFrame:
    """The fallback ranking: company_code and distinct paying clients, most popular first."""
    return metrics[["company_code", "clients"]].rename(columns={"clients": "popularity"}).reset_index(drop=True)


def build_index(vectors: pd.DataFrame, metrics: pd.DataFrame, params: IndexParams) -> CompanyIndex:
    """The Annoy index of the company vectors (angular, seeded, one build thread), not yet validated."""
    return build_company_index(_vector_array(vectors), vectors["company_code"].tolist(), popularity(metrics),
                               n_trees=params.n_trees, search_k=params.search_k, seed=params.seed)


# ------------------------------------------------------------------ validation


def validate_company_index(candidate: CompanyIndex, vectors: pd.DataFrame,
                           params: ValidationParams) -> tuple[CompanyIndex, dict[str, Any]]:
    """The index, checked: one item per company, recall@k against exact neighbours at least ``min_recall``."""
    codes = vectors["company_code"].tolist()
    n = candidate.index.get_n_items()
    if n != len(codes) or list(candidate.company_codes) != codes or len(set(codes)) != len(codes):
        raise ValueError(f"company index: {n} items for {len(codes)} companies ({len(set(codes))} distinct); "
                         "expected one item per company, in the order of company_vectors")
    array = _vector_array(vectors)
    k = min(params.k, n - 1)
    summary = {"items": n, "dimension": candidate.dimension, "n_trees": candidate.n_trees,
               "search_k": candidate.search_k, "k": k, "min_recall": params.min_recall}
    if k < 1:
        logger.warning("company index holds %d company: no neighbours to validate", n)
        return candidate, {**summary, "sample": 0, "recall_at_k": 1.0}
    rng = np.random.default_rng(params.seed)
    sample = np.sort(rng.choice(n, size=min(params.sample_size, n), replace=False))
    approximate = [candidate.neighbours(int(item), k)[0] for item in sample]
    recall = model.recall_against_exact(approximate, array, sample, k)
    summary.update(sample=int(len(sample)), recall_at_k=round(recall, 6))
    if recall < params.min_recall:
        raise ValueError(
            f"company index validation failed: recall@{k} {recall:.4f} against exact nearest neighbours on "
            f"{len(sample)} sampled companies is below recommendation.validation.min_recall {params.min_recall} "
            f"(n_trees={candidate.n_trees}, search_k={candidate.search_k}); the index was not saved"
        )
    logger.info("company index: %d items, recall@%d %.4f on %d sampled companies", n, k, recall, len(sample))
    return candidate, summary


# ------------------------------------------------------------------ batch output


def company_neighbours(company_index: CompanyIndex, params: IndexParams) -> sp.csr_matrix:
    """Company x company scoring matrix: the cosine of each company's ``neighbours`` nearest companies in
    the index, times the target's popularity prior (``popularity_alpha``; ``recommender.scoring_matrix``)."""
    return scoring_matrix(company_index, params.neighbours, params.popularity_alpha)


def recommend_for_clients(matrix: model.ClientCompanyMatrix, company_index: CompanyIndex,
                          neighbours: sp.csr_matrix, params: BatchParams) -> pd.DataFrame:
    """Top-n companies per client, one sparse product; slots left empty are filled from popularity."""
    positions = pd.Index(company_index.company_codes).get_indexer(matrix.company_codes)
    if (positions < 0).any():
        raise ValueError("company_index lacks companies of the client x company matrix; rebuild them together")
    counts = matrix.counts  # payments per client and company, columns moved to index positions
    history = sp.csr_matrix((counts.data, positions[counts.indices], counts.indptr),
                            shape=(counts.shape[0], len(company_index.company_codes)))
    history.sort_indices()
    items, scores = top_n_scores(history, neighbours, params.top_n)
    popular = pd.Index(company_index.company_codes).get_indexer(company_index.popularity["company_code"])
    items, from_popular = fill_with_popular(items, history, popular[popular >= 0])
    rows, ranks = np.nonzero(items >= 0)
    codes = np.asarray(company_index.company_codes, dtype=object)
    return pd.DataFrame({
        "external_client_id": matrix.client_ids[rows].astype(str),
        "rank": (ranks + 1).astype(np.int64),
        "company_code": codes[items[rows, ranks]].astype(str),
        "score": np.where(from_popular[rows, ranks], 0.0, scores[rows, ranks]),
        "source": np.where(from_popular[rows, ranks], "popular", "similar"),
    })


def publish_client_recommendations(recommendations: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """The batch recommendations stamped with ``run_id``/``run_started_at`` for the warehouse table."""
    rows = stamp_run(recommendations, run_metadata)
    return rows.astype({column: object for column in ("external_client_id", "company_code", "source")})
