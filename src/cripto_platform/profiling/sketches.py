"""Bounded-memory summaries merged batch by batch, each exact until it would outgrow its budget.

- ``DistinctCounter``: distinct 64-bit hashes, exact up to ``limit`` values, then a KMV (k minimum
  values) estimate whose relative standard error is ``1/sqrt(k - 2)``.
- ``TopValues``: value counts, exact up to ``capacity`` distinct values, then Misra-Gries: each
  count is under by at most ``error`` (at most ``n / (capacity + 1)``).
- ``RowSample``: a uniform sample of rows (bottom-k of random keys), all rows while they fit;
  quantiles of a k-row sample are within rank ``sqrt(ln(2/delta) / (2k))`` (DKW) with probability ``1 - delta``.
- ``Moments``: count, mean and M2 merged with Chan's formula (exact up to floating point).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

DKW_DELTA = 0.01


class DistinctCounter:
    """Distinct count of 64-bit hashes: exact up to ``limit`` distinct values, then KMV with k = ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.hashes = np.empty(0, dtype=np.uint64)
        self.exact = True

    def add(self, hashes: np.ndarray) -> None:
        batch = np.asarray(hashes, dtype=np.uint64)
        if not self.exact:  # only hashes below the current k-th smallest can enter the sketch
            batch = batch[batch < self.hashes[-1]]
        batch = np.sort(batch)
        # Both runs sorted: a stable (Timsort) sort merges them in linear time; then drop repeats.
        merged = np.concatenate([self.hashes, batch])
        merged.sort(kind="stable")
        if merged.size:
            merged = merged[np.concatenate([[True], merged[1:] != merged[:-1]])]
        if merged.size > self.limit:
            merged = merged[: self.limit]
            self.exact = False
        self.hashes = merged

    def estimate(self) -> int:
        if self.exact:
            return int(self.hashes.size)
        k = self.hashes.size
        kth = (float(self.hashes[-1]) + 1.0) / 2.0**64
        return int(round((k - 1) / kth))

    def relative_error(self) -> float:
        """Three standard errors of the KMV estimate (0 while exact)."""
        return 0.0 if self.exact else 3.0 / math.sqrt(max(self.hashes.size - 2, 1))


class TopValues:
    """Value counts: exact while at most ``capacity`` distinct values, then a Misra-Gries summary.

    The counts are a polars frame (``value``, ``count``) merged with each batch's value counts by a
    group-by, so a batch costs no Python loop over its values.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.table: pl.DataFrame | None = None
        self.error = 0

    def add(self, counts: pl.DataFrame) -> None:
        """Merge one batch's counts: a frame of two columns, the values then their counts."""
        counts = counts.select(counts.columns[0], pl.col(counts.columns[1]).cast(pl.Int64)).rename(
            dict(zip(counts.columns, ["value", "count"], strict=True)))
        if self.table is None:
            merged = counts
        else:
            merged = pl.concat([self.table, counts]).group_by("value").agg(pl.col("count").sum())
        if merged.height > self.capacity:
            threshold = int(merged.get_column("count").top_k(self.capacity + 1).min())
            merged = merged.filter(pl.col("count") > threshold).with_columns(pl.col("count") - threshold)
            self.error += threshold
        self.table = merged

    def top(self, k: int) -> list[tuple]:
        if self.table is None:
            return []
        ordered = self.table.sort(["count", "value"], descending=[True, False], nulls_last=True).head(k)
        return [(value, int(count)) for value, count in ordered.iter_rows()]

    @property
    def counts(self) -> dict:
        return {} if self.table is None else dict(self.table.iter_rows())

    @property
    def exact(self) -> bool:
        return self.error == 0


class RowSample:
    """A uniform sample of up to ``size`` rows of some float columns (NaN for missing), seeded.

    Each row gets a random key and the sample is the ``size`` rows with the smallest keys, in arrival
    order. Rows are collected in chunks and cut back to ``size`` only when twice that many are pending;
    once the sample is full, rows keyed above the current cut-off are dropped on arrival (they can never
    be among the smallest), so a batch costs a filter, not a copy of the whole sample.
    """

    def __init__(self, columns: list[str], size: int, seed: int) -> None:
        self.columns = list(columns)
        self.size = int(size)
        self.rng = np.random.default_rng(seed)
        self._keys: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._pending = 0
        self.kth = 1.0  # every kept key is below this; rows keyed at or above it cannot enter
        self.seen = 0

    def add(self, block: np.ndarray) -> None:
        """``block``: rows x columns float64 (NaN = missing)."""
        n = block.shape[0]
        self.seen += n
        if not self.columns or n == 0:
            return
        keys = self.rng.random(n)
        if self.kth < 1.0:
            enter = keys < self.kth
            keys, block = keys[enter], block[enter]
        self._keys.append(keys)
        self._values.append(block)
        self._pending += keys.size
        if self._pending > 2 * self.size:
            self._compact()

    def _compact(self) -> None:
        if not self._keys or (len(self._keys) == 1 and self._pending <= self.size):
            return  # already one array within size: reading the sample must not copy it
        keys = np.concatenate(self._keys)
        values = np.concatenate(self._values)
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size - 1)[: self.size]
            keep.sort()
            keys, values = keys[keep], values[keep]
            self.kth = float(keys.max()) if keys.size else 0.0
        self._keys, self._values, self._pending = [keys], [values], keys.size

    @property
    def keys(self) -> np.ndarray:
        self._compact()
        return self._keys[0] if self._keys else np.empty(0)

    @property
    def values(self) -> np.ndarray:
        self._compact()
        return self._values[0] if self._values else np.empty((0, len(self.columns)))

    @property
    def exact(self) -> bool:
        return self.seen <= self.size

    def column(self, name: str) -> np.ndarray:
        values = self.values[:, self.columns.index(name)]
        return values[~np.isnan(values)]

    def rank_error(self, name: str) -> float:
        """DKW bound on the sample quantiles' rank error for column ``name`` (0 when exact)."""
        if self.exact:
            return 0.0
        k = max(self.column(name).size, 1)
        return math.sqrt(math.log(2 / DKW_DELTA) / (2 * k))


class Moments:
    """Count, mean and sum of squared deviations, merged batch by batch (Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, values: np.ndarray) -> None:
        n = values.size
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None


class PairwiseMoments:
    """Pearson correlation of every column pair over rows where both are present, batch by batch."""

    def __init__(self, width: int) -> None:
        self.shift: np.ndarray | None = None
        shape = (width, width)
        self.n = np.zeros(shape)
        self.sx = np.zeros(shape)  # sx[i, j]: sum of x_i over rows where x_i and x_j are present
        self.sxx = np.zeros(shape)
        self.sxy = np.zeros(shape)

    def add(self, block: np.ndarray) -> None:
        if block.size == 0:
            return
        present = ~np.isnan(block)
        if self.shift is None:  # centre on the first batch's means: sums of squares stay small
            with np.errstate(invalid="ignore"):
                counts = present.sum(axis=0)
                self.shift = np.where(counts > 0, np.nansum(block, axis=0) / np.maximum(counts, 1), 0.0)
        x = np.where(present, block - self.shift, 0.0)
        m = present.astype(float)
        self.n += m.T @ m
        self.sx += x.T @ m
        self.sxx += (x * x).T @ m
        self.sxy += x.T @ x

    def pearson(self) -> np.ndarray:
        n, sx, sxx = self.n, self.sx, self.sxx
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = n * self.sxy - sx * sx.T
            var_i = n * sxx - sx * sx
            var_j = var_i.T
            result = cov / np.sqrt(var_i * var_j)
        tiny = (var_i <= 1e-12 * np.maximum(n * sxx, 1e-300)) | (var_j <= 1e-12 * np.maximum(n * sxx.T, 1e-300))
        result[(n < 2) | tiny] = np.nan
        return np.clip(result, -1.0, 1.0)
