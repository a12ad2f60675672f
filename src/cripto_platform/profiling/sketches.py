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

DKW_DELTA = 0.01


class DistinctCounter:
    """Distinct count of 64-bit hashes: exact up to ``limit`` distinct values, then KMV with k = ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.hashes = np.empty(0, dtype=np.uint64)
        self.exact = True

    def add(self, hashes: np.ndarray) -> None:
        batch = np.sort(np.asarray(hashes, dtype=np.uint64))
        if not self.exact:  # only hashes below the current k-th smallest can enter the sketch
            batch = batch[batch < self.hashes[-1]]
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
    """Value counts: exact while at most ``capacity`` distinct values, then a Misra-Gries summary."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.counts: dict = {}
        self.error = 0

    def add(self, values: list, counts: list) -> None:
        for value, count in zip(values, counts, strict=True):
            self.counts[value] = self.counts.get(value, 0) + int(count)
        if len(self.counts) > self.capacity:
            ordered = sorted(self.counts.values(), reverse=True)
            threshold = ordered[self.capacity]
            self.counts = {v: c - threshold for v, c in self.counts.items() if c > threshold}
            self.error += threshold

    def top(self, k: int) -> list[tuple]:
        return sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0])))[:k]

    @property
    def exact(self) -> bool:
        return self.error == 0


class RowSample:
    """A uniform sample of up to ``size`` rows of some float columns (NaN for missing), seeded."""

    def __init__(self, columns: list[str], size: int, seed: int) -> None:
        self.columns = list(columns)
        self.size = int(size)
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.values = np.empty((0, len(self.columns)))
        self.seen = 0

    def add(self, block: np.ndarray) -> None:
        """``block``: rows x columns float64 (NaN = missing)."""
        n = block.shape[0]
        self.seen += n
        if not self.columns or n == 0:
            return
        keys = np.concatenate([self.keys, self.rng.random(n)])
        values = np.concatenate([self.values, block])
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size - 1)[: self.size]
            keep.sort()
            keys, values = keys[keep], values[keep]
        self.keys, self.values = keys, values

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
