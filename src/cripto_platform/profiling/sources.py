"""Lazy handles to a table, what the profiling datasets load: nothing is read until a profiler scans them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow.dataset as ds


@dataclass(frozen=True)
class ParquetSource:
    """Parquet files of one table version (a lake table's newest version, or any parquet path).

    ``files`` are ``(path, bytes)`` pairs; ``version`` is ``None`` for a path without versions and
    ``exists`` is False when the table has no version yet (the profile then says so).
    """

    name: str
    location: str
    version: str | None
    files: tuple[tuple[str, int], ...] = ()
    filesystem: Any = None  # a pyarrow filesystem
    partitioning: str | None = None
    exists: bool = True

    def dataset(self) -> ds.Dataset:
        """The pyarrow dataset over ``files`` (metadata only: batches are read when scanned)."""
        return ds.dataset(
            [path for path, _ in self.files],
            filesystem=self.filesystem,
            format="parquet",
            partitioning=ds.partitioning(flavor="hive") if self.partitioning == "hive" else None,
            partition_base_dir=self.location if self.partitioning == "hive" else None,
        )

    @property
    def size_on_disk(self) -> int:
        return sum(size for _, size in self.files)


@dataclass(frozen=True)
class WarehouseSource:
    """A warehouse table by name; ``url`` is the configured connection (``None``: the embedded server)."""

    name: str
    table: str
    url: str | None = None
    schema: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def location(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table
