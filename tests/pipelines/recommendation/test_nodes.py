"""Recommendation nodes called directly on small frames: window, checks, metrics, matrices, vectors, index, batch."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from cripto_platform.datasets import AnnoyIndexDataset
from cripto_platform.pipelines.recommendation import model, nodes, scoring
from cripto_platform.pipelines.recommendation.params import BLOCKS, MatrixParams
from tests.pipelines.recommendation.conftest import SHIPPED, params


def usable_payments(payments, companies):
    window, bounds = nodes.select_payments_window(payments, params("window"))
    return nodes.check_payments(window, bounds, companies)[0]


# ------------------------------------------------------------------ parameters


def test_shipped_parameters_validate_and_bad_values_are_refused():
    for block, model_class in BLOCKS.items():
        model_class(**SHIPPED[block])
    with pytest.raises(ValidationError, match="method"):
        params("vectors", method="pca")
    with pytest.raises(ValidationError, match="min_recall"):
        params("validation", min_recall=1.5)
    with pytest.raises(ValidationError, match="extra"):
        params("matrix", weigthing="raw")


# ------------------------------------------------------------------ window and checks


def test_window_defaults_to_a_lookback_before_the_newest_payment(payments):
    window, bounds = nodes.select_payments_window(payments, params("window", lookback_days=10))
    newest = payments["payment_at"].max()
    assert pd.Timestamp(bounds["until"]) == newest
    assert pd.Timestamp(bounds["since"]) == newest - pd.Timedelta(days=10)
    expected = payments["payment_at"].between(newest - pd.Timedelta(days=10), newest)
    assert len(window) == int(expected.sum()) and 0 < len(window) < len(payments)


def test_window_since_parameter_selects_from_that_time(payments):
    since = pd.Timestamp("2026-02-15", tz="UTC")
    window, bounds = nodes.select_payments_window(payments, params("window", since="2026-02-15T00:00:00Z"))
    assert pd.Timestamp(bounds["since"]) == since
    assert (window["payment_at"] >= since).all() and len(window) == int((payments["payment_at"] >= since).sum())


def test_empty_window_fails_naming_the_dataset_and_the_window(payments):
    with pytest.raises(ValueError, match=r"dataset 'payments_index' has no payments in the recommendation window "
                                         r"\[2027-01-01T00:00:00\+00:00, 2026-02-28.*nothing was written"):
        nodes.select_payments_window(payments, params("window", since="2027-01-01T00:00:00Z"))
    with pytest.raises(ValueError, match=r"dataset 'payments_index' has no payments .* is empty"):
        nodes.select_payments_window(payments.iloc[:0], params("window"))


def test_the_lazily_loaded_index_is_read_and_a_missing_one_is_named(payments, tmp_path):
    """payments_index loads as a handle (lazy): the window node reads it; before the payments pipeline has written
    it, the error says so rather than that the (empty) frame lacks columns."""
    from cripto_platform.datasets.atomic_parquet import AtomicParquetDataset

    index = AtomicParquetDataset(filepath=str(tmp_path / "payments_index.parquet"), lazy=True)
    with pytest.raises(ValueError, match=r"dataset 'payments_index' is not written yet .*--pipeline payments"):
        nodes.select_payments_window(index.load(), params("window"))
    AtomicParquetDataset(filepath=str(tmp_path / "payments_index.parquet")).save(payments)
    window, _ = nodes.select_payments_window(index.load(), params("window"))
    expected, _ = nodes.select_payments_window(payments, params("window"))
    pd.testing.assert_frame_equal(window.reset_index(drop=True), expected.reset_index(drop=True))


def test_unknown_companies_and_null_clients_are_quarantined_and_counted(payments, companies, caplog):
    window, bounds = nodes.select_payments_window(payments, params("window"))
    window = window.copy()
    window.loc[:4, "company_code"] = "C999"
    window.loc[5:6, "external_client_id"] = None
    with caplog.at_level(logging.WARNING):
        usable, rejected, summary = nodes.check_payments(window, bounds, companies)
    assert summary["unknown_company_payments"] == 5 and summary["unknown_company_codes"] == ["C999"]
    assert summary["quarantined"] == {nodes.UNKNOWN_COMPANY: 5, nodes.NULL_CLIENT: 2, nodes.BAD_AMOUNT: 0,
                                      nodes.NULL_PAID_AT: 0}
    assert len(usable) + len(rejected) == len(window) == summary["payments_in_window"]
    assert set(rejected["quarantine_reason"]) == {nodes.UNKNOWN_COMPANY, nodes.NULL_CLIENT}
    assert "C999" not in set(usable["company_code"]) and summary["window"] == bounds
    assert "missing from 'companies_l0'" in caplog.text and "C999" in caplog.text


def test_payments_without_a_payment_at_are_quarantined_not_dropped(payments, companies, run_metadata):
    undated = payments.copy()
    undated.loc[:2, "payment_at"] = pd.NaT
    window, bounds = nodes.select_payments_window(undated, params("window"))
    usable, rejected, summary = nodes.check_payments(window, bounds, companies)
    assert summary["quarantined"][nodes.NULL_PAID_AT] == 3 and len(rejected) == 3
    stamped = nodes.stamp_recommendation_quarantine(rejected, run_metadata)
    assert (stamped["run_id"] == run_metadata["run_id"]).all() and stamped["quarantine_reason"].eq(nodes.NULL_PAID_AT).all()


# ------------------------------------------------------------------ metrics


def test_company_and_client_metrics_on_a_tiny_frame():
    at = pd.Timestamp("2026-03-01", tz="UTC")
    frame = pd.DataFrame({
        "payment_id": [1, 2, 3, 4],
        "company_code": ["A", "A", "B", "A"],
        "external_client_id": ["x", "x", "x", "y"],
        "amount": [10.0, 20.0, 5.0, 30.0],
        "payment_at": [at - pd.Timedelta(days=3), at - pd.Timedelta(days=1), at, at - pd.Timedelta(days=2)],
    })
    companies = nodes.company_metrics(frame).set_index("company_code")
    assert companies.loc["A", ["payments", "clients", "average_amount", "total_amount"]].tolist() == [3, 2, 20.0, 60.0]
    assert companies.loc["B", ["payments", "clients"]].tolist() == [1, 1]
    assert companies.index.tolist() == ["A", "B"]  # most distinct clients first
    clients = nodes.client_metrics(frame).set_index("external_client_id")
    assert clients.loc["x", ["payments", "companies", "recency_days", "total_amount"]].tolist() == [3, 2, 0.0, 35.0]
    assert clients.loc["y", ["payments", "companies", "recency_days", "total_amount"]].tolist() == [1, 1, 2.0, 30.0]


# ------------------------------------------------------------------ co-occurrence


TINY = pd.DataFrame({
    "external_client_id": ["a", "a", "a", "b", "b", "c", "c", "c", "d"],
    "company_code": ["X", "Y", "X", "Y", "Z", "X", "Z", "W", "W"],
    "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
})


def dense_reference(values: np.ndarray, weighting: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """The weighted co-occurrence from the formulas, on a dense clients x companies array."""
    if weighting == "raw":
        weighted = values
    elif weighting == "cosine":
        weighted = values / np.linalg.norm(values, axis=0)
    elif weighting == "tfidf":
        idf = np.log(values.shape[1]) - np.log1p((values > 0).sum(axis=1))  # clients are the terms
        weighted = np.sqrt(values) * idf[:, None]
        weighted = weighted / np.linalg.norm(weighted, axis=0)
    else:  # bm25, companies are the documents
        idf = np.log(values.shape[1]) - np.log1p((values > 0).sum(axis=1))
        length = values.sum(axis=0)
        norm = (1 - b) + b * length / length.mean()
        weighted = np.where(values > 0, values * (k1 + 1) / (k1 * norm[None, :] + values) * idf[:, None], 0)
    return weighted.T @ weighted


@pytest.mark.parametrize("weighting", ["raw", "cosine", "tfidf", "bm25"])
@pytest.mark.parametrize("weight", ["count", "amount"])
def test_cooccurrence_matches_a_dense_numpy_reference(weighting, weight):
    matrix = nodes.build_client_company_matrix(TINY)
    assert list(matrix.company_codes) == ["W", "X", "Y", "Z"] and list(matrix.client_ids) == ["a", "b", "c", "d"]
    dense = np.zeros((4, 4))
    for client, company, amount in TINY.itertuples(index=False):
        dense[list(matrix.client_ids).index(client), list(matrix.company_codes).index(company)] += (
            1 if weight == "count" else amount)
    matrix_params = MatrixParams(weight=weight, weighting=weighting, bm25_k1=1.2, bm25_b=0.75)
    weighted = nodes.weigh_client_company_matrix(matrix, matrix_params)
    cooc = nodes.build_cooccurrence(weighted)
    assert sp.issparse(matrix.counts) and sp.issparse(weighted) and sp.issparse(cooc)
    np.testing.assert_allclose(cooc.toarray(), dense_reference(dense, weighting), atol=1e-12)


def test_cooccurrence_table_counts_shared_clients():
    matrix = nodes.build_client_company_matrix(TINY)
    weighted = nodes.weigh_client_company_matrix(matrix, params("matrix", weighting="raw"))
    table = nodes.tabulate_cooccurrence(nodes.build_cooccurrence(weighted), matrix)
    pairs = table.set_index(["company_code", "other_company_code"])
    assert pairs.loc[("X", "Y"), "shared_clients"] == 1 and pairs.loc[("X", "Y"), "weight"] == 2.0  # a: X twice, Y once
    assert pairs.loc[("W", "X"), "shared_clients"] == 1 and ("X", "X") not in pairs.index
    assert len(table) == 2 * 5  # X-Y, Y-Z, X-Z, X-W, Z-W, both ways; W and Y never share a client
    assert ("W", "Y") not in pairs.index


# ------------------------------------------------------------------ vectors


@pytest.mark.parametrize("method", ["svd", "als"])
def test_vectors_are_l2_normalised_vector_dim_wide_and_deterministic(payments, companies, method):
    usable = usable_payments(payments, companies)
    matrix = nodes.build_client_company_matrix(usable)
    weighted = nodes.weigh_client_company_matrix(matrix, params("matrix"))
    cooc = nodes.build_cooccurrence(weighted)
    vector_params = params("vectors", method=method, vector_dim=16)
    first = nodes.build_company_vectors(matrix, weighted, cooc, vector_params)
    again = nodes.build_company_vectors(matrix, weighted, cooc, vector_params)
    array = first.drop(columns="company_code").to_numpy()
    assert array.shape == (32, 16) and first["company_code"].tolist() == list(matrix.company_codes)
    np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-9)
    pd.testing.assert_frame_equal(first, again)


def test_svd_vectors_reproduce_the_cooccurrence_at_full_rank():
    cooc = nodes.build_cooccurrence(nodes.weigh_client_company_matrix(
        nodes.build_client_company_matrix(TINY), params("matrix", weighting="cosine")))
    vectors = model.svd_vectors(cooc, 6, seed=1)  # wider than the 4 companies: padded with zeros
    assert vectors.shape == (4, 6) and not vectors[:, 4:].any()
    np.testing.assert_allclose(vectors @ vectors.T, cooc.toarray(), atol=1e-10)


def test_metric_features_make_room_in_the_vector():
    matrix = nodes.build_client_company_matrix(TINY)
    weighted = nodes.weigh_client_company_matrix(matrix, params("matrix"))
    vectors = nodes.build_company_vectors(matrix, weighted, nodes.build_cooccurrence(weighted),
                                          params("vectors", method="svd", vector_dim=5, metrics_weight=0.5))
    assert vectors.shape == (4, 6)
    with pytest.raises(ValueError, match="vector_dim 3 leaves no room"):
        nodes.build_company_vectors(matrix, weighted, nodes.build_cooccurrence(weighted),
                                    params("vectors", method="svd", vector_dim=3, metrics_weight=0.5))


# ------------------------------------------------------------------ index and validation


@pytest.fixture(scope="module")
def vectors_and_metrics(payments, companies):
    usable = usable_payments(payments, companies)
    matrix = nodes.build_client_company_matrix(usable)
    weighted = nodes.weigh_client_company_matrix(matrix, params("matrix"))
    vectors = nodes.build_company_vectors(matrix, weighted, nodes.build_cooccurrence(weighted),
                                          params("vectors", vector_dim=16))
    return vectors, nodes.company_metrics(usable), matrix


def test_index_is_byte_identical_when_built_twice(vectors_and_metrics, tmp_path):
    vectors, metrics, _ = vectors_and_metrics
    saved = []
    for attempt in ("first", "second"):
        index = scoring.build_index(vectors, metrics, params("index"))
        AnnoyIndexDataset(filepath=str(tmp_path / attempt)).save(index)
        saved.append((tmp_path / attempt / "index.ann").read_bytes())
    assert saved[0] == saved[1] and len(saved[0]) > 0
    loaded = AnnoyIndexDataset(filepath=str(tmp_path / "first")).load()
    assert loaded.company_codes == tuple(vectors["company_code"])
    assert loaded.popularity["company_code"].tolist() == metrics["company_code"].tolist()


def test_validation_passes_with_one_item_per_company(vectors_and_metrics):
    vectors, metrics, _ = vectors_and_metrics
    candidate = scoring.build_index(vectors, metrics, params("index"))
    index, summary = scoring.validate_company_index(candidate, vectors, params("validation"))
    assert index is candidate
    assert summary["items"] == 32 and summary["recall_at_k"] >= 0.95 and summary["sample"] == 32


def test_validation_fails_below_min_recall_with_the_figure():
    rng = np.random.default_rng(0)
    vectors = pd.DataFrame(model.normalise_rows(rng.normal(size=(400, 32))), columns=[f"v{i:03d}" for i in range(32)])
    vectors.insert(0, "company_code", [f"C{i:04d}" for i in range(400)])
    metrics = pd.DataFrame({"company_code": vectors["company_code"], "clients": 1})
    weak = scoring.build_index(vectors, metrics, params("index", n_trees=1, search_k=1))
    with pytest.raises(ValueError, match=r"recall@10 0\.\d{4} against exact nearest neighbours on 200 sampled "
                                         r"companies is below recommendation.validation.min_recall 0.95"):
        scoring.validate_company_index(weak, vectors, params("validation"))
    with pytest.raises(ValueError, match="one item per company"):
        scoring.validate_company_index(weak, vectors.iloc[:399], params("validation"))


def test_recall_counts_ties_at_the_kth_neighbour_as_found():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert model.recall_against_exact([[2], [0], [1]], vectors, np.array([0, 1, 2]), 1) == 1.0
    assert model.recall_against_exact([[3], [3], [3]], vectors, np.array([0, 1, 2]), 1) == 0.0


# ------------------------------------------------------------------ batch output


def test_batch_recommendations_cover_every_client_without_paid_companies(vectors_and_metrics, run_metadata):
    vectors, metrics, matrix = vectors_and_metrics
    index = scoring.build_index(vectors, metrics, params("index"))
    recommendations = scoring.recommend_for_clients(matrix, index, scoring.company_neighbours(index, params("index")),
                                                  params("batch", top_n=5))
    assert recommendations.groupby("external_client_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    assert recommendations["external_client_id"].nunique() == len(matrix.client_ids)
    paid = set(zip(*[matrix.client_ids[matrix.counts.nonzero()[0]], matrix.company_codes[matrix.counts.nonzero()[1]]]))
    assert not any(pair in paid for pair in zip(recommendations["external_client_id"], recommendations["company_code"]))
    similar = recommendations[recommendations["source"] == "similar"]
    assert (similar["score"] > 0).all() and len(similar) > 0.9 * len(recommendations)
    ordered = similar.groupby("external_client_id")["score"].apply(lambda s: s.is_monotonic_decreasing)
    assert ordered.all()
    rows = scoring.publish_client_recommendations(recommendations, run_metadata)
    assert (rows["run_id"] == run_metadata["run_id"]).all() and list(rows.columns[:2]) == ["run_id", "run_started_at"]
