"""SCD2 merge of payment batches vs a plain COPY and vs the seed's row-by-row algorithm.

For each history size H and batch size B (defaults: the issue's 1M and 5M histories, 100k and 1M
batches), in a fresh table of H current payments:

- merge: ``merge_payments_scd2`` (binary COPY of key + hash into a TEMP stage, one index-only
  classifying join read back in binary, UPDATE of the changed keys by key while the client encodes
  the new versions, binary COPY of the new versions into the table, merge-log row), one transaction,
  commit included;
- copy: the same B rows COPY'd in binary into an empty, logged table, in their cheapest form (times
  and money as integers), commit included (the strict lower bound: the bytes have to get into
  PostgreSQL);
- copy_text: the plain COPY: the batch as it is (its own columns and types) in COPY's default text
  form, CSV written by pyarrow inside the timer, into an empty logged table, commit included;
- row_by_row: the seed's ``insert_payments`` (per payment: SELECT the current row, compare the four
  columns, UPDATE it when changed, INSERT the new version; each its own statement) on a small batch
  of the same mix, reported per row: all payments in one transaction, and (row_by_row_commit) a
  transaction per payment.

The batch is 80% unchanged keys, 10% changed keys (one compared column each) and 10% new keys.
It runs against its own embedded PostgreSQL in a temporary data directory. Usage::

    flock /tmp/cripto_bench.lock python benchmarks/payments_merge.py \
        --histories 1000000 5000000 --batches 100000 1000000 --row-by-row 2000 --row-by-row-commit 500 --repeat 3
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd

STATUSES = np.array(["pending", "approved", "rejected", "refunded", "chargeback"])


def payments_frame(ids: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    base = pd.Timestamp("2025-01-01", tz="UTC")
    created = base + pd.to_timedelta(rng.integers(0, 300 * 86_400, n), unit="s")
    clients = rng.integers(0, 50_000, n)
    client = pd.Series(np.char.add("CL", clients.astype(str)), dtype="object")
    client[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "payment_id": ids.astype(np.int64),
            "company_code": np.char.add("C", (ids % 40).astype(str)),
            "external_client_id": client.to_numpy(),
            "status": STATUSES[rng.integers(0, len(STATUSES), n)],
            "amount": np.round(rng.uniform(5, 1000, n), 2),
            "payment_at": created + pd.to_timedelta(rng.integers(0, 3 * 86_400, n), unit="s"),
            "created_at": created,
            "updated_at": created + pd.to_timedelta(rng.integers(0, 10 * 86_400, n), unit="s"),
        }
    )


def make_batch(history: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """80% unchanged, 10% changed (status), 10% new keys."""
    rng = np.random.default_rng(seed)
    n_new = size // 10
    n_changed = size // 10
    n_existing = size - n_new
    picked = history.iloc[rng.choice(len(history), n_existing, replace=False)].reset_index(drop=True)
    changed = picked.index < n_changed
    shifted = (pd.Series(STATUSES).reset_index().set_index(0)["index"].reindex(picked["status"]).to_numpy() + 1) % len(STATUSES)
    picked.loc[changed, "status"] = STATUSES[shifted[changed]]
    picked["updated_at"] = picked["updated_at"] + pd.Timedelta(days=1)
    start = int(history["payment_id"].max()) + 1
    new = payments_frame(np.arange(start, start + n_new), seed + 1)
    return pd.concat([picked, new], ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)


COPY_TARGET_DDL = """
CREATE TABLE {table} (
    payment_id bigint NOT NULL, company_code text NOT NULL, external_client_id text, status text,
    amount_cents bigint, payment_at_us bigint, created_at_us bigint, updated_at_us bigint,
    row_hash bigint NOT NULL
)"""


def copy_batch(cursor, table: str, rows: pd.DataFrame, hashes: np.ndarray) -> int:
    """The COPY baseline: the batch in binary, in its cheapest form (times and money as integers:
    8 bytes each, nothing for the server to convert), through the merge's own encoder."""
    from cripto_platform.warehouse.scd2 import _cents, _epoch_us, _text_array
    from cripto_platform.warehouse.binary_copy import copy_binary

    cents, cents_null = _cents(rows["amount"])
    columns = [
        ("payment_id", "int8", rows["payment_id"].to_numpy(np.int64), None),
        ("company_code", "text", _text_array(rows["company_code"]), None),
        ("external_client_id", "text", _text_array(rows["external_client_id"]), None),
        ("status", "text", _text_array(rows["status"]), None),
        ("amount_cents", "int8", cents, cents_null),
    ]
    for name in ("payment_at", "created_at", "updated_at"):
        columns.append((f"{name}_us", "int8", *_epoch_us(rows[name])))
    columns.append(("row_hash", "int8", hashes, None))
    return copy_binary(cursor, table, columns)


TEXT_COPY_TARGET_DDL = """
CREATE TABLE {table} (
    payment_id bigint NOT NULL, company_code text NOT NULL, external_client_id text, status text,
    amount numeric(14, 2), payment_at timestamptz, created_at timestamptz, updated_at timestamptz
)"""


def copy_text(cursor, table: str, rows: pd.DataFrame) -> int:
    """The plain COPY: the batch as it is (its own columns and types: numeric, timestamptz) in COPY's
    default text form, CSV written by pyarrow. Timestamps are written as UTC wall-clock times under
    ``TimeZone = 'UTC'``: pyarrow formats zone-aware timestamps ~30x slower, which would make this
    baseline easier to beat than a competent user's COPY."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    frame = pa.Table.from_pandas(rows, preserve_index=False)
    for index, field in enumerate(frame.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            frame = frame.set_column(index, field.name, frame[field.name].cast(pa.timestamp("us")))
    buffer = io.BytesIO()
    pa_csv.write_csv(frame, buffer, pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    cursor.execute("SET LOCAL TimeZone = 'UTC'")
    cursor.copy_expert(f"COPY {table} ({', '.join(frame.column_names)}) FROM STDIN WITH (FORMAT csv)", buffer)
    return frame.num_rows


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def run_case(url: str, history_rows: int, batch_rows: int, row_by_row_rows: int, row_by_row_commit_rows: int) -> dict:
    from psycopg2 import sql

    from cripto_platform.warehouse.scd2 import _enlarge_temp_buffers, merge_payments_scd2, row_hash
    from cripto_platform.warehouse import get_engine, transaction

    table = "bench_payments_l0"
    with transaction(url) as cursor:
        for name in (table, "bench_copy_target", "bench_copy_text_target", "bench_merge_log"):
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    history = payments_frame(np.arange(1, history_rows + 1), seed=1)
    common = {"table": table, "merge_log_table": "bench_merge_log"}

    def settle():
        # What a warehouse's background work does between two daily merges: autovacuum (dead tuples
        # gone, visibility map set, statistics) and a checkpoint (no dirty pages left in the buffers).
        raw = get_engine(url).raw_connection()  # VACUUM cannot run inside a transaction
        try:
            raw.set_session(autocommit=True)
            with raw.cursor() as cursor:
                cursor.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
                cursor.execute("CHECKPOINT")
            raw.set_session(autocommit=False)
        finally:
            raw.close()

    def load_history():
        # The history is built with the merge itself (every key new), in chunks of 1M rows.
        for number, start in enumerate(range(0, history_rows, 1_000_000)):
            with transaction(url) as cursor:
                merge_payments_scd2(cursor, history.iloc[start: start + 1_000_000], effective_at="2025-12-01",
                                    batch_id=f"history-{number}", **common)
        settle()

    def wal_position() -> int:
        with transaction(url) as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
            return int(cursor.fetchone()[0])

    history_seconds, _ = timed(load_history)
    batch = make_batch(history, batch_rows, seed=2)
    batch_hashes = row_hash(batch)  # the baselines copy the same bytes; hashing is not theirs to pay

    def copy_plain():
        # The same rows, in the same binary COPY the merge's stage uses, into an empty logged table.
        with transaction(url) as cursor:
            cursor.execute(COPY_TARGET_DDL.format(table="bench_copy_target"))
        with transaction(url) as cursor:
            copy_batch(cursor, "bench_copy_target", batch, batch_hashes)

    wal_before = wal_position()
    copy_seconds, _ = timed(copy_plain)
    copy_wal = wal_position() - wal_before

    def copy_plain_text():
        # The batch as it is, in COPY's text (CSV) form, into an empty logged table of its own types.
        with transaction(url) as cursor:
            cursor.execute(TEXT_COPY_TARGET_DDL.format(table="bench_copy_text_target"))
        with transaction(url) as cursor:
            copy_text(cursor, "bench_copy_text_target", batch)

    copy_text_seconds, _ = timed(copy_plain_text)

    def straightforward():
        # The textbook version, same staging bytes: UPDATE ... FROM stage comparing the four columns
        # with IS DISTINCT FROM, then INSERT ... WHERE NOT EXISTS (a second join). Rolled back, so the
        # merge below starts from the same history (its commit is therefore not timed).
        with_stage = COPY_TARGET_DDL.format(table="naive_stage").replace("CREATE TABLE", "CREATE TEMP TABLE")
        converted = ("timestamptz 'epoch' + s.payment_at_us * interval '1 microsecond', s.status, "
                     "s.amount_cents / 100.0, s.external_client_id")
        raw = get_engine(url).raw_connection()
        try:
            with raw.cursor() as cursor:
                _enlarge_temp_buffers(cursor)  # same session settings as the merge
                cursor.execute("SET LOCAL TimeZone = 'UTC'")
                cursor.execute(with_stage)
                copy_batch(cursor, "naive_stage", batch, batch_hashes)
                cursor.execute(
                    f"UPDATE {table} AS t SET is_current = false, end_date = '2026-01-01' FROM naive_stage AS s "
                    "WHERE t.payment_id = s.payment_id AND t.company_code = s.company_code AND t.is_current "
                    f"AND (t.payment_at, t.status, t.amount, t.external_client_id) IS DISTINCT FROM ({converted})"
                )
                cursor.execute(
                    f"INSERT INTO {table} (payment_id, company_code, external_client_id, status, amount, payment_at, "
                    "created_at, updated_at, row_hash, is_current, start_date, batch_id) "
                    f"SELECT s.payment_id, s.company_code, s.external_client_id, s.status, s.amount_cents / 100.0, "
                    "timestamptz 'epoch' + s.payment_at_us * interval '1 microsecond', "
                    "timestamptz 'epoch' + s.created_at_us * interval '1 microsecond', "
                    "timestamptz 'epoch' + s.updated_at_us * interval '1 microsecond', "
                    "s.row_hash, true, '2026-01-01', 'naive' FROM naive_stage AS s WHERE NOT EXISTS ("
                    f"SELECT 1 FROM {table} AS t WHERE t.payment_id = s.payment_id "
                    "AND t.company_code = s.company_code AND t.is_current)"
                )
        finally:
            raw.rollback()
            raw.close()

    naive_seconds, _ = timed(straightforward)
    settle()  # the rolled-back straightforward merge left dead tuples and cleared the visibility map

    steps: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_step(name: str) -> None:
        now = time.perf_counter()
        steps[name] = now - last[0]
        last[0] = now

    def merge():
        last[0] = time.perf_counter()
        with transaction(url) as cursor:
            return merge_payments_scd2(cursor, batch, effective_at="2026-01-01", batch_id="bench",
                                       watermark="2026-01-01", on_step=on_step, **common)

    wal_before = wal_position()
    merge_seconds, counts = timed(merge)
    merge_wal = wal_position() - wal_before

    # The seed's algorithm, per payment, on small batches of the same mix (new keys beyond the history).
    def seed_batch(rows: int, seed: int, offset: int) -> pd.DataFrame:
        small = make_batch(history, rows, seed=seed)
        small.loc[small["payment_id"] > history_rows, "payment_id"] += offset
        return small

    def seed_insert_payment(cursor, row) -> None:
        # Check the current row, close it when a compared column differs, insert the new version.
        cursor.execute(
            f"SELECT payment_at, status, amount, external_client_id FROM {table} "
            "WHERE payment_id = %s AND company_code = %s AND is_current",
            (row.payment_id, row.company_code),
        )
        current = cursor.fetchone()
        values = (row.payment_at.to_pydatetime(), row.status, round(float(row.amount), 2), row.external_client_id)
        if current is not None:
            stored = (current[0], current[1], float(current[2]) if current[2] is not None else None, current[3])
            if stored == values:
                return
            cursor.execute(
                f"UPDATE {table} SET is_current = false, end_date = %s "
                "WHERE payment_id = %s AND company_code = %s AND is_current",
                ("2026-01-02", row.payment_id, row.company_code),
            )
        cursor.execute(
            f"INSERT INTO {table} (payment_id, company_code, external_client_id, status, amount, payment_at, "
            "created_at, updated_at, row_hash, is_current, start_date, batch_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, (random() * 1e18)::bigint, true, %s, 'row-by-row')",
            (row.payment_id, row.company_code, row.external_client_id, row.status, float(row.amount),
             row.payment_at.to_pydatetime(), row.created_at.to_pydatetime(),
             row.updated_at.to_pydatetime(), "2026-01-02"),
        )

    small = seed_batch(row_by_row_rows, seed=3, offset=10 * batch_rows)

    def row_by_row():
        # All payments in one transaction: the cheapest way to run the loop.
        with transaction(url) as cursor:
            for row in small.itertuples(index=False):
                seed_insert_payment(cursor, row)

    per_payment = seed_batch(row_by_row_commit_rows, seed=4, offset=20 * batch_rows)

    def row_by_row_commit():
        # A transaction per payment (the server's default synchronous commit): the loop as a task runs
        # it when each payment is its own unit of work.
        raw = get_engine(url).raw_connection()
        try:
            with raw.cursor() as cursor:
                for row in per_payment.itertuples(index=False):
                    seed_insert_payment(cursor, row)
                    raw.commit()
        finally:
            raw.close()

    rbr_seconds, _ = timed(row_by_row)
    rbr_commit_seconds, _ = timed(row_by_row_commit)
    merge_per_row = merge_seconds / batch_rows
    rbr_per_row = rbr_seconds / row_by_row_rows
    rbr_commit_per_row = rbr_commit_seconds / row_by_row_commit_rows
    return {
        "history": history_rows,
        "batch": batch_rows,
        "history_load_s": round(history_seconds, 1),
        "merge_s": round(merge_seconds, 2),
        "merge_rows_per_s": round(batch_rows / merge_seconds),
        "copy_s": round(copy_seconds, 2),
        "copy_rows_per_s": round(batch_rows / copy_seconds),
        "merge_vs_copy": round(merge_seconds / copy_seconds, 2),
        "copy_text_s": round(copy_text_seconds, 2),
        "merge_vs_copy_text": round(merge_seconds / copy_text_seconds, 2),
        "straightforward_s": round(naive_seconds, 2),
        "straightforward_vs_copy": round(naive_seconds / copy_seconds, 2),
        "straightforward_vs_copy_text": round(naive_seconds / copy_text_seconds, 2),
        "row_by_row_rows": row_by_row_rows,
        "row_by_row_s": round(rbr_seconds, 2),
        "row_by_row_us_per_row": round(rbr_per_row * 1e6, 1),
        "merge_us_per_row": round(merge_per_row * 1e6, 2),
        "merge_speedup_per_row": round(rbr_per_row / merge_per_row, 1),
        "row_by_row_commit_us_per_row": round(rbr_commit_per_row * 1e6, 1),
        "merge_speedup_vs_commit_per_row": round(rbr_commit_per_row / merge_per_row, 1),
        "merge_wal_mb": round(merge_wal / 2**20),
        "copy_wal_mb": round(copy_wal / 2**20),
        "counts": {k: counts[k] for k in ("inserted_new", "inserted_changed", "closed_changed", "unchanged")},
        "steps_s": {k: round(v, 2) for k, v in steps.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--row-by-row", type=int, default=2000, help="rows for the row-by-row baseline")
    parser.add_argument("--row-by-row-commit", type=int, default=500,
                        help="rows for the row-by-row baseline with a transaction per payment")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per case (each on a freshly built history); the summary is their median")
    args = parser.parse_args(argv)

    pgdata = tempfile.mkdtemp(prefix="cripto_bench_pg_")
    os.environ["CRIPTO_WAREHOUSE_PGDATA"] = pgdata
    os.environ.pop("CRIPTO_WAREHOUSE_URL", None)
    from cripto_platform.warehouse import resolve_url, stop_embedded_server

    url = resolve_url()
    from cripto_platform.warehouse import transaction

    with transaction(url) as cursor:
        cursor.execute("SELECT string_agg(name || ' ' || current_setting(name), ', ') FROM unnest(ARRAY['server_version', "
                       "'shared_buffers', 'wal_buffers', 'max_wal_size', 'full_page_writes']) AS name")
        server = cursor.fetchone()[0]
    print(f"python {platform.python_version()}, pandas {pd.__version__}, {os.cpu_count()} cpus, pgdata {pgdata}; {server}")
    header = ("history", "batch", "merge_s", "merge_rows_per_s", "copy_s", "merge_vs_copy", "copy_text_s",
              "merge_vs_copy_text", "straightforward_s", "straightforward_vs_copy", "straightforward_vs_copy_text",
              "row_by_row_us_per_row", "row_by_row_commit_us_per_row", "merge_us_per_row", "merge_speedup_per_row",
              "merge_speedup_vs_commit_per_row", "merge_wal_mb", "copy_wal_mb")
    print("| " + " | ".join(header) + " |", flush=True)
    medians = []
    try:
        for history_rows in args.histories:
            for batch_rows in args.batches:
                runs = []
                for _ in range(args.repeat):
                    result = run_case(url, history_rows, batch_rows, args.row_by_row, args.row_by_row_commit)
                    runs.append(result)
                    print("| " + " | ".join(str(result[key]) for key in header) + " |", flush=True)
                    print(f"    history load {result['history_load_s']}s; counts {result['counts']}; "
                          f"merge steps {result['steps_s']}", flush=True)
                # This machine's run-to-run noise is +-20-30%: a ratio is judged on the median run.
                medians.append({key: float(np.median([run[key] for run in runs])) for key in header})
        print(f"\nmedian of {args.repeat} run(s) per case:")
        print("| " + " | ".join(header) + " |")
        for median in medians:
            print("| " + " | ".join(f"{median[key]:.10g}" for key in header) + " |", flush=True)
    finally:
        stop_embedded_server(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
