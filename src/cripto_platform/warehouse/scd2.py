"""The SCD type 2 merge of payment batches into the warehouse (``merge_payments_scd2``).

It runs on the caller's transaction, one set-based statement per step, each kept in
``warehouse/sql/payments_*.sql``; what the datasets in ``cripto_platform.datasets`` add is only the
connection and the transaction (``PaymentsSCD2Dataset``). The schema (key, compared columns, amount
limit) is ``cripto_platform.payments``; the change rule is ``row_hash``, written once.

0. a transaction-level advisory lock per table serialises merges; under it ``payments_last_merge``
   refuses a batch older than the last merged one (``LateBatchError``: it would close newer
   versions);
1. ``payments_stage_keys``: every batch row's number, key and stored row hash, COPY'd in binary
   format (``warehouse.binary_copy``) into a TEMP table (no WAL, dropped at commit), in chunks: the
   next chunk is hashed (``row_hash``, vectorised) and encoded while the server takes the last one;
2. ``payments_classify``: ONE LEFT JOIN of the staged keys against the current rows (the partial
   unique index, which INCLUDEs the row hash: index-only) returns the batch rows to write (new and
   changed keys), read back in binary;
3. ``payments_close_changed``: closes the current versions of the changed keys (COPY'd into a small
   TEMP table, ``payments_closing``; one index probe each), while the client encodes the new versions;
4. ``payments_invalidate_missing`` (``missing_keys: invalidate`` only): closes keys not in the batch;
5. the new versions, binary COPY'd straight into the table in its own types (``encode_versions``);
6. ``payments_log_merge``: the merge log row (counts, the window's end), the table's commit log.

Unchanged rows (usually most of a batch) only ever travel as key + hash.
A failure at any step rolls all of it back: the table and its merge log stay as they were.
The merge log is the authority on what is merged (the late-batch check reads it under the lock); the
payments watermark is not written here but confirmed from the merge log once the merge has committed
(``EtlWatermarkDataset.confirm``, ``warehouse.watermarks``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from kedro.io import DatasetError
from psycopg2 import sql

from cripto_platform.payments import COMPARED, KEY, MAX_CENTS, PAYMENT_COLUMNS
from cripto_platform.run_metadata import utc_timestamp
from cripto_platform.warehouse.binary_copy import (
    copy_binary,
    copy_binary_chunks,
    copy_encoded,
    copy_out_fixed,
    encode_binary,
)
from cripto_platform.warehouse.loading import load_sql, load_statement, lock_ddl

logger = logging.getLogger(__name__)

MISSING_KEYS = ("ignore", "invalidate")
# Below this share of the history's rows a batch is classified by index probes, above by a merge join.
SMALL_BATCH_SHARE = 0.05
KEY_CHUNK_ROWS = 200_000  # the key stage is encoded and sent in chunks of this many rows


def ensure_payments_tables(cursor, payments: str, merge_log: str) -> None:
    """Create the SCD2 table, its partial indexes (current key; client) and its merge log when missing.

    When everything ``payments_ddl.sql`` makes is already in place this is one catalog query: its ALTER
    TABLE and CREATE INDEX statements take table locks even when they change nothing, which would make
    every merge wait for autovacuum and every reader of the table wait behind a running merge.
    """
    names = {"payments": payments, "payments_current_key": f"{payments}_current_key",
             "payments_current_key_hash": f"{payments}_current_key_hash",
             "payments_client_current": f"{payments}_client_current", "merge_log": merge_log}
    cursor.execute(load_sql("payments_ddl_in_place"), names)
    if cursor.fetchone()[0]:
        return
    lock_ddl(cursor, payments)
    cursor.execute(load_statement("payments_ddl", **names))


def _check_batch(rows: pd.DataFrame, table: str) -> tuple[np.ndarray, np.ndarray]:
    """Reject a batch the merge cannot take; returns its payment ids (int64) and their sorting order."""
    missing = [column for column in PAYMENT_COLUMNS if column not in rows.columns]
    if missing:
        raise DatasetError(f"merge into '{table}': batch lacks columns {missing}; expected {PAYMENT_COLUMNS}")
    null_keys = rows[KEY].isna().any(axis=1)
    if null_keys.any():
        raise DatasetError(
            f"merge into '{table}': {int(null_keys.sum())} row(s) have a null key {KEY}, "
            f"first at batch row {int(null_keys.to_numpy().argmax())}; quarantine them before the merge"
        )
    amounts = pd.to_numeric(rows["amount"]).astype("float64")
    out_of_range = amounts.notna() & ~((amounts.abs() * 100).round() < MAX_CENTS)
    if out_of_range.any():
        raise DatasetError(
            f"merge into '{table}': {int(out_of_range.sum())} amount(s) outside numeric(14, 2) (|amount| < 10^12), "
            f"first at batch row {int(out_of_range.to_numpy().argmax())}; quarantine them before the merge"
        )
    payment_ids = pd.to_numeric(rows["payment_id"]).astype("int64").to_numpy()
    order = np.argsort(payment_ids)
    # A duplicate key needs a repeated payment_id: only then compare the full keys (the slow way).
    if len(order) and (payment_ids[order][1:] == payment_ids[order][:-1]).any():
        duplicated = rows.duplicated(KEY)
    else:
        duplicated = pd.Series(False, index=rows.index)
    if duplicated.any():
        first = rows.loc[duplicated, KEY].iloc[0].to_dict()
        raise DatasetError(
            f"merge into '{table}': {int(duplicated.sum())} duplicate key(s) in the batch, e.g. {first}; "
            "resolve duplicates before the merge"
        )
    return payment_ids, order


def _epoch_us(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch microseconds (int64) and the null mask of a timestamp column."""
    stamps = pd.to_datetime(values, utc=True).dt.tz_convert(None).to_numpy("datetime64[us]")
    nulls = np.isnat(stamps)
    return np.where(nulls, 0, stamps.view("int64")), nulls


def _cents(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    numbers = pd.to_numeric(values).astype("float64").to_numpy()
    nulls = np.isnan(numbers)
    return np.where(nulls, 0, np.round(np.nan_to_num(numbers) * 100)).astype("int64"), nulls


def _text_array(values: pd.Series) -> pa.Array:
    """A text column as an Arrow string array (zero-copy for pandas' Arrow-backed strings)."""
    return pa.array(values.astype("string[pyarrow]"), type=pa.string())


_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread mix of uint64 values (defined here, never changes)."""
    z = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _MIX_1
        z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


def _hash_text(values: pd.Series) -> np.ndarray:
    """uint64 per value: SipHash-2-4 (pandas' fixed key) of each distinct UTF-8 string, 0 for NULL."""
    codes, uniques = pd.factorize(values.astype("string[pyarrow]"), use_na_sentinel=True)
    if len(uniques) == 0:
        return np.zeros(len(values), dtype=np.uint64)
    hashed = pd.util.hash_array(np.asarray(uniques.astype(object), dtype=object), categorize=False)
    # NULL gets its own value, distinct from every string's hash (including '').
    return np.where(codes < 0, np.uint64(0), hashed[np.maximum(codes, 0)] | np.uint64(1))


def row_hash(rows: pd.DataFrame) -> np.ndarray:
    """The change rule, written once: a 64-bit hash of the compared columns, NULL-safe, vectorised.

    **A key gets a new version when any of ``COMPARED`` (``payment_at``, ``status``, ``amount``,
    ``external_client_id``: ``cripto_platform.payments``) is distinct from its current version's,
    NULL-safely** (SQL's ``IS DISTINCT FROM``: NULL vs NULL is no change, NULL vs a value is one);
    ``created_at``/``updated_at`` changes alone make no version. The table stores this hash per
    version and ``payments_classify.sql`` compares hashes, nothing else.

    Each compared column is reduced to a uint64 in a canonical form: ``payment_at`` as UTC epoch
    microseconds, ``amount`` in cents, text by SipHash-2-4 (pandas' ``hash_array`` with its fixed
    key) of its UTF-8 bytes; NULL maps to a value no non-NULL can take (even value 0 vs odd, or a
    separate null flag), so NULL -> NULL is no change and NULL <-> value is a change. The columns are
    folded in a fixed order with splitmix64. ``tests/warehouse/test_scd2.py`` pins known hashes, so
    a library change that altered them would fail CI rather than silently add versions.
    """
    payment_at, payment_at_null = _epoch_us(rows["payment_at"])
    amount, amount_null = _cents(rows["amount"])
    parts = [
        _mix64(payment_at.view(np.uint64)) ^ payment_at_null.astype(np.uint64),
        _hash_text(rows["status"]),
        _mix64(amount.view(np.uint64)) ^ amount_null.astype(np.uint64),
        _hash_text(rows["external_client_id"]),
    ]
    folded = np.full(len(rows), 0x243F6A8885A308D3, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            folded = _mix64(folded * np.uint64(31) + part)
    return folded.view(np.int64)


VERSION_COLUMNS = [*PAYMENT_COLUMNS, "row_hash", "is_current", "start_date", "end_date", "batch_id", "run_id"]


def encode_versions(rows: pd.DataFrame, hashes: np.ndarray, *, effective_at, batch_id: str,
                    run_id: str | None) -> memoryview:
    """New current versions of ``rows`` as binary COPY data for ``VERSION_COLUMNS`` of the SCD2
    table, in its own types (timestamps as microseconds, amounts as numeric digits): nothing for
    the server to parse or convert."""
    n = len(rows)
    cents, cents_null = _cents(rows["amount"])
    start_us = _epoch_us(pd.Series([effective_at]))[0][0]
    columns: list[tuple[str, str, Any, np.ndarray | None]] = [
        ("payment_id", "int8", pd.to_numeric(rows["payment_id"]).astype("int64").to_numpy(), None),
        ("company_code", "text", _text_array(rows["company_code"]), None),
        ("external_client_id", "text", _text_array(rows["external_client_id"]), None),
        ("status", "text", _text_array(rows["status"]), None),
        ("amount", "numeric_cents", cents, cents_null),
    ]
    for name in ("payment_at", "created_at", "updated_at"):
        columns.append((name, "timestamptz", *_epoch_us(rows[name])))
    columns += [
        ("row_hash", "int8", np.asarray(hashes, dtype=np.int64), None),
        ("is_current", "bool", np.ones(n, dtype=bool), None),
        ("start_date", "timestamptz", np.full(n, start_us, dtype=np.int64), None),
        ("end_date", "timestamptz", np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)),  # all NULL
        ("batch_id", "text", pa.repeat(pa.scalar(batch_id, pa.string()), n), None),
        ("run_id", "text", pa.repeat(pa.scalar(run_id, pa.string()), n), None),
    ]
    return encode_binary(columns)


def _close_changed(cursor, names: dict[str, str], changed: pd.DataFrame, payment_ids: np.ndarray,
                   params: dict[str, Any]) -> int:
    """Close the current versions of the changed keys (COPY'd into a small TEMP table, in key order):
    one index probe each (the planner settings are at the top of ``payments_close_changed.sql``)."""
    cursor.execute(load_statement("payments_closing", closing=names["closing"]))
    copy_binary(cursor, names["closing"], [("payment_id", "int8", payment_ids, None),
                                           ("company_code", "text", _text_array(changed["company_code"]), None)])
    cursor.execute(load_statement("payments_close_changed", **names), params)
    return cursor.rowcount  # the UPDATE's: the file's last statement


class LateBatchError(DatasetError):
    """A batch older than the last one merged into the SCD2 table: merging it would rewrite history."""


class MassInvalidationError(DatasetError):
    """``missing_keys: invalidate`` would close more of the current rows than allowed."""


def _refuse_late_batch(cursor, table: str, merge_log: str, effective: pd.Timestamp) -> pd.Timestamp | None:
    """Under the merge lock: the last merged effective time; a batch older than it is refused.

    Versions are valid in ``[start_date, end_date)`` and closed at the closing batch's time, so a
    batch at T1 after one at T2 > T1 would close T2's versions at T1 (``end_date < start_date``) and
    make history run backwards. Nothing is written: the caller's transaction rolls back.
    """
    cursor.execute(
        load_statement("payments_last_merge", merge_log=merge_log), {"table_name": table}
    )
    row = cursor.fetchone()
    last_effective, last_run = (pd.Timestamp(row[0]).tz_convert("UTC"), row[1]) if row and row[0] else (None, None)
    if last_effective is not None and effective < last_effective:
        raise LateBatchError(
            f"merge into '{table}': this batch's process time {effective.isoformat()} is earlier than the "
            f"last merged batch's {last_effective.isoformat()} (run {last_run}); merging it would close newer "
            "versions, so nothing was written. Rerun without "
            "payments.window.process_time to read from the watermark, or re-read an older window with "
            "payments.window.since (README: replay a window)"
        )
    return last_effective


def _refuse_zero_length_versions(cursor, names: dict[str, str], effective: pd.Timestamp, table: str) -> None:
    """A second batch at the same process time may not change a key already versioned at that time."""
    cursor.execute(load_statement("payments_versioned_at", **names), {"effective_at": effective.to_pydatetime()})
    count, example = cursor.fetchone()
    if count:
        raise LateBatchError(
            f"merge into '{table}': {count} key(s) changed by this batch already have a version starting at its "
            f"process time {effective.isoformat()} (e.g. {example}); closing them would leave versions with "
            "start_date = end_date, so nothing was written. Merge the change with a later process time"
        )


def _refuse_mass_invalidation(cursor, table: str, invalidated: int, closed_changed: int,
                              max_share: float | None) -> None:
    """Invalidation of more than ``max_share`` of the (pre-merge) current rows fails: nothing is committed."""
    if max_share is None or not invalidated:
        return
    cursor.execute(sql.SQL("SELECT count(*) FROM {} WHERE is_current").format(sql.Identifier(table)))
    current_before = cursor.fetchone()[0] + invalidated + closed_changed
    share = invalidated / current_before if current_before else 0.0
    if share > max_share:
        raise MassInvalidationError(
            f"merge into '{table}': missing_keys=invalidate would close {invalidated} of {current_before} current "
            f"rows ({share:.1%}), above payments.merge.max_invalidated_share={max_share:g}; nothing was written. "
            "If the full extract really lost them, rerun with payments.merge.allow_mass_invalidation=true"
        )


def _enlarge_temp_buffers(cursor, size: str = "256MB") -> None:
    """Keep the staging tables in memory: PostgreSQL's default 8MB of temp buffers spills a 1M-row stage.

    ``temp_buffers`` can only change before the session first touches a temporary table, so on a
    pooled connection that already did, the setting (from the first merge) simply stays.
    """
    cursor.execute("SAVEPOINT temp_buffers")
    try:
        cursor.execute(f"SET temp_buffers = '{size}'")
    except Exception:  # psycopg2 InvalidParameterValue: temporary tables already used in this session
        cursor.execute("ROLLBACK TO SAVEPOINT temp_buffers")
    cursor.execute("RELEASE SAVEPOINT temp_buffers")


def merge_payments_scd2(
    cursor,
    rows: pd.DataFrame,
    *,
    effective_at: str | pd.Timestamp,
    batch_id: str,
    run_id: str | None = None,
    missing_keys: str = "ignore",
    watermark: str | pd.Timestamp | None = None,
    duplicates: int = 0,
    quarantined: int = 0,
    table: str = "payments_l0",
    merge_log_table: str = "etl_merge_log",
    max_invalidated_share: float | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """SCD2-merge ``rows`` (one row per key) into ``table`` on ``cursor``'s transaction; returns counts.

    A batch whose effective time is earlier than the last merged batch's is refused (it would close
    newer versions). ``missing_keys="invalidate"`` closing more than ``max_invalidated_share`` of the
    current rows is refused (None: no limit). ``watermark`` (the batch window's end) is recorded in the
    merge log row, which the payments watermark is confirmed from after the commit.
    ``on_step(name)`` is called after each step (timings in the debug log; tests inject failures).
    """
    if missing_keys not in MISSING_KEYS:
        raise DatasetError(f"merge into '{table}': missing_keys must be one of {MISSING_KEYS}, got {missing_keys!r}")
    payment_ids, order = _check_batch(rows, table)  # order: the batch in key order
    suffix = uuid.uuid4().hex[:8]
    names = {"payments": table, "keys": f"{table}_keys_{suffix}", "closing": f"{table}_closing_{suffix}"}
    effective = utc_timestamp(effective_at)  # naive means UTC
    params = {"effective_at": effective.to_pydatetime(), "batch_id": batch_id, "run_id": run_id}
    timings: dict[str, float] = {}

    def step(name: str, started: float) -> None:
        timings[name] = time.perf_counter() - started
        if on_step is not None:
            on_step(name)

    started = time.perf_counter()
    # Serialise merges into this table, DDL included (two first runs would race on CREATE TABLE):
    # a transaction-level advisory lock, released at commit or rollback, so nothing can leak it.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"scd2:{table}",))
    ensure_payments_tables(cursor, table, merge_log_table)
    # Readers are not blocked; other writers are, so the classification stays true until commit.
    cursor.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(table)))
    last_effective = _refuse_late_batch(cursor, table, merge_log_table, effective)
    cursor.execute(load_sql("payments_merge_settings"))  # commit durability, work_mem, no JIT
    # A batch much smaller than the history is classified fastest by probing the partial unique
    # index in key order; a larger one by a merge join that walks the whole index once.
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))
    history_rows = max(float(cursor.fetchone()[0]), 0.0)
    small_batch = len(rows) < SMALL_BATCH_SHARE * history_rows
    _enlarge_temp_buffers(cursor)
    step("prepare", started)

    started = time.perf_counter()
    cursor.execute(load_statement("payments_stage_keys", keys=names["keys"]))
    hashes = np.empty(len(rows), dtype=np.int64)
    compared = rows[COMPARED]  # what row_hash reads: each chunk takes only these columns

    def key_chunks():
        # Keys in key order (the probes of a small batch keep index pages hot), hashed and encoded
        # chunk by chunk while the server takes the previous chunk.
        for start in range(0, max(len(rows), 1), KEY_CHUNK_ROWS):
            part = order[start: start + KEY_CHUNK_ROWS]
            hashes[part] = row_hash(compared.iloc[part])
            yield [
                ("n", "int8", part, None),
                ("payment_id", "int8", payment_ids[part], None),
                ("company_code", "text", _text_array(rows["company_code"].iloc[part]), None),
                ("row_hash", "int8", hashes[part], None),
            ]

    copy_binary_chunks(cursor, names["keys"], key_chunks())
    step("stage_keys", started)

    started = time.perf_counter()
    # The join method is chosen here, not from statistics: see payments_classify_settings.sql.
    cursor.execute(load_sql("payments_classify_settings"), {"index_probes": small_batch, "merge_join": not small_batch})
    classified = copy_out_fixed(cursor, load_statement("payments_classify", **names),
                                [("n", "int8"), ("is_new", "bool")])
    to_write, is_new = classified["n"], classified["is_new"]
    actions = {"new": int(is_new.sum()), "changed": int((~is_new).sum())}
    step("classify", started)

    if last_effective == effective and actions["changed"]:
        _refuse_zero_length_versions(cursor, names, effective, table)

    started = time.perf_counter()
    # In key order: the close probes, and the new index entries are inserted, leaf page by leaf page.
    by_key = np.argsort(payment_ids[to_write], kind="stable")
    to_write, is_new = to_write[by_key], is_new[by_key]
    changed = to_write[~is_new]
    # While the server closes the changed keys, this thread encodes the new versions (psycopg2
    # releases the GIL while it waits): the two overlap on two cores. Leaving the pool waits for
    # the close whatever happens here.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge-close") as pool:
        closing = pool.submit(_close_changed, cursor, names, rows.iloc[changed], payment_ids[changed], params)
        payload = encode_versions(rows.iloc[to_write], hashes[to_write], **params)
    closed = closing.result()
    step("close_changed", started)

    invalidated = 0
    if missing_keys == "invalidate":
        started = time.perf_counter()
        cursor.execute(load_statement("payments_invalidate_missing", **names), params)
        invalidated = cursor.rowcount
        _refuse_mass_invalidation(cursor, table, invalidated, closed, max_invalidated_share)
        step("invalidate_missing", started)

    started = time.perf_counter()
    # Straight into the table: COPY batches its heap inserts (one WAL record per page, not per row).
    inserted = copy_encoded(cursor, table, VERSION_COLUMNS, payload)
    step("insert_versions", started)

    counts = {
        "table_name": table,
        "batch_id": batch_id,
        "run_id": run_id,
        "effective_at": params["effective_at"],
        "watermark": pd.Timestamp(watermark).to_pydatetime() if watermark is not None else None,
        "missing_keys": missing_keys,
        "staged": len(rows),
        "inserted_new": int(actions.get("new", 0)),
        "inserted_changed": int(actions.get("changed", 0)),
        "closed_changed": int(closed),
        "unchanged": len(rows) - int(actions.get("new", 0)) - int(actions.get("changed", 0)),
        "invalidated": int(invalidated),
        "duplicates": int(duplicates),
        "quarantined": int(quarantined),
    }
    if inserted != counts["inserted_new"] + counts["inserted_changed"] or closed != counts["inserted_changed"]:
        raise DatasetError(
            f"merge into '{table}': inconsistent counts (inserted {inserted}, closed {closed}, classified {actions}); "
            "rolled back"
        )
    started = time.perf_counter()
    cursor.execute(load_statement("payments_log_merge", merge_log=merge_log_table), counts)
    step("log_merge", started)
    logger.debug("merge into %s step timings: %s", table, {k: round(v, 3) for k, v in timings.items()})
    return counts

