"""``CommittedPartitionedDataset``: a ``PartitionedDataset`` whose load lists only committed partitions.

A partition is committed once a marker file sits beside it: ``<partition><filename_suffix><marker_suffix>``
(``payments_<run_id>.parquet`` → ``payments_<run_id>.parquet.merged``). The markers are saved by a
node through their own catalog entry (a ``PartitionedDataset`` on the same folder with
``filename_suffix: <filename_suffix><marker_suffix>``), after whatever the commit stands for
happened, so a run that failed before that point leaves its partition on disk but out of every load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro.io.core import VERSION_KEY, DatasetError
from kedro_datasets.partitions import PartitionedDataset


class CommittedPartitionedDataset(PartitionedDataset):
    """``partitions.PartitionedDataset`` (same arguments) plus ``marker_suffix``: ``load()`` returns only
    the partitions that have their marker; ``save()`` writes partitions as ``PartitionedDataset`` does,
    uncommitted. ``uncommitted()`` lists the partitions written but never committed.

    Example::

        payments_landing:
          type: cripto_platform.datasets.CommittedPartitionedDataset
          path: data/01_raw/payments_landing/payments
          dataset:
            type: cripto_platform.datasets.AtomicParquetDataset
          filename_suffix: .parquet
          marker_suffix: .merged
    """

    def __init__(self, *, marker_suffix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not marker_suffix:
            raise DatasetError(f"partitions under '{self._path}': marker_suffix must not be empty")
        if VERSION_KEY in self._dataset_config:
            raise DatasetError(f"partitions under '{self._path}': versioned partitions are not supported")
        self._marker_suffix = marker_suffix
        self._cached_uncommitted: list[str] = []

    def _list_partitions(self) -> list[str]:
        if self._cached_partitions is not None:
            return self._cached_partitions
        found = set(self._filesystem.find(self._normalized_path, **self._load_args))
        data = sorted(path for path in found if path.endswith(self._filename_suffix))
        self._cached_partitions = [path for path in data if path + self._marker_suffix in found]
        self._cached_uncommitted = [path for path in data if path + self._marker_suffix not in found]
        return self._cached_partitions

    def uncommitted(self) -> list[str]:
        """Ids of the partitions written but without a marker (their runs never committed)."""
        self._invalidate_caches()
        self._list_partitions()
        return [self._path_to_partition(path) for path in self._cached_uncommitted]

    def load(self) -> dict[str, Callable[[], Any]]:
        try:
            return super().load()
        except DatasetError as error:
            if self._cached_partitions:  # a partition failed to build, not an empty listing
                raise
            pending = [self._path_to_partition(path) for path in self._cached_uncommitted]
            raise DatasetError(
                f"no committed partitions in '{self._path}' (none has its '*{self._filename_suffix}"
                f"{self._marker_suffix}' marker); uncommitted: {pending[:5] or 'none'}"
                + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
            ) from error

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "marker_suffix": self._marker_suffix}
