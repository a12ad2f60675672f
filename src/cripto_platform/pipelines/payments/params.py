"""Typed models of ``conf/base/parameters_payments.yml``: Kedro validates them before a run starts.

Kedro 1.7 instantiates the model a node's ``params:`` input is annotated with (``kedro/validation``)
when the catalog is built, so a misspelt key, a wrong type or an out-of-range value stops
``kedro run`` before anything is read or written. Defaults live in the YAML only: every field is
required here. Each node reads one block (``params:payments.window``, ...): Kedro validates a
block as a whole, so blocks are not nested inside a validated parent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from cripto_platform.quality.deliverables import DeliverablesParams


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceParams(_Block):
    kind: Literal["generator", "api"]
    base_url: str | None
    page_size: PositiveInt
    timeout_seconds: PositiveFloat
    max_retries: NonNegativeInt
    backoff_seconds: NonNegativeFloat
    request_deadline_seconds: PositiveFloat
    max_pages: PositiveInt
    progress_every_pages: PositiveInt


class SampleDataParams(_Block):
    seed: int
    origin: date
    payments_per_day: PositiveFloat
    n_companies: PositiveInt
    n_clients: PositiveInt
    event_probability: float = Field(ge=0, le=1)
    change_share: float = Field(ge=0, le=1)
    event_horizon_days: PositiveFloat
    duplicate_fraction: float = Field(ge=0, le=1)
    invalid_fraction: float = Field(ge=0, le=1)
    n_segments: PositiveInt
    segment_focus: float = Field(ge=0, le=1)
    popularity_exponent: float = Field(ge=0, le=5)
    bills_min: PositiveInt
    bills_max: int = Field(ge=1, le=12)
    explore_share: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _bills_range(self) -> SampleDataParams:
        if self.bills_min > self.bills_max:
            raise ValueError(f"bills_min ({self.bills_min}) must not exceed bills_max ({self.bills_max})")
        return self


class LandingParams(_Block):
    create_bucket_if_missing: bool


class WindowParams(_Block):
    process_time: datetime | None
    since: datetime | None
    lookback_days: PositiveFloat
    full_extract: bool


class MergeParams(_Block):
    missing_keys: Literal["ignore", "invalidate"]
    max_invalidated_share: float = Field(ge=0, le=1)
    allow_mass_invalidation: bool


class IndexParams(_Block):
    since: datetime | None
    lookback_days: PositiveFloat


# Each ``payments.<block>`` of the YAML and its model (tests validate the shipped YAML with it).
BLOCKS: dict[str, type[_Block]] = {
    "window": WindowParams,
    "source": SourceParams,
    "sample_data": SampleDataParams,
    "landing": LandingParams,
    "merge": MergeParams,
    "index": IndexParams,
    "deliverables": DeliverablesParams,
}
