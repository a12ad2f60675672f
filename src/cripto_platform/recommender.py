"""The company recommender shared by the batch pipeline and the HTTP service.

One Annoy index over the company vectors (angular metric, so scores are cosine similarities), and
one scoring rule used everywhere: a client's score for a company is the sum, over the companies the
client already pays, of (payments to that company) x (cosine similarity of the two companies),
counting only each paid company's ``neighbours`` nearest companies in the index. Companies the
client already pays are never recommended. A client with no usable history gets the most popular
companies, marked ``popular``.

Scoring many clients is one sparse product: (clients x companies history) @ (companies x companies
neighbour similarities), then a top-n per row; the service scores one client with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from annoy import AnnoyIndex

METRIC = "angular"


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

    @property
    def positions(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.company_codes)}

    def neighbours(self, item: int, n: int) -> tuple[list[int], np.ndarray]:
        """The ``n`` nearest items of ``item`` (itself excluded) and their cosine similarities."""
        items, distances = self.index.get_nns_by_item(item, n + 1, search_k=self.search_k, include_distances=True)
        keep = [j for j, other in enumerate(items) if other != item][:n]
        # Annoy's angular distance is sqrt(2 - 2 cos) on normalised vectors.
        cosine = 1.0 - np.square(np.asarray(distances, dtype=np.float64)[keep]) / 2.0
        return [items[j] for j in keep], cosine


def build_company_index(vectors: np.ndarray, company_codes: list[str], popularity: pd.DataFrame, *,
                        n_trees: int, search_k: int, seed: int) -> CompanyIndex:
    """Build the index: fixed seed and one build thread, so the same vectors give the same bytes."""
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
                        search_k=int(search_k), n_trees=int(n_trees),
                        popularity=popularity.reset_index(drop=True))


def neighbour_matrix(company_index: CompanyIndex, neighbours: int) -> sp.csr_matrix:
    """Companies x companies: each row holds its ``neighbours`` nearest companies' cosine similarities."""
    n = len(company_index.company_codes)
    rows, cols, values = [], [], []
    for item in range(n):  # one query per indexed company (not per client or payment)
        found, cosine = company_index.neighbours(item, min(neighbours, n - 1))
        rows.append(np.full(len(found), item))
        cols.append(np.asarray(found, dtype=np.int64))
        values.append(cosine)
    return sp.csr_matrix(
        (np.concatenate(values) if values else [], (np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else [])),
        shape=(n, n),
    )


def top_n_scores(history: sp.csr_matrix, similarity: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per client (row of ``history``): the ``n`` best unpaid companies and their scores.

    Returns ``(items, scores)`` of shape (clients, n); a slot with nothing to recommend holds item -1
    and score 0. Scores are dense per client over companies only (clients x companies), never a
    dense clients x clients matrix.
    """
    scores = (history @ similarity).toarray()
    scores[history.nonzero()] = -np.inf  # already paid
    scores[scores <= 0] = -np.inf
    n = min(n, scores.shape[1])
    if n == 0:
        empty = np.empty((history.shape[0], 0))
        return empty.astype(np.int64), empty
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(part_scores, order, axis=1)
    missing = ~np.isfinite(best)
    return np.where(missing, -1, items), np.where(missing, 0.0, best)


def recommend_for_client(company_index: CompanyIndex, similarity: sp.csr_matrix, paid: pd.Series,
                         n: int) -> pd.DataFrame:
    """Top ``n`` companies for one client from ``paid`` (company_code -> number of payments).

    Columns: ``company_code``, ``score``, ``source`` (``similar`` from the history, ``popular`` to fill
    up when the history is empty or too narrow). Companies in ``paid`` are never returned.
    """
    positions = company_index.positions
    known = paid[paid.index.isin(positions)]
    history = sp.csr_matrix(
        (known.to_numpy(dtype=np.float64), (np.zeros(len(known), dtype=np.int64), known.index.map(positions))),
        shape=(1, len(company_index.company_codes)),
    )
    items, scores = top_n_scores(history, similarity, n)
    chosen = [(company_index.company_codes[i], float(s), "similar") for i, s in zip(items[0], scores[0]) if i >= 0]
    if len(chosen) < n:
        taken = set(paid.index) | {code for code, _, _ in chosen}
        popular = company_index.popularity[~company_index.popularity["company_code"].isin(taken)].head(n - len(chosen))
        chosen += [(code, 0.0, "popular") for code in popular["company_code"]]
    return pd.DataFrame(chosen, columns=["company_code", "score", "source"])
