"""The company recommender shared by the batch pipeline and the HTTP service.

One Annoy index over the company vectors (angular metric, so similarities are cosines), and one
scoring rule used everywhere: a client's score for a company ``c`` is

    (sum over the companies p the client already pays of payments(p) x cosine(p, c)) x popularity(c) ** alpha

counting only each paid company's ``neighbours`` nearest companies in the index; ``popularity`` is
the number of distinct paying clients (the index's fallback ranking) and ``alpha`` is
``recommendation.index.popularity_alpha`` (0: the plain similarity sum). Cosine similarity divides
popularity out, while the companies a client adds are drawn roughly in proportion to (affinity) x
(popularity): the prior puts the second factor back. Companies the client already pays are never
recommended. A client with no usable history gets the most popular companies, marked ``popular``.

Scoring many clients is one sparse product: (clients x companies history) @ (companies x companies
scoring matrix: neighbour similarities times the target's prior, ``scoring_matrix``), then a top-n
per row; the service scores one client with the same matrix and the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from annoy import AnnoyIndex

METRIC = "angular"
# ``search_k`` None: this many nodes inspected per indexed item, and at least AUTO_SEARCH_K_MIN. Annoy's
# recall depends on the share of the items a query looks at, so a fixed search_k that is plenty at 300
# companies (recall@10 1.0 with 3000) is too few at 5,000 (0.83); 2 x items measured recall@10 >= 0.98
# at 5,000 (benchmarks/README.md; 4 x items doubled the query time for 0.9997), and below 1,500
# companies the floor (the former fixed 3000) applies.
AUTO_SEARCH_K_PER_ITEM = 2
AUTO_SEARCH_K_MIN = 3000
# neighbour_matrix: per 100 neighbours asked, this multiple of the index's search_k (at least 1x).
NEIGHBOUR_LIST_BUDGET = 1.0


def resolve_search_k(search_k: int | None, n_items: int) -> int:
    """The search_k an index uses: ``search_k`` as given (-1: Annoy's default, n_trees x neighbours
    asked), or with None ``max(AUTO_SEARCH_K_PER_ITEM x n_items, AUTO_SEARCH_K_MIN)``."""
    if search_k is not None:
        return int(search_k)
    return int(max(AUTO_SEARCH_K_PER_ITEM * n_items, AUTO_SEARCH_K_MIN))


@dataclass(frozen=True)
class CompanyIndex:
    """An Annoy index of company vectors, with what is needed to use it: item i is ``company_codes[i]``."""

    index: AnnoyIndex
    company_codes: tuple[str, ...]
    dimension: int
    search_k: int
    n_trees: int
    # company_code and popularity (distinct paying clients), most popular first: the fallback.
    popularity: pd.DataFrame = field(repr=False)
    metric: str = METRIC

    @cached_property
    def positions(self) -> dict[str, int]:
        """company_code -> item (computed once per loaded index, not per request)."""
        return {code: i for i, code in enumerate(self.company_codes)}

    @cached_property
    def popular_codes(self) -> tuple[str, ...]:
        """The fallback ranking's company codes, most popular first."""
        if "company_code" not in self.popularity:
            return ()
        return tuple(self.popularity["company_code"].astype(str))

    def neighbours(self, item: int, n: int, search_k: int | None = None) -> tuple[list[int], np.ndarray]:
        """The ``n`` nearest items of ``item`` (itself excluded) and their cosine similarities
        (``search_k``: this query's budget instead of the index's)."""
        budget = self.search_k if search_k is None else search_k
        items, distances = self.index.get_nns_by_item(item, n + 1, search_k=budget, include_distances=True)
        keep = [j for j, other in enumerate(items) if other != item][:n]
        # Annoy's angular distance is sqrt(2 - 2 cos) on normalised vectors.
        cosine = 1.0 - np.square(np.asarray(distances, dtype=np.float64)[keep]) / 2.0
        return [items[j] for j in keep], cosine


def build_company_index(vectors: np.ndarray, company_codes: list[str], popularity: pd.DataFrame, *,
                        n_trees: int, search_k: int | None, seed: int) -> CompanyIndex:
    """Build the index: fixed seed and one build thread, so the same vectors give the same bytes.

    ``search_k`` None is resolved here for the number of companies (``resolve_search_k``); the index
    keeps the resolved number, so the service queries it as the pipeline validated it.
    """
    if len(company_codes) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors for {len(company_codes)} companies")
    if len(company_codes) == 0:
        raise ValueError("no company vectors to index")
    dimension = int(vectors.shape[1])
    index = AnnoyIndex(dimension, METRIC)
    index.set_seed(int(seed))
    for item, vector in enumerate(np.asarray(vectors, dtype=np.float32)):
        index.add_item(item, vector)
    index.build(int(n_trees), n_jobs=1)
    return CompanyIndex(index=index, company_codes=tuple(company_codes), dimension=dimension,
                        search_k=resolve_search_k(search_k, len(company_codes)),
                        n_trees=int(n_trees),
                        popularity=popularity.reset_index(drop=True))


def neighbour_matrix(company_index: CompanyIndex, neighbours: int) -> sp.csr_matrix:
    """Companies x companies: each row holds its ``neighbours`` nearest companies' cosine similarities."""
    n = len(company_index.company_codes)
    # The index's search_k is validated for recall@10; a list of ``neighbours`` (200 by default) needs
    # a larger budget to be as complete, and this runs once per company, offline (benchmarks/README.md).
    search_k = company_index.search_k
    if search_k > 0:
        search_k = max(search_k, int(search_k * NEIGHBOUR_LIST_BUDGET * min(neighbours, n) / 100))
    rows, cols, values = [], [], []
    for item in range(n):  # one query per indexed company (not per client or payment)
        found, cosine = company_index.neighbours(item, min(neighbours, n - 1), search_k)
        rows.append(np.full(len(found), item))
        cols.append(np.asarray(found, dtype=np.int64))
        values.append(cosine)
    return sp.csr_matrix(
        (np.concatenate(values) if values else [], (np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else [])),
        shape=(n, n),
    )


def popularity_prior(company_index: CompanyIndex, alpha: float) -> np.ndarray:
    """Per index item: ``popularity ** alpha`` (distinct paying clients; 0 for a company without any).

    ``alpha`` 0 gives ones for every company (the plain similarity rule).
    """
    codes = pd.Index(company_index.company_codes)
    if alpha == 0:
        return np.ones(len(codes), dtype=np.float64)
    prior = np.zeros(len(codes), dtype=np.float64)
    popularity = company_index.popularity
    if len(popularity):
        where = codes.get_indexer(popularity["company_code"])
        found = where >= 0
        prior[where[found]] = popularity["popularity"].to_numpy(dtype=np.float64)[found]
    return np.power(np.clip(prior, 0, None), float(alpha))


def scoring_matrix(company_index: CompanyIndex, neighbours: int, popularity_alpha: float = 0.0) -> sp.csr_matrix:
    """The matrix clients' histories are multiplied by: ``neighbour_matrix`` with column ``c`` times
    ``popularity(c) ** popularity_alpha`` (the one place the prior is applied, for the batch and the service)."""
    similarity = neighbour_matrix(company_index, neighbours)
    if popularity_alpha == 0:
        return similarity
    return sp.csr_matrix(similarity @ sp.diags(popularity_prior(company_index, popularity_alpha)))


def top_n_scores(history: sp.csr_matrix, similarity: sp.csr_matrix, n: int,
                 chunk_rows: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Per client (row of ``history``): the ``n`` best unpaid companies and their scores.

    Returns ``(items, scores)`` of shape (clients, n); a slot with nothing to recommend holds item -1
    and score 0. Ties are broken by item position. The product stays sparse (its non-zeros are at
    most each client's paid companies times ``neighbours``) and the top-n is one sort of those
    non-zeros: nothing dense of size clients x companies is built, and clients are scored
    ``chunk_rows`` at a time, so memory stays bounded by a chunk's non-zeros.
    """
    n = max(0, min(n, similarity.shape[1]))
    clients = history.shape[0]
    items = np.full((clients, n), -1, dtype=np.int64)
    best = np.zeros((clients, n), dtype=np.float64)
    if n == 0:
        return items, best
    history = sp.csr_matrix(history)
    for start in range(0, clients, chunk_rows):  # bounded memory: a chunk's product, not all clients'
        stop = min(start + chunk_rows, clients)
        _top_n_chunk(history[start:stop], similarity, n, items[start:stop], best[start:stop])
    return items, best


def _top_n_chunk(history: sp.csr_matrix, similarity: sp.csr_matrix, n: int, items: np.ndarray,
                 best: np.ndarray) -> None:
    scores = sp.csr_matrix(history @ similarity, dtype=np.float64)
    paid = sp.csr_matrix(history != 0, dtype=np.float64)
    scores = (scores - scores.multiply(paid)).tocoo()  # already paid: score exactly 0, dropped below
    positive = scores.data > 0
    rows, cols, values = scores.row[positive], scores.col[positive], scores.data[positive]
    order = np.lexsort((cols, -values, rows))  # by client, then score descending, then item
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=history.shape[0]))[:-1]))
    rank = np.arange(len(rows)) - starts[rows]  # position within the client's sorted scores
    keep = rank < n
    items[rows[keep], rank[keep]] = cols[keep]
    best[rows[keep], rank[keep]] = values[keep]


def fill_with_popular(items: np.ndarray, history: sp.csr_matrix, popular_items: np.ndarray,
                      chunk_rows: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Fill the empty (-1) trailing slots of ``items`` with the most popular items a client has not paid.

    ``popular_items`` are item positions, most popular first. Returns the filled items and a mask of
    the slots filled from popularity; rows are processed in chunks, so memory stays bounded.
    """
    items = items.copy()
    filled = np.zeros(items.shape, dtype=bool)
    n = items.shape[1]
    missing = (items < 0).sum(axis=1)
    needing = np.flatnonzero(missing)
    if n == 0 or len(needing) == 0 or len(popular_items) == 0:
        return items, filled
    paid_per_row = np.diff(history.indptr)
    candidates = np.asarray(popular_items, dtype=np.int64)[: n + int(paid_per_row[needing].max())]
    column_of = np.full(max(int(items.max()), int(candidates.max())) + 1, -1, dtype=np.int64)
    column_of[candidates] = np.arange(len(candidates))
    for start in range(0, len(needing), chunk_rows):
        rows = needing[start:start + chunk_rows]
        taken = history[rows][:, candidates].toarray() != 0
        # Candidates already recommended: mark their columns through a position map (rows x n, not
        # rows x n x candidates).
        chosen = items[rows]
        chosen_rows, chosen_slots = np.nonzero(chosen >= 0)
        columns = column_of[chosen[chosen_rows, chosen_slots]]
        taken[chosen_rows[columns >= 0], columns[columns >= 0]] = True
        available = ~taken
        rank = np.cumsum(available, axis=1)
        found = n - missing[rows]
        pick = available & (rank <= missing[rows][:, None])
        local_rows, cols = np.nonzero(pick)
        slots = found[local_rows] + rank[local_rows, cols] - 1
        items[rows[local_rows], slots] = candidates[cols]
        filled[rows[local_rows], slots] = True
    return items, filled


def recommend_codes(company_index: CompanyIndex, similarity: sp.csr_matrix, paid: Mapping[str, float],
                    n: int) -> list[tuple[str, float, str]]:
    """``recommend_for_client`` without pandas, for the service's per-request path: (code, score, source).

    The same rule as ``top_n_scores`` on a one-row history (sum of the paid companies' rows of
    ``similarity`` times their payments, paid companies and non-positive scores dropped, score
    descending then item position), computed on the paid rows only: O(paid x neighbours).
    """
    positions = company_index.positions
    items, weights = [], []
    for code, count in paid.items():
        item = positions.get(code)
        if item is not None and count:
            items.append(item)
            weights.append(float(count))
    chosen: list[tuple[str, float, str]] = []
    if items and n > 0:
        indptr, indices, data = similarity.indptr, similarity.indices, similarity.data
        columns = np.concatenate([indices[indptr[i]:indptr[i + 1]] for i in items])
        values = np.concatenate([data[indptr[i]:indptr[i + 1]] * w for i, w in zip(items, weights)])
        candidates, inverse = np.unique(columns, return_inverse=True)
        scores = np.bincount(inverse, weights=values, minlength=len(candidates))
        keep = (scores > 0) & ~np.isin(candidates, items)
        candidates, scores = candidates[keep], scores[keep]
        order = np.lexsort((candidates, -scores))[:n]
        codes = company_index.company_codes
        chosen = [(codes[candidates[j]], float(scores[j]), "similar") for j in order]
    if len(chosen) < n:
        taken = set(paid) | {code for code, _, _ in chosen}
        for code in company_index.popular_codes:  # most popular first; stops after n - len(chosen)
            if len(chosen) >= n:
                break
            if code not in taken:
                chosen.append((code, 0.0, "popular"))
    return chosen


def recommend_for_client(company_index: CompanyIndex, similarity: sp.csr_matrix, paid: pd.Series,
                         n: int) -> pd.DataFrame:
    """Top ``n`` companies for one client from ``paid`` (company_code -> number of payments).

    Columns: ``company_code``, ``score``, ``source`` (``similar`` from the history, ``popular`` to fill
    up when the history is empty or too narrow). Companies in ``paid`` are never returned.
    """
    chosen = recommend_codes(company_index, similarity, paid.to_dict(), n)
    return pd.DataFrame(chosen, columns=["company_code", "score", "source"])
