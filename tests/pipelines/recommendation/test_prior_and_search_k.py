"""The popularity prior (recommendation.index.popularity_alpha) and search_k's resolution (null)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from cripto_platform.pipelines.recommendation import scoring
from cripto_platform.pipelines.recommendation.params import IndexParams
from cripto_platform.recommender import (
    AUTO_SEARCH_K_MIN,
    AUTO_SEARCH_K_PER_ITEM,
    build_company_index,
    neighbour_matrix,
    popularity_prior,
    recommend_for_client,
    resolve_search_k,
    scoring_matrix,
    top_n_scores,
)
from cripto_platform.serving.service import ServiceConfigError, _popularity_alpha
from tests.pipelines.recommendation.conftest import params


def small_index(popularity: dict[str, int]):
    # A is paid; B is its closest neighbour, C a little further but far more popular, D unrelated.
    vectors = np.array([[1.0, 0.0, 0.0], [0.95, 0.3, 0.0], [0.85, 0.5, 0.0], [0.0, 0.0, 1.0]])
    frame = pd.DataFrame({"company_code": list(popularity), "popularity": list(popularity.values())})
    frame = frame.sort_values("popularity", ascending=False, kind="stable").reset_index(drop=True)
    return build_company_index(vectors, ["A", "B", "C", "D"], frame, n_trees=5, search_k=-1, seed=1)


def test_alpha_zero_is_the_plain_similarity_rule():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 6))
    codes = [f"C{i:02d}" for i in range(40)]
    popularity = pd.DataFrame({"company_code": codes[::-1], "popularity": np.arange(40, 0, -1)})
    index = build_company_index(vectors, codes, popularity, n_trees=10, search_k=None, seed=3)
    plain = neighbour_matrix(index, 5)
    zero = scoring_matrix(index, 5, 0.0)
    assert (plain != zero).nnz == 0
    np.testing.assert_array_equal(popularity_prior(index, 0.0), np.ones(40))
    history = sp.random(30, 40, density=0.1, format="csr", random_state=1)
    np.testing.assert_array_equal(top_n_scores(history, zero, 5)[0], top_n_scores(history, plain, 5)[0])


def test_the_prior_multiplies_each_target_column_by_its_popularity_power():
    index = small_index({"A": 10, "B": 2, "C": 50, "D": 5})
    plain = neighbour_matrix(index, 3).toarray()
    weighted = scoring_matrix(index, 3, 1.5).toarray()
    prior = np.array([10, 2, 50, 5], dtype=float) ** 1.5
    np.testing.assert_allclose(weighted, plain * prior[None, :])
    np.testing.assert_allclose(popularity_prior(index, 1.5), prior)


def test_the_prior_reorders_towards_popular_companies_in_batch_and_service_alike():
    index = small_index({"A": 10, "B": 2, "C": 50, "D": 5})
    paid = pd.Series({"A": 1.0})
    plain = recommend_for_client(index, scoring_matrix(index, 2, 0.0), paid, 2)
    assert plain["company_code"].tolist() == ["B", "C"]  # by similarity: B is closer to A
    prior = recommend_for_client(index, scoring_matrix(index, 2, 1.0), paid, 2)
    assert prior["company_code"].tolist() == ["C", "B"]  # C's 25x popularity outweighs B's closeness
    assert prior["source"].tolist() == ["similar", "similar"]
    # The batch node builds the same matrix from the index block's popularity_alpha.
    batch = scoring.company_neighbours(index, params("index", neighbours=2, popularity_alpha=1.0))
    assert (batch != scoring_matrix(index, 2, 1.0)).nnz == 0


def test_a_company_without_popularity_gets_no_score_from_the_prior():
    index = small_index({"A": 10, "B": 2, "D": 5})  # C has no paying client in the popularity table
    assert popularity_prior(index, 1.0)[2] == 0
    result = recommend_for_client(index, scoring_matrix(index, 3, 1.0), pd.Series({"A": 1.0}), 3)
    assert "C" not in result.loc[result["source"] == "similar", "company_code"].tolist()


def test_search_k_null_scales_with_the_companies():
    assert resolve_search_k(None, 300) == AUTO_SEARCH_K_MIN
    assert resolve_search_k(None, 5000) == AUTO_SEARCH_K_PER_ITEM * 5000 == 10000
    assert resolve_search_k(3000, 5000) == 3000 and resolve_search_k(-1, 5000) == -1
    vectors = np.random.default_rng(0).normal(size=(2000, 8))
    index = build_company_index(vectors, [str(i) for i in range(2000)], pd.DataFrame(), n_trees=5,
                                search_k=None, seed=1)
    assert index.search_k == 4000  # the resolved number is what the index (and its meta.json) keeps


def test_index_params_accept_null_search_k_and_reject_a_negative_alpha():
    assert params("index", search_k=None).search_k is None
    assert params("index").search_k is None  # the shipped default
    with pytest.raises(ValidationError):
        IndexParams(**{**params("index").model_dump(), "popularity_alpha": -0.5})
    with pytest.raises(ValidationError):
        IndexParams(**{**params("index").model_dump(), "search_k": -2})


def test_the_service_reads_the_same_alpha():
    assert _popularity_alpha({"recommendation": {"index": {"popularity_alpha": 1}}}, "base") == 1.0
    assert _popularity_alpha({"recommendation": {"index": {}}}, "base") == 0.0
    with pytest.raises(ServiceConfigError, match="popularity_alpha"):
        _popularity_alpha({"recommendation": {"index": {"popularity_alpha": "high"}}}, "base")


def test_the_service_path_scores_one_client_as_top_n_scores_does():
    from cripto_platform.recommender import recommend_codes

    rng = np.random.default_rng(5)
    codes = [f"C{i:02d}" for i in range(60)]
    popularity = pd.DataFrame({"company_code": codes, "popularity": np.arange(60, 0, -1)})
    index = build_company_index(rng.normal(size=(60, 5)), codes, popularity, n_trees=10, search_k=None, seed=2)
    similarity = scoring_matrix(index, 8, 0.7)
    for trial in range(40):
        paid_items = rng.choice(60, size=int(rng.integers(0, 6)), replace=False)
        counts = rng.integers(1, 5, size=len(paid_items)).astype(float)
        history = sp.csr_matrix((counts, (np.zeros(len(paid_items), dtype=int), paid_items)), shape=(1, 60))
        items, scores = top_n_scores(history, similarity, 10)
        expected = [(codes[i], s) for i, s in zip(items[0], scores[0]) if i >= 0]
        paid = {codes[i]: c for i, c in zip(paid_items, counts)}
        got = recommend_codes(index, similarity, paid, 10)
        similar = [(code, score) for code, score, source in got if source == "similar"]
        assert [code for code, _ in similar] == [code for code, _ in expected]
        np.testing.assert_allclose([s for _, s in similar], [s for _, s in expected], rtol=1e-12)
        assert len(got) == 10 and not set(paid) & {code for code, _, _ in got}


def test_top_n_scores_in_chunks_equals_one_pass():
    history = sp.random(57, 40, density=0.1, format="csr", random_state=3)
    similarity = sp.random(40, 40, density=0.3, format="csr", random_state=4)
    whole = top_n_scores(history, similarity, 6, chunk_rows=1_000)
    for chunk in (1, 7, 56):
        chunked = top_n_scores(history, similarity, 6, chunk_rows=chunk)
        np.testing.assert_array_equal(chunked[0], whole[0])
        np.testing.assert_array_equal(chunked[1], whole[1])
