"""Recommendation nodes (seed 002): window and checks, metrics, client x company matrix, co-occurrence, vectors.

Pure functions on DataFrames and sparse matrices; the lake and the warehouse are reached through
catalog datasets. The matrix steps live in ``model.py``, the Annoy index, its validation and the batch
scoring in ``scoring.py``, the offline evaluation in ``evaluation.py``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cripto_platform.pipelines.recommendation import model
from cripto_platform.profiling.sources import ParquetSource
from cripto_platform.pipelines.recommendation.params import (
    MatrixParams,
    VectorParams,
    WindowParams,
)
from cripto_platform.run_metadata import stamp_run
from cripto_platform.run_metadata import utc_timestamp as _utc

logger = logging.getLogger(__name__)

SOURCE_DATASET = "payments_index"
COMPANIES_DATASET = "companies_l0"
REQUIRED_COLUMNS = ["payment_id", "company_code", "external_client_id", "amount", "payment_at"]
UNKNOWN_COMPANY = f"company_code not in {COMPANIES_DATASET}"
NULL_CLIENT = "null external_client_id"
BAD_AMOUNT = "null or negative amount"
NULL_PAID_AT = "null payment_at"


# ------------------------------------------------------------------ inputs


def select_payments_window(
    payments: pd.DataFrame | ParquetSource, params: WindowParams
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Payments with ``payment_at`` in ``[since, newest payment]`` and that window; an empty one fails naming the dataset.

    ``payments_index`` loads lazily (a ``ParquetSource``): it is read here."""
    if isinstance(payments, ParquetSource):
        if not payments.exists:
            raise ValueError(f"dataset '{SOURCE_DATASET}' is not written yet ({payments.location}): "
                             "run `kedro run --pipeline payments` first")
        payments = payments.to_pandas()
    missing = [column for column in REQUIRED_COLUMNS if column not in payments.columns]
    if missing:
        raise ValueError(f"dataset '{SOURCE_DATASET}' lacks columns {missing}; expected {REQUIRED_COLUMNS}")
    paid_at = pd.to_datetime(payments["payment_at"], utc=True)
    if paid_at.notna().sum() == 0:
        raise ValueError(
            f"dataset '{SOURCE_DATASET}' has no payments (with a payment_at) at all: the recommendation window "
            f"(recommendation.window.since={params.since}, lookback_days={params.lookback_days} before the newest "
            "payment) is empty; nothing was written, the previous company_index and client_recommendations stand"
        )
    until = paid_at.max()
    since = _utc(params.since) if params.since is not None else until - pd.Timedelta(days=params.lookback_days)
    inside = paid_at.between(since, until).to_numpy()
    if not inside.any():
        raise ValueError(
            f"dataset '{SOURCE_DATASET}' has no payments in the recommendation window [{since.isoformat()}, "
            f"{until.isoformat()}] (recommendation.window.since={params.since}; its newest payment is "
            f"{until.isoformat()}); nothing was written, the previous company_index and client_recommendations stand"
        )
    undated = paid_at.isna().to_numpy()  # kept so that check_payments quarantines and counts them
    window = payments.loc[inside | undated].reset_index(drop=True)
    window["payment_at"] = paid_at[inside | undated].to_numpy()
    logger.info("recommendation window [%s, %s]: %d of %d payments", since.isoformat(), until.isoformat(),
                len(window), len(payments))
    return window, {"since": since.isoformat(), "until": until.isoformat()}


def check_payments(window: pd.DataFrame, bounds: dict[str, str],
                   companies: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Usable payments, the rest with a reason (unknown company, null client, bad amount), and their counts."""
    known = set(companies["company_code"].astype(str))
    codes = window["company_code"].astype("string")
    checks = {
        UNKNOWN_COMPANY: ~codes.isin(known).fillna(False).to_numpy(dtype=bool),
        NULL_CLIENT: window["external_client_id"].isna().to_numpy(),
        BAD_AMOUNT: (window["amount"].isna() | (window["amount"] < 0)).to_numpy(dtype=bool),
        NULL_PAID_AT: window["payment_at"].isna().to_numpy(),
    }
    reasons = np.full(len(window), "", dtype=object)
    for reason, mask in checks.items():
        reasons[mask] = np.where(reasons[mask] == "", reason, reasons[mask] + "; " + reason)
    bad = reasons != ""
    rejected = window.loc[bad].copy()
    rejected["quarantine_reason"] = reasons[bad]
    usable = window.loc[~bad].reset_index(drop=True)
    usable = usable.astype({"company_code": str, "external_client_id": str, "amount": "float64"})
    unknown = sorted(codes[checks[UNKNOWN_COMPANY]].dropna().unique().tolist())
    summary = {
        "dataset": SOURCE_DATASET,
        "window": dict(bounds),
        "payments_in_window": int(len(window)),
        "payments_used": int(len(usable)),
        "quarantined": {reason: int(mask.sum()) for reason, mask in checks.items()},
        "unknown_company_codes": unknown,
        "unknown_company_payments": int(checks[UNKNOWN_COMPANY].sum()),
        "clients": int(usable["external_client_id"].nunique()),
        "companies_paid": int(usable["company_code"].nunique()),
        "companies_in_dimension": len(known),
        "companies_without_payments": len(known - set(usable["company_code"])),
    }
    if unknown:
        logger.warning("%d payments in the window name %d companies missing from '%s' (quarantined): %s",
                       summary["unknown_company_payments"], len(unknown), COMPANIES_DATASET, unknown[:20])
    if bad.any():
        logger.warning("quarantined %d of %d payments from '%s': %s", int(bad.sum()), len(window), SOURCE_DATASET,
                       summary["quarantined"])
    if usable.empty:
        raise ValueError(f"dataset '{SOURCE_DATASET}': every payment of the window {summary['window']} was "
                         f"quarantined ({summary['quarantined']}); nothing to recommend from, nothing was written")
    return usable, rejected.reset_index(drop=True), summary


def stamp_recommendation_quarantine(rejected: pd.DataFrame, run_metadata: dict[str, str]) -> pd.DataFrame:
    """Quarantined payments stamped with the run that set them aside."""
    return stamp_run(rejected, run_metadata)


# ------------------------------------------------------------------ metrics


def company_metrics(payments: pd.DataFrame) -> pd.DataFrame:
    """Per company: payments, distinct clients, average and total amount; most popular first."""
    grouped = payments.groupby("company_code", sort=True)
    metrics = pd.DataFrame({
        "payments": grouped.size(),
        "clients": grouped["external_client_id"].nunique(),
        "average_amount": grouped["amount"].mean(),
        "total_amount": grouped["amount"].sum(),
        "first_payment_at": grouped["payment_at"].min(),
        "last_payment_at": grouped["payment_at"].max(),
    }).reset_index()
    return metrics.sort_values(["clients", "payments", "company_code"], ascending=[False, False, True],
                               kind="stable").reset_index(drop=True)


def client_metrics(payments: pd.DataFrame) -> pd.DataFrame:
    """Per client: frequency (payments, distinct companies), recency (days before the window's end) and spend."""
    until = pd.to_datetime(payments["payment_at"], utc=True).max()
    grouped = payments.groupby("external_client_id", sort=True)
    last = grouped["payment_at"].max()
    return pd.DataFrame({
        "payments": grouped.size(),
        "companies": grouped["company_code"].nunique(),
        "last_payment_at": last,
        "recency_days": (until - last) / pd.Timedelta(days=1),
        "total_amount": grouped["amount"].sum(),
        "average_amount": grouped["amount"].mean(),
    }).reset_index()


# ------------------------------------------------------------------ co-occurrence and vectors


def build_client_company_matrix(payments: pd.DataFrame) -> model.ClientCompanyMatrix:
    """The clients x companies matrices (payment counts and amounts), sparse."""
    matrix = model.client_company_matrix(payments)
    logger.info("client x company matrix: %d clients, %d companies, %d non-zeros", *matrix.counts.shape,
                matrix.counts.nnz)
    return matrix


def weigh_client_company_matrix(matrix: model.ClientCompanyMatrix, params: MatrixParams) -> sp.csr_matrix:
    """The clients x companies matrix by ``weight`` (count or amount), weighted by ``weighting``."""
    return model.weight_matrix(matrix.values(params.weight), params.weighting, params.bm25_k1, params.bm25_b)


def build_cooccurrence(weighted: sp.csr_matrix) -> sp.csr_matrix:
    """Company x company weighted co-occurrence, sparse."""
    return model.cooccurrence(weighted)


def tabulate_cooccurrence(cooc: sp.csr_matrix, matrix: model.ClientCompanyMatrix) -> pd.DataFrame:
    """The co-occurrence as rows: company pair, clients paying both, weighted co-occurrence (both directions)."""
    paying = sp.csr_matrix(matrix.counts != 0, dtype=np.float64)
    shared = (paying.T @ paying).tocoo()
    weights = cooc.tocsr()
    off = shared.row != shared.col
    rows, cols = shared.row[off], shared.col[off]
    return pd.DataFrame({
        "company_code": matrix.company_codes[rows].astype(str),
        "other_company_code": matrix.company_codes[cols].astype(str),
        "shared_clients": shared.data[off].astype(np.int64),
        "weight": np.asarray(weights[rows, cols]).ravel(),
    }).sort_values(["company_code", "weight"], ascending=[True, False], kind="stable").reset_index(drop=True)


def build_company_vectors(matrix: model.ClientCompanyMatrix, weighted: sp.csr_matrix, cooc: sp.csr_matrix,
                          params: VectorParams) -> pd.DataFrame:
    """One L2-normalised vector per company (``vector_dim`` columns ``v000``...), by SVD or ALS."""
    vectors = model.company_vectors(
        matrix, weighted, cooc, method=params.method, vector_dim=params.vector_dim, seed=params.seed,
        metrics_weight=params.metrics_weight, als_iterations=params.als_iterations,
        als_regularization=params.als_regularization, als_alpha=params.als_alpha,
    )
    frame = pd.DataFrame(vectors, columns=[f"v{i:03d}" for i in range(vectors.shape[1])])
    frame.insert(0, "company_code", matrix.company_codes.astype(str))
    zero = int((np.linalg.norm(vectors, axis=1) == 0).sum())
    if zero:
        logger.warning("%d companies have an all-zero %s vector (no signal in %d dimensions)", zero, params.method,
                       params.vector_dim)
    return frame
