"""Lake datasets for the ingestion zones: raw bytes, versioned partitioned parquet tables, the lake root.

Layout: ``{zone}/{source}/{version-yyyymmdd}/{table}/<partition>=<value>/part-*.parquet``. A version is
written only by saving it explicitly; earlier versions are never touched, so they stay readable.
Paths may be local or ``s3://`` (fsspec/s3fs; the endpoint comes from ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from copy import deepcopy
from typing import IO, Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from fsspec.core import url_to_fs
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview
from kedro_datasets.partitions import PartitionedDataset
from kedro_datasets.text import TextDataset
from pyarrow.fs import FSSpecHandler, LocalFileSystem, PyFileSystem

from cripto_platform.datasets._preview import table_preview

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent writers of one path are not serialised
    fcntl = None

VERSION_PATTERN = re.compile(r"^\d{8}$")


def _arrow_fs(fs: fsspec.AbstractFileSystem):
    """A pyarrow filesystem for ``fs`` (native for local paths, wrapped fsspec otherwise)."""
    return LocalFileSystem() if _is_local(fs) else PyFileSystem(FSSpecHandler(fs))


def as_arrow(data: Any) -> pa.Table | pa.RecordBatchReader:
    """``data`` as Arrow: a table as is, a frame converted, a stream (a ``RecordBatchReader`` or any object
    with ``__arrow_c_stream__``, e.g. the ingestion's ``TypedCsvStream``) as a reader, not materialised."""
    if isinstance(data, (pa.Table, pa.RecordBatchReader)):
        return data
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data)
    raise TypeError(f"cannot write {type(data).__name__} as a table: give a DataFrame, an Arrow table or an Arrow stream")


def write_partitioned(
    data: pd.DataFrame | pa.Table | pa.RecordBatchReader,
    path: str,
    partition_cols: list[str] | None = None,
    compression: str = "zstd",
    fs: fsspec.AbstractFileSystem | None = None,
) -> None:
    """Write ``data`` as hive-partitioned compressed parquet under ``path``, replacing what was there.

    The files are written to a staging folder beside ``path`` first and swapped in only once complete,
    so a failed write leaves the previous content of ``path`` as it was. A stream (``RecordBatchReader``
    or an ``__arrow_c_stream__`` object) is written as it is read, never materialised.
    """
    table = as_arrow(data)
    fs, root = (fs, path) if fs is not None else url_to_fs(path)
    root = root.rstrip("/")
    staging = _staging_name(root)
    fs.makedirs(staging, exist_ok=True)
    try:
        _write_dataset(table, staging, partition_cols, compression, fs)
    except BaseException:
        _remove_staging(fs, staging)
        raise
    swap_in(fs, staging, root)


def _staging_name(root: str) -> str:
    return f"{root}.staging-{uuid.uuid4().hex[:12]}"


def _remove_staging(fs: fsspec.AbstractFileSystem, staging: str) -> None:
    try:
        fs.rm(staging, recursive=True)
    except FileNotFoundError:  # nothing was written (object stores have no empty folders)
        pass


@contextmanager
def path_lock(fs: fsspec.AbstractFileSystem, root: str) -> Iterator[None]:
    """Serialise writers of ``root``: locally an exclusive ``flock`` on its parent folder, held while swapping.

    The lock is on the folder itself (no lock file is left beside the data); it is released when the
    descriptor closes, also when the process dies. Object stores get no lock (see ``swap_in``).
    """
    if not _is_local(fs) or fcntl is None:
        yield
        return
    parent = os.path.dirname(root) or "."
    os.makedirs(parent, exist_ok=True)
    descriptor = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def swap_in(fs: fsspec.AbstractFileSystem, staging: str, root: str) -> None:
    """Replace the folder ``root`` by the complete folder ``staging`` (which is consumed).

    Locally: two renames under ``path_lock``, so the previous content stays complete on disk until the
    new one is in place and two writers of one path end with one complete version (the last swap wins),
    never one folder moved inside the other. Object stores have no folders to rename: the objects under
    the prefix are replaced (concurrent writers of one prefix there are not serialised).
    """
    if _is_local(fs):
        previous = f"{staging}.previous"
        with path_lock(fs, root):
            if os.path.exists(root):
                os.rename(root, previous)
            os.rename(staging, root)
        shutil.rmtree(previous, ignore_errors=True)
        return
    if fs.exists(root):
        fs.rm(root, recursive=True)
    for source in fs.find(staging):
        fs.mv(source, root + source[len(staging):])
    fs.invalidate_cache()


@contextmanager
def atomic_write(
    fs: fsspec.AbstractFileSystem, path: str, mode: str = "wb", **open_args: Any
) -> Iterator[IO]:
    """A file to write whose content appears at ``path`` only when the block ends without an error.

    Locally the bytes go to a temporary name in the same folder (``.<name>.<hex>.tmp``: hidden, and not
    ending in the file's suffix, so listings by suffix skip it), are flushed to disk and renamed over
    ``path``: a reader sees the old file or the new one, and a writer killed half way leaves only the
    temporary file. On object stores the write goes straight to ``path`` with fsspec's autocommit off:
    the object appears only when the upload is committed (one PUT, or a completed multipart upload),
    and an error discards it (aborting the multipart upload), so a failed or killed write leaves the
    previous object. (With autocommit on, leaving the ``with`` block on an error still commits the
    bytes written so far: that is the partial file this avoids.)
    """
    if _is_local(fs):
        parent, name = os.path.split(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        temporary = os.path.join(parent, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with open(temporary, mode) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.remove(temporary)
            raise
        return
    handle = fs.open(path, mode, autocommit=False, **open_args)
    try:
        yield handle
        handle.close()
        handle.commit()
    except BaseException:
        try:
            handle.discard()
        finally:
            handle.closed = True  # or closing it when collected would upload what was written
        raise
    finally:
        fs.invalidate_cache(path)


def version_folders(fs: fsspec.AbstractFileSystem, root: str, pattern: re.Pattern, child: str) -> list[str]:
    """Names of the folders under ``root`` that match ``pattern`` and hold ``child``, oldest first (fresh listing)."""
    fs.invalidate_cache()
    if not fs.exists(root):
        return []
    names = (entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(root, detail=False))
    return sorted(name for name in names if pattern.match(name) and fs.exists(f"{root}/{name}/{child}"))


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


# Rows a partition's file buffers before it writes a row group. Without a minimum, pyarrow writes every
# incoming batch's slice of a partition as a row group of its own (~750 rows for a 16-way split of 8 MiB
# chunks): thousands of row groups per file, whose metadata the writer keeps until the file closes, so
# memory grew with the file (0.48 GiB of anonymous memory for 2 GiB of CSV, 0.80 GiB for 4 GiB). With
# it, peak memory is about partitions x MIN_ROWS_PER_GROUP rows, whatever the file size, and readers get
# row groups of 64k-1M rows (DuckDB's own are 122,880).
MIN_ROWS_PER_GROUP = 1 << 16
MAX_ROWS_PER_GROUP = 1 << 20


def _write_dataset(table: pa.Table, root: str, partition_cols, compression: str, fs) -> None:
    fmt = ds.ParquetFileFormat()
    ds.write_dataset(
        table,
        root,
        format=fmt,
        partitioning=partition_cols or None,
        partitioning_flavor="hive" if partition_cols else None,
        filesystem=_arrow_fs(fs),
        file_options=fmt.make_write_options(compression=compression),
        existing_data_behavior="overwrite_or_ignore",
        basename_template="part-{i}.parquet",
        min_rows_per_group=MIN_ROWS_PER_GROUP,
        max_rows_per_group=MAX_ROWS_PER_GROUP,
    )


class LakeTableDataset(AbstractDataset[dict[str, Any], pd.DataFrame]):
    """One processed table under ``{path}/{version}/{table}/`` as partitioned, compressed parquet.

    ``save({"20261126": frame})`` writes that version (a dict, as ``PartitionedDataset`` takes, so the
    node decides the version). The value may also be an Arrow stream (a ``RecordBatchReader`` or an
    object with ``__arrow_c_stream__``, such as the ingestion's ``TypedCsvStream``): it is written batch by
    batch as it is read (``write_partitioned``: staged, then swapped in), so a table larger than memory
    can be saved. A catalog ``validator:`` sees what the node returned; the quality rules need whole
    frames, so streamed tables carry no validator (the Kaggle CSV tables, the only streamed ones, have none). ``load()`` returns the newest version, or ``load_version`` when set;
    with ``missing_ok`` and no version yet it returns an empty frame. With ``all_versions`` it returns
    ``{version: load function}`` for every version instead (as ``PartitionedDataset`` does), so a node
    can pick the version it needs (e.g. the newest one up to the run's version). With ``lazy`` it returns
    that version as a ``ParquetSource``, a handle that reads no rows (``to_pandas()`` reads it, ``dataset()``
    is a pyarrow dataset to filter first; ``exists`` is False before the first version): a lake table can be
    larger than memory, and a node that only counts or scans it should not load it.

    Example::

        kaggle_credit_risk:
          type: cripto_platform.datasets.LakeTableDataset
          path: data/03_primary/kaggle
          table: credit_risk
          partition_cols: [loan_intent]
    """

    def __init__(
        self,
        *,
        path: str,
        table: str,
        partition_cols: list[str] | None = None,
        compression: str = "zstd",
        load_version: str | None = None,
        missing_ok: bool = False,
        all_versions: bool = False,
        lazy: bool = False,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = path.rstrip("/")
        self._table = table
        self._all_versions = all_versions
        self._lazy = lazy
        self._fs_args = dict(fs_args or {})
        self._partition_cols = list(partition_cols or [])
        self._compression = compression
        self._load_version = str(load_version) if load_version else None
        self._missing_ok = missing_ok
        self._fs, self._root = url_to_fs(self._path, **(fs_args or {}))
        self.metadata = metadata

    def versions(self) -> list[str]:
        """Versions (yyyymmdd) holding this table, oldest first."""
        return version_folders(self._fs, self._root, VERSION_PATTERN, self._table)

    def table_path(self, version: str) -> str:
        return f"{self._root}/{version}/{self._table}"

    def load(self) -> pd.DataFrame | dict[str, Any]:
        versions = self.versions()
        if self._all_versions:
            return {version: (lambda version=version: self._load_version_frame(version)) for version in versions}
        version = self._load_version or (versions[-1] if versions else None)
        if self._lazy:  # the versions listed above, not a second listing
            from cripto_platform.datasets.lake_scan import lake_source

            return lake_source(self._path, self._table, version if version in versions else None, name=self._table,
                               fs_args=self._fs_args)
        if version is None or version not in versions:
            if self._missing_ok and self._load_version is None:
                return pd.DataFrame()
            raise DatasetError(
                f"table '{self._table}': no version {version or ''} under '{self._path}' "
                f"(available: {versions or 'none'})"
            )
        return self._load_version_frame(version)

    def _load_version_frame(self, version: str) -> pd.DataFrame:
        dataset = ds.dataset(
            self.table_path(version),
            filesystem=_arrow_fs(self._fs),
            format="parquet",
            partitioning="hive" if self._partition_cols else None,
        )
        return dataset.to_table().to_pandas()

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(
                f"table '{self._table}': save a dict {{version: frame}}, got {type(data).__name__}"
            )
        for version, frame in data.items():
            if not VERSION_PATTERN.match(str(version)):
                raise DatasetError(f"table '{self._table}': version '{version}' is not yyyymmdd")
            try:
                frame = as_arrow(frame)
            except TypeError as error:
                raise DatasetError(f"table '{self._table}' version {version}: {error}") from None
            columns = frame.schema.names
            missing = [c for c in self._partition_cols if c not in columns]
            if missing:
                raise DatasetError(f"table '{self._table}': partition column(s) {missing} not in the data")
            write_partitioned(
                frame, self.table_path(str(version)), self._partition_cols, self._compression, self._fs
            )

    def _exists(self) -> bool:
        return bool(self.versions())

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "table": self._table, "partition_cols": self._partition_cols}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The first ``nrows`` rows of the newest version (or ``load_version``) for kedro-viz; the scan
        stops after the first row groups that hold them. Empty when no version is written yet."""
        versions = self.versions()
        version = self._load_version or (versions[-1] if versions else None)
        if version is None or version not in versions:
            return table_preview(pd.DataFrame())
        dataset = ds.dataset(
            self.table_path(version),
            filesystem=_arrow_fs(self._fs),
            format="parquet",
            partitioning="hive" if self._partition_cols else None,
        )
        return table_preview(dataset.head(int(nrows)).to_pandas())


class RawVersionsDataset(PartitionedDataset):
    """The raw zone: a ``PartitionedDataset`` whose save replaces each version folder as a whole.

    Partition ids hold a ``yyyymmdd`` folder (``{version}/{file}`` or ``{dataset}/{version}/{file}``).
    Saving writes every file of a version to a staging folder beside it and swaps it in
    (``swap_in``), so rewriting a version drops files the source no longer has, a failed save keeps
    the previous folder, and other versions are not touched. A value with an ``open()`` (a ``RawFile``,
    a downloaded file on disk) is copied in pieces, byte for byte, so its size is not bounded by memory.
    Loading is ``PartitionedDataset``'s, with each lazy loader a ``RawFile``: called, it loads the file
    as before (its bytes); ``open()`` gives a binary file to stream it instead, so a file larger than
    memory can be read.
    """

    def load(self) -> dict[str, RawFile]:
        loaders = super().load()  # lists the partitions (cached until the next load or save)
        files = {}
        for path in self._list_partitions():
            partition = self._path_to_partition(path)
            files[partition] = RawFile(self._join_protocol(path), self._filesystem, path, loaders[partition])
        return files

    def save(self, data: dict[str, Any]) -> None:
        folders: dict[str, dict[str, Any]] = {}
        for partition, value in data.items():
            parts = partition.strip("/").split("/")
            cut = next((i for i, part in enumerate(parts[:-1]) if VERSION_PATTERN.match(part)), None)
            if cut is None:
                raise DatasetError(f"raw partition '{partition}' has no yyyymmdd version folder above the file")
            folders.setdefault("/".join(parts[: cut + 1]), {})["/".join(parts[cut + 1 :])] = value
        fs = self._filesystem
        base = fs._strip_protocol(self._normalized_path).rstrip(self._sep)
        for folder, files in sorted(folders.items()):
            root = f"{base}/{folder}"
            staging = _staging_name(root)
            try:
                for name, value in sorted(files.items()):
                    target = f"{staging}/{name}{self._filename_suffix}"
                    if callable(getattr(value, "open", None)):
                        _copy_file(value, fs, target)
                        continue
                    kwargs = deepcopy(self._dataset_config)
                    kwargs[self._filepath_arg] = self._join_protocol(target)
                    if callable(value) and self._save_lazily:
                        value = value()
                    self._dataset_type(**kwargs).save(value)
            except BaseException:
                _remove_staging(fs, staging)
                raise
            swap_in(fs, staging, root)
        self._invalidate_caches()


def _copy_file(source: Any, fs: fsspec.AbstractFileSystem, target: str) -> None:
    """Copy the file ``source.open()`` gives to ``target`` in 8 MiB pieces."""
    parent = target.rsplit("/", 1)[0]
    if _is_local(fs):
        os.makedirs(parent, exist_ok=True)
    with source.open() as reader, fs.open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 8 * 1024 * 1024)


class RawFile:
    """One raw-zone file, not read yet: call it for its content (what the partition's dataset loads, as
    ``PartitionedDataset``'s lazy loaders do), or ``open()`` it for a binary file to read in pieces."""

    def __init__(self, path: str, fs: fsspec.AbstractFileSystem, fs_path: str, load: Any) -> None:
        self.path = path  # with its protocol (s3://...) when not local
        self._fs, self._fs_path, self._load = fs, fs_path, load

    def __call__(self) -> Any:
        return self._load()

    def open(self) -> IO[bytes]:
        """The file opened for binary reading (close it, or use it in a ``with`` block): a local file, or an
        object store's file behind ``io.BufferedReader`` (fsspec's files lack ``readline(size)``)."""
        if _is_local(self._fs):
            return open(self._fs_path, "rb")
        return io.BufferedReader(self._fs.open(self._fs_path, "rb"))

    def size(self) -> int:
        """The file's size in bytes."""
        return int(self._fs.size(self._fs_path))

    def __repr__(self) -> str:
        return f"RawFile({self.path!r})"


class BytesDataset(TextDataset):
    """A file's bytes exactly as received: kedro-datasets' ``text.TextDataset`` opened in binary mode.

    The catalog uses ``text.TextDataset`` with ``fs_args: {open_args_load: {mode: rb}, open_args_save:
    {mode: wb}}`` directly (``catalog_ingestion.yml``); this name is that configuration for code that
    builds the dataset itself.
    """

    DEFAULT_FS_ARGS: dict[str, Any] = {"open_args_load": {"mode": "rb"}, "open_args_save": {"mode": "wb"}}


class LakeRootDataset(AbstractDataset[None, dict[str, Any]]):
    """Read-only: where the lake lives and whether it exists (a local folder or an S3 bucket)."""

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = path.rstrip("/")
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        fs, root = url_to_fs(self._path)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        fs.invalidate_cache()
        try:
            exists = bool(fs.exists(root))
        except Exception as error:  # unreachable endpoint, bad credentials
            return {"root": self._path, "protocol": protocol, "exists": False, "error": str(error)}
        return {"root": self._path, "protocol": protocol, "exists": exists, "error": None}

    def save(self, data: None) -> None:
        raise DatasetError(f"lake root '{self._path}' is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
