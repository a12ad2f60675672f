"""Typed models of ``conf/base/parameters_profiling.yml``: Kedro validates them before a run starts.

Defaults live in the YAML only: every field is required here. Each node reads one block.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, field_validator

from cripto_platform.pipelines.profiling.tables import NAMES
from cripto_platform.quality.deliverables import DeliverablesParams


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TablesParams(_Block):
    include: list[str]
    quality_rules: bool

    @field_validator("include")
    @classmethod
    def _known(cls, include: list[str]) -> list[str]:
        unknown = sorted(set(include) - set(NAMES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; candidates (pipelines/profiling/tables.py): {list(NAMES)}")
        return include


class ProfileParams(_Block):
    batch_rows: PositiveInt
    sample_rows: PositiveInt
    distinct_exact_limit: int = Field(ge=16)
    row_hash_limit: int = Field(ge=16)
    top_values: PositiveInt
    top_values_capacity: PositiveInt
    histogram_bins: int = Field(ge=1, le=1000)
    max_correlation_columns: int = Field(ge=0, le=200)
    spearman_max_rows: PositiveInt
    seed: int


class DriftParams(_Block):
    row_count_change: NonNegativeFloat
    missing_share_change: float = Field(ge=0, le=1)
    mean_shift_std: NonNegativeFloat
    quantile_shift_iqr: NonNegativeFloat
    max_categories: PositiveInt
    flag_schema_changes: bool
    flag_category_changes: bool


BLOCKS: dict[str, type[_Block]] = {
    "tables": TablesParams, "profile": ProfileParams, "drift": DriftParams, "deliverables": DeliverablesParams,
}
