"""``AnnoyIndexDataset``: a company Annoy index with its item-to-company mapping, local or on S3.

A saved index is a folder: ``index.ann`` (Annoy's own file) and ``meta.json`` (dimension, metric,
trees, search_k, the item -> company_code mapping and the popularity fallback). ``meta.json`` is
written last, so a folder without it is an interrupted save and is never loaded. Locally the folder
is written under a temporary name and renamed into place. Annoy memory-maps a local file, so an
index on S3 is downloaded to a temporary folder first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from annoy import AnnoyIndex
from kedro_datasets._typing import TablePreview
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str, get_protocol_and_path

from cripto_platform.recommender import CompanyIndex

INDEX_FILE, META_FILE = "index.ann", "meta.json"


class AnnoyIndexDataset(AbstractVersionedDataset[CompanyIndex, CompanyIndex]):
    """Saves and loads a ``CompanyIndex``; versioned like kedro-datasets' file datasets.

    Example::

        company_index:
          type: cripto_platform.datasets.AnnoyIndexDataset
          filepath: ${globals:lake_root}/06_models/company_index
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._exists_complete, glob_function=self._fs.glob)

    def _exists_complete(self, path: str) -> bool:
        return self._fs.exists(f"{path.rstrip('/')}/{META_FILE}")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def load(self) -> CompanyIndex:
        folder = get_filepath_str(self._get_load_path(), self._protocol)
        try:
            meta = json.loads(self._fs.cat_file(f"{folder}/{META_FILE}"))
        except FileNotFoundError:
            raise DatasetError(f"company index at '{folder}' is incomplete or missing ({META_FILE} not found)") from None
        local = folder if self._protocol == "file" else self._download(folder)
        index = AnnoyIndex(int(meta["dimension"]), meta["metric"])
        if not index.load(f"{local}/{INDEX_FILE}"):
            raise DatasetError(f"company index at '{folder}': Annoy could not load {INDEX_FILE}")
        if index.get_n_items() != len(meta["company_codes"]):
            raise DatasetError(f"company index at '{folder}': {index.get_n_items()} items but "
                               f"{len(meta['company_codes'])} company codes in {META_FILE}")
        return CompanyIndex(index=index, company_codes=tuple(meta["company_codes"]), dimension=int(meta["dimension"]),
                            search_k=int(meta["search_k"]), n_trees=int(meta["n_trees"]),
                            popularity=pd.DataFrame(meta["popularity"]), metric=meta["metric"])

    def _download(self, folder: str) -> str:
        local = tempfile.mkdtemp(prefix="company-index-")
        self._fs.get(f"{folder}/{INDEX_FILE}", f"{local}/{INDEX_FILE}")
        return local

    def save(self, data: CompanyIndex) -> None:
        folder = get_filepath_str(self._get_save_path(), self._protocol)
        meta = {
            "dimension": data.dimension, "metric": data.metric, "n_trees": data.n_trees, "search_k": data.search_k,
            "company_codes": list(data.company_codes),
            "popularity": data.popularity.to_dict(orient="list"),
        }
        with tempfile.TemporaryDirectory(prefix="company-index-") as staging:
            data.index.save(f"{staging}/{INDEX_FILE}")
            with open(f"{staging}/{META_FILE}", "w", encoding="utf-8") as handle:
                json.dump(meta, handle, sort_keys=True)
            if self._protocol == "file":
                partial = f"{folder}.partial-{uuid.uuid4().hex[:8]}"
                os.makedirs(os.path.dirname(folder), exist_ok=True)
                shutil.copytree(staging, partial)
                os.replace(partial, folder) if not os.path.exists(folder) else _swap(partial, folder)
            else:  # objects appear whole; meta.json last marks the folder complete
                self._fs.put_file(f"{staging}/{INDEX_FILE}", f"{folder}/{INDEX_FILE}")
                self._fs.put_file(f"{staging}/{META_FILE}", f"{folder}/{META_FILE}")
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        filepath = get_filepath_str(self._filepath, self._protocol)
        self._fs.invalidate_cache(filepath)

    def preview(self) -> TablePreview:
        """The item -> company mapping as a table (kedro-viz)."""
        data = self.load()
        frame = pd.DataFrame({"item": range(len(data.company_codes)), "company_code": data.company_codes})
        return frame.head(20).to_dict(orient="split")


def _swap(new: str, old: str) -> None:
    """Replace folder ``old`` with ``new``: the old one is renamed aside before the new one moves in."""
    aside = f"{old}.previous-{uuid.uuid4().hex[:8]}"
    os.replace(old, aside)
    os.replace(new, old)
    shutil.rmtree(aside, ignore_errors=True)
