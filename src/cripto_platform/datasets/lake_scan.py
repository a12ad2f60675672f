"""A lake table's newest version as a lazy handle (``ParquetSource``): load reads no rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from cripto_platform.datasets.lake import LakeTableDataset
from cripto_platform.profiling.parquet import parquet_source
from cripto_platform.profiling.sources import ParquetSource


def lake_source(root: str, table: str, version: str | None, *, name: str,
                fs_args: dict[str, Any] | None = None) -> ParquetSource:
    """The files of ``{root}/{version}/{table}/`` as a ``ParquetSource`` that knows where the table's other versions
    are (``at_version``); ``exists=False`` when that version (or any) was not written."""
    root = root.rstrip("/")
    fs_args = fs_args or {}
    if version is None:
        source = ParquetSource(name=name, location=root, version=None, exists=False)
    else:
        source = parquet_source(f"{root}/{version}/{table}", name=name, version=str(version), **fs_args)
    return replace(source, lake_root=root, lake_table=table, lake_fs_args=tuple(sorted(fs_args.items())))


class LakeScanDataset(AbstractDataset[None, ParquetSource]):
    """Read-only: the files of ``{path}/{version}/{table}/``, newest version.

    ``load()`` lists the parquet files and returns a ``ParquetSource`` for a profiler to scan a batch
    at a time (``at_version`` for another version); a table with no version yet loads as a source with
    ``exists=False`` (a check then reports it not written, a profile missing). ``name`` is the
    catalog dataset the files belong to (its quality rules are looked up under that name).

    Example::

        kaggle_credit_risk_scan:
          type: cripto_platform.datasets.lake_scan.LakeScanDataset
          name: kaggle_credit_risk
          path: data/03_primary/kaggle/credit_risk
          table: loans
    """

    def __init__(
        self,
        *,
        name: str,
        path: str,
        table: str,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._fs_args = fs_args or {}
        self._lake = LakeTableDataset(path=path, table=table, fs_args=fs_args)
        self._path = path
        self._table = table
        self.metadata = metadata

    def load(self) -> ParquetSource:
        versions = self._lake.versions()
        return lake_source(self._path, self._table, versions[-1] if versions else None, name=self._name,
                           fs_args=self._fs_args)

    def save(self, data: None) -> None:
        raise DatasetError(f"'{self._name}' scan is read-only: the table is written by its own dataset")

    def _exists(self) -> bool:
        return bool(self._lake.versions())

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "path": self._path, "table": self._table}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The scanned table's first ``nrows`` rows for kedro-viz (as ``LakeTableDataset.preview``)."""
        return self._lake.preview(nrows)


class LakeTablesDataset(AbstractDataset[dict[str, Any], dict[str, ParquetSource]]):
    """The lake tables a pipeline writes, as one dataset: saved as the run's record of them, loaded as lazy scans.

    Save ``{table: {"version", "rows", ...}}`` as one JSON (``WrittenMarkerDataset``), from a node that reads every
    table after its write, lazily (``record_lake_tables``): whatever loads this dataset then runs after every
    one of those writes. Load ``{table: ParquetSource}``, a ``LakeScanDataset`` per entry of ``tables`` (each
    table's newest version, or ``exists=False`` before its first one), reading no rows.

    Example::

        ingestion_lake_tables:
          type: cripto_platform.datasets.lake_scan.LakeTablesDataset
          filepath: data/08_reporting/written/ingestion_lake_tables.json
          tables:
            kaggle_credit_risk: {path: data/03_primary/kaggle/credit_risk, table: loans}
    """

    def __init__(
        self,
        *,
        filepath: str,
        tables: dict[str, dict[str, str]],
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        from cripto_platform.datasets.written_marker import WrittenMarkerDataset

        self._record = WrittenMarkerDataset(filepath=filepath)
        self._scans = {name: LakeScanDataset(name=name, path=spec["path"], table=spec["table"], fs_args=fs_args)
                       for name, spec in tables.items()}
        self.metadata = metadata

    def load(self) -> dict[str, ParquetSource]:
        return {name: scan.load() for name, scan in self._scans.items()}

    def save(self, data: dict[str, Any]) -> None:
        self._record.save(data)

    def _exists(self) -> bool:
        return self._record.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._record._describe().get("filepath"), "tables": sorted(self._scans)}

    def preview(self, nrows: int = 20) -> TablePreview:
        """What the last run recorded, a row per table: its newest version, rows and files (kedro-viz)."""
        import pandas as pd

        from cripto_platform.datasets._preview import table_preview

        recorded = self._record.load() or {}
        rows = [{"table": name, "version": (recorded.get(name) or {}).get("version"),
                 "rows": (recorded.get(name) or {}).get("rows"), "files": (recorded.get(name) or {}).get("files")}
                for name in self._scans]
        return table_preview(pd.DataFrame(rows).head(int(nrows)))
