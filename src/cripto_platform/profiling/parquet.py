"""Profile parquet a record batch at a time (pyarrow scan + polars kernels): memory stays bounded.

Every figure is merged batch by batch: exact counts, missing values, min/max, zeros/negatives, means
and standard deviations (Chan's merge), text lengths and Pearson correlations; distinct counts, value
counts, duplicates, quantiles, histograms and Spearman correlations use the bounded summaries of
``sketches``, exact until a budget is exceeded and then approximate with the bound the report states.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from fsspec.core import url_to_fs

from cripto_platform.profiling.figures import (
    QUANTILES,
    SCHEMA_VERSION,
    bin_counts,
    bin_edges,
    epoch_iso,
    iso_instant,
    number,
)
from cripto_platform.profiling.sketches import (
    DKW_DELTA,
    DistinctCounter,
    Moments,
    PairwiseMoments,
    RowSample,
    TopValues,
)
from cripto_platform.profiling.sources import ParquetSource

RuleFunction = Callable[[pd.DataFrame], list[dict]]
MergeFunction = Callable[[list[dict], list[dict]], list[dict]]


def column_kind(type_: pa.DataType) -> str:
    """numeric, boolean, text, datetime, date or other, from an Arrow type."""
    if pa.types.is_dictionary(type_):
        return column_kind(type_.value_type)
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "numeric"
    if pa.types.is_boolean(type_):
        return "boolean"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return "text"
    if pa.types.is_timestamp(type_):
        return "datetime"
    if pa.types.is_date(type_):
        return "date"
    return "other"


def _normalise(column: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array:
    """Dictionaries decoded, decimals as float64, dates/timestamps as int64 epoch seconds*1e6 units."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if kind == "numeric" and not pa.types.is_floating(column.type) and not pa.types.is_integer(column.type):
        column = column.cast(pa.float64())
    return column


class _Column:
    """Everything merged for one column across batches."""

    def __init__(self, name: str, type_: pa.DataType, options: Mapping[str, Any]) -> None:
        self.name = name
        self.type = type_
        self.kind = column_kind(type_)
        self.count = 0
        self.missing = 0
        self.distinct = DistinctCounter(options["distinct_exact_limit"])
        self.minimum: Any = None
        self.maximum: Any = None
        self.moments = Moments()
        self.zeros = 0
        self.negatives = 0
        self.top = TopValues(options["top_values_capacity"]) if self.kind == "text" else None
        self.physical_min: float | None = None
        self.physical_max: float | None = None
        self.seconds_per_unit = 1.0
        self.lengths = Moments() if self.kind == "text" else None
        self.length_min: int | None = None
        self.length_max: int | None = None
        self.empty = 0
        self.trues = 0
        self.falses = 0

    def _extreme(self, low: Any, high: Any) -> None:
        if low is not None:
            self.minimum = low if self.minimum is None else min(self.minimum, low)
        if high is not None:
            self.maximum = high if self.maximum is None else max(self.maximum, high)

    def add(self, series: pl.Series) -> np.ndarray | None:
        """Merge one batch; returns the column as float64 with NaN for missing (numeric/temporal) for the sample."""
        n = series.len()
        missing_mask = series.is_null()
        if series.dtype.is_float():
            missing_mask = missing_mask | series.is_nan().fill_null(False)
        missing = int(missing_mask.sum())
        self.missing += missing
        self.count += n - missing
        present = series.filter(~missing_mask) if missing else series
        if present.len():
            self.distinct.add(present.hash(seed=0).to_numpy())
        if self.kind == "numeric":
            full = series.cast(pl.Float64).fill_null(np.nan).to_numpy()  # NaN wherever missing_mask is set
            values = full[~missing_mask.to_numpy()] if missing else full
            if values.size:
                self._extreme(float(values.min()), float(values.max()))
                self.moments.add(values)
                self.zeros += int((values == 0).sum())
                self.negatives += int((values < 0).sum())
            return full
        if self.kind in ("datetime", "date"):
            self.seconds_per_unit = _seconds_per_unit(series.dtype)
            physical = series.to_physical().cast(pl.Float64).fill_null(np.nan).to_numpy()
            if present.len():
                self._extreme(present.min(), present.max())
                low, high = float(np.nanmin(physical)), float(np.nanmax(physical))
                self.physical_min = low if self.physical_min is None else min(self.physical_min, low)
                self.physical_max = high if self.physical_max is None else max(self.physical_max, high)
            return physical
        if self.kind == "text":
            if present.len():
                lengths = present.str.len_chars().cast(pl.Float64).to_numpy()
                self.lengths.add(lengths)
                low, high = int(lengths.min()), int(lengths.max())
                self.length_min = low if self.length_min is None else min(self.length_min, low)
                self.length_max = high if self.length_max is None else max(self.length_max, high)
                self.empty += int((lengths == 0).sum())
                self.top.add(present.value_counts())
            return None
        if self.kind == "boolean":
            trues = int(present.sum()) if present.len() else 0
            self.trues += trues
            self.falses += present.len() - trues
            return None
        return None


def _seconds_per_unit(dtype: pl.DataType) -> float:
    """Seconds per physical unit of a polars date/datetime column."""
    if dtype == pl.Date:
        return 86400.0
    return {"ms": 1e-3, "us": 1e-6, "ns": 1e-9}[dtype.time_unit]


def _numeric_report(col: _Column, sample: RowSample, options: Mapping[str, Any]) -> dict:
    values = sample.column(col.name)
    bins = options["histogram_bins"]
    exact = sample.exact
    if values.size:
        quantiles = dict(zip(QUANTILES, np.quantile(values, list(QUANTILES.values())).tolist(), strict=True))
    else:
        quantiles = dict.fromkeys(QUANTILES)
    counts = bin_counts(values, col.minimum, col.maximum, bins) if values.size else []
    if counts and not exact:
        scale = col.count / values.size
        counts = [int(round(c * scale)) for c in counts]
    return {
        "min": number(col.minimum),
        "max": number(col.maximum),
        "mean": number(col.moments.mean) if col.moments.n else None,
        "std": number(col.moments.std()),
        "quantiles": {k: number(v) for k, v in quantiles.items()},
        "quantiles_exact": exact,
        "zeros": col.zeros,
        "negatives": col.negatives,
        "histogram": {
            "edges": bin_edges(col.minimum, col.maximum, bins) if counts else [],
            "counts": counts,
            "exact": exact,
        },
    }


def _temporal_report(col: _Column, sample: RowSample, options: Mapping[str, Any]) -> dict:
    unit = col.seconds_per_unit
    aware = col.kind == "datetime" and col.type.tz is not None
    seconds = sample.column(col.name) * unit
    bins = options["histogram_bins"]
    counts: list[int] = []
    edges: list[str] = []
    if seconds.size:
        lo, hi = float(seconds.min()), float(seconds.max())
        if sample.exact:
            lo_hi = (lo, hi)
        else:
            lo_hi = (col.physical_min * unit, col.physical_max * unit)
        counts = bin_counts(seconds, *lo_hi, bins)
        if not sample.exact:
            counts = [int(round(c * col.count / seconds.size)) for c in counts]
        edges = [epoch_iso(edge, col.kind, aware) for edge in bin_edges(*lo_hi, bins)]
    return {
        "min": iso_instant(col.minimum, col.kind),
        "max": iso_instant(col.maximum, col.kind),
        "timezone": (col.type.tz if aware else None),
        "histogram": {"edges": edges, "counts": counts, "exact": sample.exact},
    }


def _column_report(col: _Column, rows: int, sample: RowSample, options: Mapping[str, Any]) -> dict:
    report: dict[str, Any] = {
        "name": col.name,
        "kind": col.kind,
        "physical_type": str(col.type),
        "count": col.count,
        "missing": col.missing,
        "missing_share": (col.missing / rows) if rows else 0.0,
        "distinct": col.distinct.estimate(),
        "distinct_exact": col.distinct.exact,
        "numeric": None,
        "text": None,
        "temporal": None,
        "boolean": None,
    }
    if col.kind == "numeric":
        report["numeric"] = _numeric_report(col, sample, options)
    elif col.kind in ("datetime", "date"):
        report["temporal"] = _temporal_report(col, sample, options)
    elif col.kind == "text":
        report["text"] = {
            "top_values": [{"value": v, "count": c} for v, c in col.top.top(options["top_values"])],
            "top_values_exact": col.top.exact,
            "top_values_max_undercount": col.top.error,
            "empty": col.empty,
            "length": {
                "min": col.length_min,
                "max": col.length_max,
                "mean": number(col.lengths.mean) if col.lengths.n else None,
                "std": number(col.lengths.std()),
            },
        }
    elif col.kind == "boolean":
        report["boolean"] = {"true": col.trues, "false": col.falses}
    return report


def _pairwise_ranks(column: np.ndarray, order: np.ndarray, groups: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of ``column[mask]`` among themselves, in row order.

    ``order`` sorts ``column`` (missing last) and ``groups`` numbers its runs of equal values in that
    order, so re-ranking a subset is linear: count the subset's rows in each run.
    """
    in_subset = mask[order]
    counts = np.bincount(groups, weights=in_subset, minlength=int(groups[-1]) + 1)
    before = np.cumsum(counts) - counts
    ranks = np.empty(column.size)
    ranks[order] = before[groups] + (counts[groups] + 1) / 2
    return ranks[mask]


def spearman_matrix(values: np.ndarray) -> np.ndarray:
    """Spearman correlations of the columns of ``values`` (NaN = missing), as ``DataFrame.corr("spearman")``.

    Each pair is ranked over the rows where both are present (ties averaged), like pandas, but every
    column is sorted once and a pair's subset re-ranked in linear time instead of sorted again.
    """
    rows, width = values.shape
    result = np.full((width, width), np.nan)
    if rows == 0:
        return result
    present = ~np.isnan(values)
    orders, groups = [], []
    for i in range(width):
        order = np.argsort(values[:, i], kind="stable")  # NaN last
        ordered = values[order, i]
        new_run = np.empty(rows, dtype=bool)
        new_run[0] = True
        new_run[1:] = ordered[1:] != ordered[:-1]  # every NaN starts its own run
        orders.append(order)
        groups.append(np.cumsum(new_run) - 1)
    full_ranks = [_pairwise_ranks(values[:, i], orders[i], groups[i], present[:, i]) for i in range(width)]
    for i in range(width):
        for j in range(i, width):
            mask = present[:, i] & present[:, j]
            n = int(mask.sum())
            if n == 0:
                continue
            same_i = n == full_ranks[i].size
            same_j = n == full_ranks[j].size
            x = full_ranks[i] if same_i else _pairwise_ranks(values[:, i], orders[i], groups[i], mask)
            y = full_ranks[j] if same_j else _pairwise_ranks(values[:, j], orders[j], groups[j], mask)
            mean = (n + 1) / 2
            dx, dy = x - mean, y - mean
            divisor = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
            if divisor != 0:
                result[i, j] = result[j, i] = np.dot(dx, dy) / divisor
    return result


def _matrix(values: np.ndarray) -> list[list[float | None]]:
    return [[number(v) for v in row] for row in values]


def _add_row_hashes(row_hashes: DistinctCounter, frame: pl.DataFrame) -> None:
    row_hashes.add(frame.hash_rows(seed=0).to_numpy())


def profile_batches(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    options: Mapping[str, Any],
    rules: RuleFunction | None = None,
    merge_rules: MergeFunction | None = None,
) -> dict:
    """Table statistics, per-column figures and correlations of ``batches`` (one pass, bounded memory).

    ``rules`` (a batch as pandas -> rule results) is called per batch and merged with ``merge_rules``.
    """
    columns = [_Column(field.name, field.type, options) for field in schema]
    sampled = [c.name for c in columns if c.kind in ("numeric", "datetime", "date")]
    numeric = [c.name for c in columns if c.kind == "numeric"][: options["max_correlation_columns"]]
    sample = RowSample(sampled, options["sample_rows"], options["seed"])
    pairs = PairwiseMoments(len(numeric))
    row_hashes = DistinctCounter(options["row_hash_limit"])
    rows = 0
    memory = 0
    n_batches = 0
    rule_results: list[dict] | None = [] if rules is not None else None
    by_cost = sorted(columns, key=lambda c: c.kind != "text")  # text first: the longest tasks start first
    pool = ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8))
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            n_batches += 1
            rows += batch.num_rows
            memory += batch.nbytes
            arrays = [_normalise(batch.column(i), columns[i].kind) for i in range(batch.num_columns)]
            frame = pl.from_arrow(pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns]))
            # Columns are independent summaries: merge them on every core (polars and numpy release the GIL).
            # Each summary still sees the batches in order, so the figures do not depend on the scheduling.
            added = {col.name: pool.submit(col.add, frame.get_column(col.name)) for col in by_cost}
            hashed = pool.submit(_add_row_hashes, row_hashes, frame) if columns else None
            block = {name: future.result() for name, future in added.items()}
            if sampled:
                sampled_block = np.column_stack([block[name] for name in sampled])
            else:
                sampled_block = np.empty((batch.num_rows, 0))
            paired = pool.submit(pairs.add, np.column_stack([block[name] for name in numeric])) if numeric else None
            sample.add(sampled_block)
            for future in (hashed, paired):
                if future is not None:
                    future.result()
            if rules is not None:
                rule_results = merge_rules(rule_results, rules(batch.to_pandas()))
            # Drop this batch before the next is read: it is a slice of its whole row group, which
            # would otherwise stay in memory while the next row group is decoded.
            del batch, arrays, frame, block, sampled_block
    finally:
        pool.shutdown(wait=True)
    report_columns = [_column_report(c, rows, sample, options) for c in columns]
    pearson = pairs.pearson() if numeric else np.empty((0, 0))
    spearman = None
    if numeric:
        spearman = _matrix(spearman_matrix(sample.values[:, [sample.columns.index(n) for n in numeric]]))
    distinct_rows = row_hashes.estimate() if rows else 0
    approximations = _approximations(columns, sample, row_hashes, rows)
    return {
        "table_stats": {
            "rows": rows,
            "columns": len(columns),
            "duplicate_rows": max(rows - distinct_rows, 0),
            "duplicate_rows_exact": row_hashes.exact,
            "size_in_memory_bytes": memory,
            "batches": n_batches,
        },
        "columns": report_columns,
        "correlations": {
            "columns": numeric,
            "pearson": _matrix(pearson),
            "spearman": spearman,
            "spearman_exact": sample.exact,
        },
        "approximations": approximations,
        "rules": rule_results,
    }


def _approximations(columns: list[_Column], sample: RowSample, row_hashes: DistinctCounter, rows: int) -> list[dict]:
    notes = [{
        "figure": "distinct, duplicate_rows",
        "method": "64-bit hashes of values and of whole rows",
        "bound": f"a collision (an undercount) has probability <= n^2/2^65 ({rows**2 / 2**65:.1e} here)",
    }]
    if not row_hashes.exact:
        notes.append({"figure": "duplicate_rows", "method": f"KMV estimate of distinct rows (k={row_hashes.limit})",
                      "bound": f"distinct rows within +/-{row_hashes.relative_error():.2%} (3 standard errors)"})
    for col in columns:
        if not col.distinct.exact:
            notes.append({"figure": f"{col.name}.distinct", "method": f"KMV estimate (k={col.distinct.limit})",
                          "bound": f"within +/-{col.distinct.relative_error():.2%} (3 standard errors)"})
        if col.top is not None and not col.top.exact:
            notes.append({"figure": f"{col.name}.top_values", "method": "Misra-Gries summary",
                          "bound": f"each count under by at most {col.top.error}"})
    if not sample.exact and sample.columns:
        k = sample.values.shape[0]
        bound = float(np.sqrt(np.log(2 / DKW_DELTA) / (2 * max(k, 1))))
        notes.append({
            "figure": "quantiles, histograms, spearman",
            "method": f"uniform sample of {k} of {sample.seen} rows (seeded)",
            "bound": f"quantile rank error <= {bound:.4f} with probability {1 - DKW_DELTA:.0%} (DKW); "
                     "histogram counts scaled from the sample",
        })
    return notes


def _row_group_batches(dataset: ds.Dataset, batch_rows: int) -> Iterable[pa.RecordBatch]:
    """The dataset's record batches, scanning one parquet row group at a time.

    A scanner over the whole dataset reads row groups ahead of a slow consumer without limit (20M rows:
    3.8 GiB peak); scanning each row group on its own holds at most that row group, however large the table.
    Partition columns and the dataset schema are applied as the dataset scanner would.
    """
    for fragment in dataset.get_fragments():
        pieces = fragment.split_by_row_group() if isinstance(fragment, ds.ParquetFileFragment) else [fragment]
        for piece in pieces:
            yield from piece.to_batches(schema=dataset.schema, batch_size=batch_rows, batch_readahead=1,
                                        fragment_readahead=1)


def profile_source(
    source: ParquetSource,
    options: Mapping[str, Any],
    rules: RuleFunction | None = None,
    merge_rules: MergeFunction | None = None,
) -> dict:
    """The profile of a ``ParquetSource`` (a lazy handle), scanned a batch at a time."""
    started = time.perf_counter()
    dataset = source.dataset()
    profile = profile_batches(_row_group_batches(dataset, options["batch_rows"]), dataset.schema, options,
                              rules, merge_rules)
    profile["table_stats"]["size_on_disk_bytes"] = source.size_on_disk
    profile["duration_seconds"] = time.perf_counter() - started
    return profile


def profile_parquet(path: str, options: Mapping[str, Any], **fs_args: Any) -> dict:
    """Profile a parquet file or folder (hive partitions read as columns) at ``path`` (local or s3://).

    The entry point for scripts and benchmarks: ``options`` are the keys of ``profiling.profile`` in
    ``conf/base/parameters_profiling.yml``. Returns the ``table_stats``/``columns``/``correlations``
    part of a profile (see ``pipelines/profiling/profile.schema.json``).
    """
    source = parquet_source(path, name=path.rstrip("/").rsplit("/", 1)[-1], **fs_args)
    return {"schema_version": SCHEMA_VERSION, "source": {"kind": "parquet", "location": path},
            **profile_source(source, options)}


def parquet_source(path: str, name: str, version: str | None = None, **fs_args: Any) -> ParquetSource:
    """A ``ParquetSource`` over every ``*.parquet`` file under ``path`` (or the file itself)."""
    from cripto_platform.datasets.lake import _arrow_fs

    fs, root = url_to_fs(path, **fs_args)
    root = root.rstrip("/")
    if not fs.exists(root):
        return ParquetSource(name=name, location=root, version=version, exists=False)
    if fs.isdir(root):
        found = fs.find(root, detail=True)
        files = tuple(sorted(
            (p, int(info.get("size") or 0)) for p, info in found.items()
            if p.endswith(".parquet") and not p.rsplit("/", 1)[-1].startswith((".", "_"))
        ))
        partitioning = "hive" if any("=" in p[len(root):] for p, _ in files) else None
    else:
        files = ((root, int(fs.size(root))),)
        partitioning = None
    return ParquetSource(name=name, location=root, version=version, files=files,
                         filesystem=_arrow_fs(fs), partitioning=partitioning)
