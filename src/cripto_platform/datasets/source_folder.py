"""``SourceFolderDataset``: an outside folder's files as received, or nothing when no folder is configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.partitions import PartitionedDataset


class SourceFolderDataset(AbstractDataset[None, dict[str, Callable[[], Any]]]):
    """Read-only: the files under ``path`` (any fsspec folder), loaded as kedro-datasets'
    ``PartitionedDataset`` loads them: ``{relative path: lazy loader}``, nothing read until called.

    ``path: null`` means no outside source is configured: ``load()`` returns ``{}`` and the node falls
    back to its sample-data generator. A configured folder with no files fails naming it.

    Example::

        sales_source:
          type: cripto_platform.datasets.SourceFolderDataset
          path: ${runtime_params:ingestion.sales.source_uri,null}
          dataset:
            type: text.TextDataset
            fs_args: {open_args_load: {mode: rb}}
    """

    def __init__(
        self,
        *,
        path: str | None,
        dataset: str | type | dict[str, Any],
        filename_suffix: str = "",
        credentials: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = path or None
        self._files = None if self._path is None else PartitionedDataset(
            path=self._path, dataset=dataset, filename_suffix=filename_suffix, credentials=credentials,
            load_args=load_args, fs_args=fs_args,
        )
        self.metadata = metadata

    @property
    def configured(self) -> bool:
        """Whether an outside folder is configured (else the node generates sample data)."""
        return self._path is not None

    def load(self) -> dict[str, Callable[[], Any]]:
        return {} if self._files is None else self._files.load()

    def save(self, data: None) -> None:
        raise DatasetError(f"source folder '{self._path}' is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
