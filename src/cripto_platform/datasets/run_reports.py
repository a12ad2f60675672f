"""One report file per run under ``{path}/{version}/{filename}``: save ``{version: content}``, load the newest.

JSON (a dict) or text (HTML); each file is written atomically (``lake.atomic_write``), locally or on
S3. Loading returns ``{version: content}`` for the newest version holding the file, or ``{}`` when
there is none yet, so a node can compare a run with the one before it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from fsspec.core import url_to_fs
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from cripto_platform.datasets._preview import table_preview

from cripto_platform.datasets.lake import atomic_write, version_folders

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")


class RunReportDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """A run's report file, versioned by folder (Kedro's save-version format, sortable as text).

    Example::

        "{table}_profile_json":
          type: cripto_platform.datasets.run_reports.RunReportDataset
          path: data/08_reporting/profiling
          file_name: "{table}.json"
          format: json
    """

    def __init__(
        self,
        *,
        path: str,
        file_name: str,
        format: Literal["json", "text"] = "json",  # noqa: A002 - the catalog key
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if format not in ("json", "text"):
            raise DatasetError(f"report '{file_name}': format must be json or text, got '{format}'")
        self._path = path.rstrip("/")
        self._filename = file_name
        self._format = format
        self._fs, self._root = url_to_fs(self._path, **(fs_args or {}))
        self.metadata = metadata

    def versions(self) -> list[str]:
        """Run versions holding this file, oldest first."""
        return version_folders(self._fs, self._root, _VERSION, self._filename)

    def load(self) -> dict[str, Any]:
        versions = self.versions()
        if not versions:
            return {}
        with self._fs.open(f"{self._root}/{versions[-1]}/{self._filename}", "r", encoding="utf-8") as handle:
            content = handle.read()
        return {versions[-1]: json.loads(content) if self._format == "json" else content}

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"report '{self._filename}': save a dict {{version: content}}, got {type(data).__name__}")
        for version, content in data.items():
            if not _VERSION.match(str(version)):
                raise DatasetError(f"report '{self._filename}': version '{version}' is not a Kedro save version")
            text = json.dumps(content, indent=1, ensure_ascii=False, allow_nan=False) if self._format == "json" else content
            folder = f"{self._root}/{version}"
            self._fs.makedirs(folder, exist_ok=True)
            with atomic_write(self._fs, f"{folder}/{self._filename}", "wb") as handle:
                handle.write(text.encode("utf-8"))

    def _exists(self) -> bool:
        return bool(self.versions())

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "file_name": self._filename, "format": self._format}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The newest run's report for kedro-viz: a profile's per-column figures (scalars only), the top-level
        scalars of another JSON, or the run and size of a page."""
        loaded = self.load()
        if not loaded:
            return table_preview(pd.DataFrame())
        (version, content), = loaded.items()
        if self._format == "text":
            return table_preview(pd.DataFrame([{"run": version, "file": self._filename, "characters": len(content)}]))
        columns = content.get("columns") if isinstance(content, dict) else None
        if isinstance(columns, list) and columns and all(isinstance(c, dict) for c in columns):
            rows = [{k: v for k, v in c.items() if v is None or isinstance(v, (str, int, float, bool))} for c in columns]
            return table_preview(pd.DataFrame(rows).head(int(nrows)))
        scalars = {k: v for k, v in (content.items() if isinstance(content, dict) else [])
                   if v is None or isinstance(v, (str, int, float, bool))}
        return table_preview(pd.DataFrame([{"run": version, **scalars}]))


class RunReports:
    """Every report file under one folder of runs, read on demand: ``newest("<name>")`` is ``{version: content}``
    of the newest run holding ``<name><suffix>`` (``{}`` when none does), as ``RunReportDataset.load``."""

    def __init__(self, path: str, suffix: str, format: str, fs_args: dict[str, Any] | None) -> None:  # noqa: A002
        self._path, self._suffix, self._format, self._fs_args = path, suffix, format, fs_args

    def newest(self, name: str) -> dict[str, Any]:
        return RunReportDataset(path=self._path, file_name=f"{name}{self._suffix}", format=self._format,
                                fs_args=self._fs_args).load()


class RunReportsDataset(AbstractDataset[None, RunReports]):
    """Read-only: the reports of earlier runs under ``{path}/{version}/``, one file per name, as ``RunReports``.

    One dataset for a family of reports (a profile per table), read by name when needed, so a node can compare
    a run's report with the one before it without a catalog entry per name.

    Example::

        profiling_previous_reports:
          type: cripto_platform.datasets.run_reports.RunReportsDataset
          path: data/08_reporting/profiling
          suffix: .json
    """

    def __init__(
        self,
        *,
        path: str,
        suffix: str,
        format: Literal["json", "text"] = "json",  # noqa: A002 - the catalog key
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path, self._suffix, self._format, self._fs_args = path.rstrip("/"), suffix, format, fs_args
        self.metadata = metadata

    def load(self) -> RunReports:
        return RunReports(self._path, self._suffix, self._format, self._fs_args)

    def save(self, data: None) -> None:
        raise DatasetError(f"reports '{self._path}/*{self._suffix}' are read-only: each is written by its own dataset")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "suffix": self._suffix, "format": self._format}
