"""The shared scoring rule (``recommender.top_n_scores``, ``fill_with_popular``) against dense references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cripto_platform.recommender import build_company_index, fill_with_popular, recommend_for_client, top_n_scores


def dense_top_n(history: sp.csr_matrix, similarity: sp.csr_matrix, n: int):
    """The rule written densely: unpaid, positive scores, best first, ties by item position."""
    scores = (history @ similarity).toarray()
    scores[history.toarray() != 0] = 0
    items = np.full((history.shape[0], n), -1)
    best = np.zeros((history.shape[0], n))
    for row in range(history.shape[0]):
        ranked = sorted((-score, item) for item, score in enumerate(scores[row]) if score > 0)[:n]
        for slot, (score, item) in enumerate(ranked):
            items[row, slot], best[row, slot] = item, -score
    return items, best


def test_top_n_scores_matches_the_dense_rule_without_building_it():
    rng = np.random.default_rng(5)
    history = sp.random(200, 30, density=0.08, format="csr", random_state=1, data_rvs=lambda k: rng.integers(1, 5, k))
    similarity = sp.random(30, 30, density=0.3, format="csr", random_state=2, data_rvs=lambda k: rng.uniform(-0.2, 1, k))
    similarity.data[:10] = 0.5  # ties
    for n in (1, 5, 30, 50):
        items, scores = top_n_scores(history, similarity, n)
        expected_items, expected_scores = dense_top_n(history, similarity, min(n, 30))
        np.testing.assert_array_equal(items, expected_items)
        np.testing.assert_allclose(scores, expected_scores)
    empty_items, empty_scores = top_n_scores(history, similarity, 0)
    assert empty_items.shape == (200, 0) and empty_scores.shape == (200, 0)


def test_fill_with_popular_fills_only_empty_slots_with_unpaid_unchosen_companies():
    history = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 0]]))
    items = np.array([[2, -1, -1], [4, 3, 2], [-1, -1, -1]])
    popular = np.array([0, 1, 2, 3, 4])
    filled, from_popular = fill_with_popular(items, history, popular)
    np.testing.assert_array_equal(filled, [[2, 1, 3], [4, 3, 2], [4, -1, -1]])
    np.testing.assert_array_equal(from_popular, [[False, True, True], [False, False, False], [True, False, False]])
    chunked, _ = fill_with_popular(items, history, popular, chunk_rows=1)
    np.testing.assert_array_equal(chunked, filled)


def test_recommend_for_client_still_uses_the_same_rule():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    popularity = pd.DataFrame({"company_code": ["D", "C", "B", "A"], "popularity": [4, 3, 2, 1]})
    index = build_company_index(vectors, ["A", "B", "C", "D"], popularity, n_trees=5, search_k=-1, seed=1)
    from cripto_platform.recommender import neighbour_matrix

    similarity = neighbour_matrix(index, 1)
    result = recommend_for_client(index, similarity, pd.Series({"A": 3}), 3)
    assert result["company_code"].tolist() == ["B", "D", "C"]
    assert result["source"].tolist() == ["similar", "popular", "popular"]
