"""The recommendation model's steps on matrices: client x company, weighting, co-occurrence, vectors.

Everything here is a pure function of sparse matrices and arrays; ``nodes.py`` wraps them for the
pipeline and ``evaluation.py`` reuses them on the training part of a holdout split, so the model that
is evaluated is built by the same code as the model that is published.

Shapes: ``clients x companies`` matrices are always ``scipy.sparse`` (never dense); ``companies x
companies`` matrices are sparse too, and only the eigen-decomposition of a small one is dense.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

logger = logging.getLogger(__name__)

# Up to this many companies the co-occurrence is decomposed densely (exact, deterministic); above it
# by Lanczos (scipy's eigsh) with a seeded start vector.
DENSE_EIGEN_LIMIT = 2000
METRIC_FEATURES = ("log_payments", "log_clients", "log_average_amount")


@dataclass(frozen=True)
class ClientCompanyMatrix:
    """Who paid whom: ``counts`` (payments) and ``amounts`` (summed), rows ``client_ids``, columns ``company_codes``."""

    counts: sp.csr_matrix
    amounts: sp.csr_matrix
    client_ids: np.ndarray
    company_codes: np.ndarray

    def values(self, weight: str) -> sp.csr_matrix:
        """The matrix the model weighs: payment counts or summed amounts."""
        return self.counts if weight == "count" else self.amounts

    def columns(self, keep: np.ndarray) -> ClientCompanyMatrix:
        """The same clients, only the companies at positions ``keep``."""
        return ClientCompanyMatrix(self.counts[:, keep].tocsr(), self.amounts[:, keep].tocsr(),
                                   self.client_ids, self.company_codes[keep])


def client_company_matrix(payments: pd.DataFrame, client_ids=None, company_codes=None) -> ClientCompanyMatrix:
    """Payments (external_client_id, company_code, amount) as sparse clients x companies matrices.

    Axes default to the sorted distinct clients and companies of ``payments``; given axes must hold
    every client and company of ``payments``.
    """
    client_ids = np.asarray(sorted(payments["external_client_id"].unique()) if client_ids is None else client_ids,
                            dtype=object)
    company_codes = np.asarray(sorted(payments["company_code"].unique()) if company_codes is None else company_codes,
                               dtype=object)
    rows = pd.Index(client_ids).get_indexer(payments["external_client_id"])
    cols = pd.Index(company_codes).get_indexer(payments["company_code"])
    if (rows < 0).any() or (cols < 0).any():
        raise ValueError("payments hold clients or companies outside the given axes")
    shape = (len(client_ids), len(company_codes))
    counts = sp.csr_matrix((np.ones(len(payments)), (rows, cols)), shape=shape)  # duplicates are summed
    amounts = sp.csr_matrix((payments["amount"].to_numpy(dtype=np.float64), (rows, cols)), shape=shape)
    amounts.eliminate_zeros()
    return ClientCompanyMatrix(counts, amounts, client_ids, company_codes)


def weight_matrix(values: sp.csr_matrix, weighting: str, bm25_k1: float, bm25_b: float) -> sp.csr_matrix:
    """Weigh a clients x companies matrix as implicit's item-item recommenders do.

    ``raw``: as is; ``cosine``: every company column scaled to unit length (its Gram matrix is the
    cosine similarity); ``tfidf``: implicit's ``tfidf_weight`` (clients as terms), columns to unit
    length; ``bm25``: implicit's ``bm25_weight`` with ``K1``/``B`` (companies as documents).
    """
    from implicit.nearest_neighbours import bm25_weight, normalize, tfidf_weight

    values = sp.csr_matrix(values, dtype=np.float64)
    if weighting == "raw":
        weighted = values
    elif weighting == "cosine":
        weighted = normalize(values.T).T
    elif weighting == "tfidf":
        weighted = normalize(tfidf_weight(values.T)).T
    elif weighting == "bm25":
        weighted = bm25_weight(values.T, K1=bm25_k1, B=bm25_b).T
    else:
        raise ValueError(f"unknown weighting {weighting!r}; expected raw, cosine, tfidf or bm25")
    weighted = sp.csr_matrix(weighted)
    weighted.data = np.nan_to_num(weighted.data)
    weighted.eliminate_zeros()
    return weighted


def cooccurrence(weighted: sp.csr_matrix) -> sp.csr_matrix:
    """Companies x companies: the weighted co-occurrence ``W.T @ W`` (the diagonal is each company with itself)."""
    return (weighted.T @ weighted).tocsr()


def svd_vectors(cooc: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """Truncated SVD of the (symmetric, positive semi-definite) co-occurrence: ``U_k sqrt(S_k)`` per company.

    Their dot products approximate the co-occurrence, so their cosines approximate the weighted
    item-item cosine. Signs are fixed (largest entry of each component positive) so a rerun gives the
    same vectors; components beyond the number of companies are zero.
    """
    n = cooc.shape[0]
    k = min(dim, n)
    if n <= DENSE_EIGEN_LIMIT or k >= n - 1:
        values, vectors = np.linalg.eigh(cooc.toarray())
        order = np.argsort(-values, kind="stable")[:k]
    else:
        from scipy.sparse.linalg import eigsh

        start = np.random.default_rng(seed).uniform(0.5, 1.5, size=n)
        values, vectors = eigsh(cooc.astype(np.float64), k=k, which="LA", v0=start)
        order = np.argsort(-values, kind="stable")
    values, vectors = values[order], vectors[:, order]
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    signs[signs == 0] = 1
    embedded = vectors * signs * np.sqrt(np.clip(values, 0, None))
    return np.pad(embedded, ((0, 0), (0, dim - k)))


def als_vectors(weighted: sp.csr_matrix, dim: int, *, iterations: int, regularization: float, alpha: float,
                seed: int) -> np.ndarray:
    """implicit's ALS item factors (``dim`` wide): fixed ``random_state``, one thread, one BLAS thread."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=dim, regularization=regularization, alpha=alpha, iterations=iterations,
            calculate_training_loss=False, num_threads=1, random_state=seed,
        )
        model.fit(sp.csr_matrix(weighted, dtype=np.float32), show_progress=False)
    return np.asarray(model.item_factors, dtype=np.float64)


def metric_features(counts: sp.csr_matrix, amounts: sp.csr_matrix) -> np.ndarray:
    """Per company: standardised log payments, log distinct clients and log average amount."""
    payments = np.asarray(counts.sum(axis=0)).ravel()
    clients = np.diff(counts.tocsc().indptr)
    average = np.divide(np.asarray(amounts.sum(axis=0)).ravel(), payments, out=np.zeros_like(payments),
                        where=payments > 0)
    features = np.log1p(np.column_stack([payments, clients, np.clip(average, 0, None)]))
    spread = features.std(axis=0)
    return np.divide(features - features.mean(axis=0), spread, out=np.zeros_like(features), where=spread > 0)


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 length; an all-zero row (a company with no signal) stays zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors, dtype=np.float64), where=norms > 0)


def company_vectors(matrix: ClientCompanyMatrix, weighted: sp.csr_matrix, cooc: sp.csr_matrix, *, method: str,
                    vector_dim: int, seed: int, metrics_weight: float, als_iterations: int,
                    als_regularization: float, als_alpha: float) -> np.ndarray:
    """One L2-normalised vector per company, ``vector_dim`` wide: SVD or ALS, plus optional metric features.

    With ``metrics_weight > 0`` the last ``len(METRIC_FEATURES)`` components are the company's
    standardised metrics times ``metrics_weight`` (the first part normalised first, so the weight is
    relative to a unit vector); with 0 every component comes from the co-occurrence.
    """
    n_metrics = len(METRIC_FEATURES) if metrics_weight > 0 else 0
    base_dim = vector_dim - n_metrics
    if base_dim < 1:
        raise ValueError(f"recommendation.vectors.vector_dim {vector_dim} leaves no room beside "
                         f"{n_metrics} metric features; raise it or set metrics_weight to 0")
    if method == "svd":
        base = svd_vectors(cooc, base_dim, seed)
    elif method == "als":
        base = als_vectors(weighted, base_dim, iterations=als_iterations, regularization=als_regularization,
                           alpha=als_alpha, seed=seed)
    else:
        raise ValueError(f"unknown vector method {method!r}; expected svd or als")
    vectors = normalise_rows(base)
    if n_metrics:
        vectors = np.hstack([vectors, metrics_weight * metric_features(matrix.counts, matrix.amounts)])
    return normalise_rows(vectors)


def exact_neighbours(vectors: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: for each of ``items``, its ``k`` most cosine-similar other items and the k-th similarity."""
    unit = normalise_rows(vectors)
    similarity = unit[items] @ unit.T
    similarity[np.arange(len(items)), items] = -np.inf  # not itself
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    kth = np.take_along_axis(similarity, top[:, -1:], axis=1).ravel()
    return top, kth


def recall_against_exact(approximate: list[list[int]], vectors: np.ndarray, items: np.ndarray, k: int) -> float:
    """Share of the exact ``k`` nearest neighbours the approximate lists found (ties at the k-th count as found)."""
    unit = normalise_rows(vectors)
    _, kth = exact_neighbours(vectors, items, k)
    found = 0
    for row, (item, neighbours) in enumerate(zip(items, approximate)):
        neighbours = [other for other in neighbours if other != item][:k]
        similarity = unit[neighbours] @ unit[item] if neighbours else np.empty(0)
        found += int(np.sum(similarity >= kth[row] - 1e-6))
    return found / (len(items) * k)
