"""``AtomicParquetDataset``: kedro-datasets' ``pandas.ParquetDataset`` whose save never leaves a partial file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.pandas import ParquetDataset

from cripto_platform.datasets.lake import atomic_write


class AtomicParquetDataset(ParquetDataset):
    """A Parquet file through pandas, exactly as ``pandas.ParquetDataset`` (same keyword-only
    ``load_args``/``save_args``/``credentials``/``fs_args``/``metadata``, ``versioned: true``,
    kedro-viz ``preview``), saved with ``atomic_write``: locally a temporary file in the same folder
    renamed into place, on S3 an upload committed only once complete. A save that fails or is killed
    half way leaves the previous file (or none), never a partial one that breaks the next load. With ``lazy``,
    ``load()`` returns a ``ParquetSource`` (rows from the footer, none read; ``to_pandas()`` reads them), for a
    node that only counts or filters the file.

    Example::

        payments_index:
          type: cripto_platform.datasets.AtomicParquetDataset
          filepath: data/04_feature/payments_index.parquet
          lazy: true
    """

    def __init__(self, *, lazy: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lazy = lazy

    def load(self):
        if not self._lazy:
            return super().load()
        from cripto_platform.profiling.parquet import parquet_source

        # the file pandas would read (the versioned one when versioned), with the same filesystem options
        path = str(self._get_load_path())
        if self._protocol != "file":
            path = f"{self._protocol}://{path}"
        return parquet_source(path, name=Path(path).stem, **(self._storage_options if self._protocol != "file" else {}))

    def save(self, data: pd.DataFrame) -> None:
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._protocol == "file" and Path(save_path).is_dir():
            raise DatasetError(f"parquet file '{save_path}': a directory is in the way; expected a file")
        if "partition_cols" in self._save_args:
            raise DatasetError(
                f"parquet file '{save_path}': save_args.partition_cols is not supported; "
                "use a PartitionedDataset or LakeTableDataset"
            )
        with atomic_write(self._fs, save_path, **self._fs_open_args_save) as handle:
            data.to_parquet(handle, **self._save_args)
        self._invalidate_cache()
