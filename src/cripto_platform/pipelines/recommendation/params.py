"""Typed models of ``conf/base/parameters_recommendation.yml``: Kedro validates them before a run starts.

As in ``pipelines/payments/params.py``: Kedro 1.7 instantiates the model a node's ``params:`` input
is annotated with when the catalog is built, so a misspelt key, a wrong type or an out-of-range
value stops ``kedro run`` before anything is read or written. Defaults live in the YAML only: every
field is required here. Nodes read one block each (``params:recommendation.window``, ...); the
parent ``recommendation`` block is never typed as a whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt

from cripto_platform.quality.deliverables import DeliverablesParams


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowParams(_Block):
    since: datetime | None
    lookback_days: PositiveFloat


class MatrixParams(_Block):
    weight: Literal["count", "amount"]
    weighting: Literal["raw", "cosine", "tfidf", "bm25"]
    bm25_k1: PositiveFloat
    bm25_b: float = Field(ge=0, le=1)


class VectorParams(_Block):
    method: Literal["svd", "als"]
    vector_dim: PositiveInt
    seed: int
    metrics_weight: NonNegativeFloat
    als_iterations: PositiveInt
    als_regularization: NonNegativeFloat
    als_alpha: PositiveFloat


class IndexParams(_Block):
    n_trees: PositiveInt
    search_k: Annotated[int, Field(ge=-1)] | None  # None: recommender.resolve_search_k scales it with the companies
    seed: int
    neighbours: PositiveInt
    popularity_alpha: NonNegativeFloat


class ValidationParams(_Block):
    min_recall: float = Field(ge=0, le=1)
    k: PositiveInt
    sample_size: PositiveInt
    seed: int


class HoldoutParams(_Block):
    by: Literal["days", "last"]
    days: PositiveFloat
    last: PositiveInt


class EvaluationParams(_Block):
    k: PositiveInt
    holdout: HoldoutParams


class BatchParams(_Block):
    top_n: PositiveInt


# Each ``recommendation.<block>`` of the YAML and its model (tests validate the shipped YAML with it).
BLOCKS: dict[str, type[_Block]] = {
    "window": WindowParams,
    "matrix": MatrixParams,
    "vectors": VectorParams,
    "index": IndexParams,
    "validation": ValidationParams,
    "evaluation": EvaluationParams,
    "batch": BatchParams,
    "deliverables": DeliverablesParams,
}
