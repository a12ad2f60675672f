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
    # A lake table's source (LakeScanDataset) knows where its other versions are: {lake_root}/{version}/{lake_table}
    lake_root: str | None = None
    lake_table: str | None = None
    lake_fs_args: tuple = ()  # (key, value) pairs: the filesystem arguments, hashable like every other field

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

    def to_pandas(self) -> Any:
        """Every row as a pandas DataFrame (an empty one when nothing is written)."""
        import pandas as pd

        return self.dataset().to_table().to_pandas() if self.exists and self.files else pd.DataFrame()

    def at_version(self, version: str) -> ParquetSource:
        """The same lake table at ``version`` (``exists=False`` if that version was not written); a source that is
        not a lake table's, or already at ``version``, as it is."""
        if self.lake_root is None or self.lake_table is None or self.version == str(version):
            return self
        from cripto_platform.datasets.lake_scan import lake_source

        return lake_source(self.lake_root, self.lake_table, str(version), name=self.name, fs_args=dict(self.lake_fs_args))


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

    def to_pandas(self) -> Any:
        """The whole table as a pandas DataFrame."""
        import pandas as pd

        from cripto_platform.warehouse import get_engine

        with get_engine(self.url).connect() as connection:
            return pd.read_sql_table(self.table, connection, schema=self.schema)
