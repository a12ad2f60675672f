"""The SCD2 merge against the embedded PostgreSQL, checked against a pandas reference implementation;
the payments watermark confirmed from the merge log."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from kedro.io import DatasetError

from cripto_platform.datasets import (
    CompaniesDimensionDataset,
    EtlWatermarkDataset,
    PaymentsSCD2Dataset,
    WarehouseQueryDataset,
)
from cripto_platform.warehouse.scd2 import merge_payments_scd2, row_hash
from cripto_platform.pipelines.payments.nodes import deduplicate_payments
from cripto_platform.warehouse import transaction

KEY = ["payment_id", "company_code"]
COMPARED = ["payment_at", "status", "amount", "external_client_id"]


@pytest.fixture
def tables(warehouse_url):
    """Distinct table names per test; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {"table": f"t_pay_{suffix}", "watermark_table": f"t_wm_{suffix}", "merge_log_table": f"t_log_{suffix}"}
    yield names
    with transaction(warehouse_url) as cursor:
        for name in names.values():
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def _dataset(tables, url):
    """``payments_l0@scd2`` on the test's tables."""
    return PaymentsSCD2Dataset(table=tables["table"], merge_log_table=tables["merge_log_table"], credentials={"url": url})


def _merges(tables, url) -> pd.DataFrame:
    """``payments_l0@merges`` on the test's tables: the merge log, oldest first."""
    return WarehouseQueryDataset(sql_file="payments_merge_log.sql", identifiers={"merge_log": tables["merge_log_table"]},
                                 query_params={"table_name": tables["table"]}, credentials={"url": url}).load()


def _watermark_dataset(tables, url, name="payments") -> EtlWatermarkDataset:
    """``payments_watermark`` on the test's tables (confirmed from the merge log)."""
    return EtlWatermarkDataset(name=name, table=tables["watermark_table"], confirm_sql="payments_merged_until.sql",
                               identifiers={"merge_log": tables["merge_log_table"]},
                               query_params={"table_name": tables["table"]}, credentials={"url": url})


def _confirm(tables, url) -> None:
    """What Kedro does after the merge node's save (``confirms="payments_watermark"``)."""
    _watermark_dataset(tables, url).confirm()


def _payload(rows, effective_at, **extra):
    return {"rows": rows, "batch_id": f"b-{effective_at}", "run_id": f"run-{effective_at}",
            "effective_at": effective_at, "watermark": effective_at, **extra}


def _table(url, table) -> pd.DataFrame:
    with transaction(url) as cursor:
        cursor.execute(f'SELECT * FROM "{table}"')
        columns = [column.name for column in cursor.description]
        frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    return frame


def _watermark(url, tables, name="payments"):
    return _watermark_dataset(tables, url, name).load()["last_update"]


# ------------------------------------------------------------------ a pandas reference of the semantics


def _same(a, b) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    if pd.isna(a) or pd.isna(b):
        return False
    return a == b


def reference_dedupe(batch: pd.DataFrame) -> pd.DataFrame:
    """Latest updated_at wins; ties broken by the highest source id."""
    winners = {}
    for row in batch.to_dict("records"):
        key = (row["payment_id"], row["company_code"])
        best = winners.get(key)
        if best is None or (row["updated_at"], row["id"]) > (best["updated_at"], best["id"]):
            winners[key] = row
    return pd.DataFrame(list(winners.values()))


def reference_merge(history: list[dict], batch: pd.DataFrame, effective_at, missing_keys="ignore") -> None:
    """dbt snapshot 'check' strategy, one row at a time (the obviously-correct version)."""
    current = {(row["payment_id"], row["company_code"]): row for row in history if row["is_current"]}
    seen = set()
    for row in batch.to_dict("records"):
        key = (row["payment_id"], row["company_code"])
        seen.add(key)
        old = current.get(key)
        if old is not None and all(_same(old[column], row[column]) for column in COMPARED):
            continue
        if old is not None:
            old["is_current"], old["end_date"] = False, effective_at
        history.append({**{c: row[c] for c in KEY + COMPARED}, "is_current": True,
                        "start_date": effective_at, "end_date": None})
    if missing_keys == "invalidate":
        for key, old in current.items():
            if key not in seen and old["is_current"]:
                old["is_current"], old["end_date"] = False, effective_at


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[KEY + COMPARED + ["is_current", "start_date", "end_date"]].copy()
    out["payment_id"] = out["payment_id"].astype("int64")
    out["amount"] = pd.to_numeric(out["amount"]).astype("float64").round(2)
    for column in ("payment_at", "start_date", "end_date"):
        out[column] = pd.to_datetime(out[column], utc=True)
    for column in ("status", "external_client_id", "company_code"):
        out[column] = out[column].astype("object").where(out[column].notna(), None)
    return out.sort_values(KEY + ["start_date"]).reset_index(drop=True)


def random_batch(rng, n_keys: int, size: int, batch_number: int, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Keys from a small pool; values often repeated from the previous batch; NULLs in every compared column."""
    keys = rng.integers(1, n_keys + 1, size)
    companies = np.where(rng.random(size) < 0.5, "A", "B")
    statuses = np.array(["ok", "pending", "", None], dtype=object)
    clients = np.array(["c1", "c2", "", None], dtype=object)
    frame = pd.DataFrame(
        {
            "id": np.arange(size) + batch_number * 10_000,
            "payment_id": keys.astype("int64"),
            "company_code": companies,
            "status": statuses[rng.integers(0, len(statuses), size)],
            "amount": np.where(rng.random(size) < 0.15, np.nan, rng.integers(0, 4, size) * 2.5),
            "payment_at": pd.to_datetime("2025-01-01", utc=True)
            + pd.to_timedelta(rng.integers(0, 3, size), unit="D"),
            "external_client_id": clients[rng.integers(0, len(clients), size)],
            "created_at": pd.Timestamp("2024-12-31", tz="UTC"),
            # few distinct update times: in-batch duplicates with equal updated_at exercise the tie-break
            "updated_at": pd.Timestamp("2025-02-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 3, size), unit="h"),
        }
    )
    frame.loc[rng.random(size) < 0.1, "payment_at"] = pd.NaT
    if previous is not None:  # repeat earlier values for ~half the rows: unchanged keys
        repeat = rng.random(size) < 0.5
        merged = frame[KEY].merge(previous.drop_duplicates(KEY), on=KEY, how="left", indicator=True)
        hit = repeat & (merged["_merge"] == "both").to_numpy()
        for column in COMPARED:
            frame.loc[hit, column] = merged.loc[hit, column].to_numpy()
    return frame


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize(("missing_keys", "key_chunk_rows"), [("ignore", 200_000), ("invalidate", 200_000), ("ignore", 7)])
def test_random_batches_match_the_pandas_reference(tables, warehouse_url, missing_keys, key_chunk_rows, monkeypatch):
    import cripto_platform.warehouse.scd2 as scd2

    monkeypatch.setattr(scd2, "KEY_CHUNK_ROWS", key_chunk_rows)  # 7: keys staged in several chunks
    rng = np.random.default_rng(20261126)
    dataset = _dataset(tables, warehouse_url)
    history: list[dict] = []
    previous = None
    for number in range(8):
        raw = random_batch(rng, n_keys=40, size=60, batch_number=number, previous=previous)
        effective_at = pd.Timestamp("2025-03-01", tz="UTC") + pd.Timedelta(days=number)
        deduped, duplicates = deduplicate_payments(raw)
        expected_batch = reference_dedupe(raw)
        assert duplicates == len(raw) - len(expected_batch)
        dataset.save(_payload(deduped, effective_at, missing_keys=missing_keys, duplicates=duplicates))
        reference_merge(history, expected_batch, effective_at, missing_keys)
        previous = raw
        actual = _normalise(_table(warehouse_url, tables["table"]))
        expected = _normalise(pd.DataFrame(history))
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    current = actual[actual["is_current"]]
    assert not current.duplicated(KEY).any()
    assert len(actual) > len(current)  # versions were closed along the way
    log = _merges(tables, warehouse_url)
    assert len(log) == 8 and log["inserted_changed"].sum() == (~actual["is_current"]).sum() - log["invalidated"].sum()


def test_rerunning_a_batch_changes_nothing(tables, warehouse_url):
    rng = np.random.default_rng(1)
    dataset = _dataset(tables, warehouse_url)
    batch, _ = deduplicate_payments(random_batch(rng, 30, 50, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    before = _table(warehouse_url, tables["table"])
    dataset.save(_payload(batch, "2025-03-05T00:00:00+00:00"))
    after = _table(warehouse_url, tables["table"])
    pd.testing.assert_frame_equal(before.sort_values(KEY).reset_index(drop=True),
                                  after.sort_values(KEY).reset_index(drop=True))
    last = _merges(tables, warehouse_url).iloc[-1]
    assert (last["inserted_new"], last["inserted_changed"], last["closed_changed"]) == (0, 0, 0)
    assert last["unchanged"] == len(batch)


def test_failure_between_staging_and_commit_leaves_table_and_watermark(tables, warehouse_url):
    rng = np.random.default_rng(2)
    dataset = _dataset(tables, warehouse_url)
    first, _ = deduplicate_payments(random_batch(rng, 30, 50, 0, None))
    dataset.save(_payload(first, "2025-03-01T00:00:00+00:00"))
    _confirm(tables, warehouse_url)
    before = _table(warehouse_url, tables["table"])
    watermark_before = _watermark(warehouse_url, tables)

    second = first.copy()
    second["status"] = "changed"  # every key changes: closes, then inserts
    steps = []

    def fail_after_writing(step):
        steps.append(step)
        if step == "insert_versions":
            raise RuntimeError("injected failure after closing rows and inserting the new versions")

    dataset.on_step = fail_after_writing
    with pytest.raises(DatasetError, match="injected failure"):
        dataset.save(_payload(second, "2025-03-02T00:00:00+00:00"))
    # staging, closing and inserting the new versions had all happened
    assert steps == ["prepare", "stage_keys", "classify", "close_changed", "insert_versions"]
    after = _table(warehouse_url, tables["table"])
    pd.testing.assert_frame_equal(before.sort_values(KEY).reset_index(drop=True),
                                  after.sort_values(KEY).reset_index(drop=True))
    _confirm(tables, warehouse_url)  # (Kedro does not confirm after a failed save; nothing to confirm anyway)
    assert _watermark(warehouse_url, tables) == watermark_before == "2025-03-01T00:00:00+00:00"
    assert len(_merges(tables, warehouse_url)) == 1

    dataset.on_step = None  # the same batch then merges normally
    dataset.save(_payload(second, "2025-03-02T00:00:00+00:00"))
    _confirm(tables, warehouse_url)
    assert _watermark(warehouse_url, tables) == "2025-03-02T00:00:00+00:00"
    assert len(_table(warehouse_url, tables["table"])) == 2 * len(first)


def test_partial_unique_index_allows_one_current_row_per_key(tables, warehouse_url):
    rng = np.random.default_rng(3)
    batch, _ = deduplicate_payments(random_batch(rng, 10, 20, 0, None))
    _dataset(tables, warehouse_url).save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    import psycopg2

    with pytest.raises(psycopg2.errors.UniqueViolation):
        with transaction(warehouse_url) as cursor:
            cursor.execute(
                f'INSERT INTO "{tables["table"]}" (payment_id, company_code, row_hash, is_current, start_date, batch_id) '
                "VALUES (%s, %s, 0, true, now(), 'x')",
                (int(batch["payment_id"].iloc[0]), batch["company_code"].iloc[0]),
            )


def test_missing_keys_invalidate_closes_absent_keys(tables, warehouse_url):
    dataset = _dataset(tables, warehouse_url)
    base = pd.DataFrame(
        {"payment_id": [1, 2, 3], "company_code": ["A", "A", "B"], "external_client_id": ["x", None, "z"],
         "status": ["ok", "ok", "ok"], "amount": [1.0, 2.0, 3.0],
         "payment_at": pd.to_datetime(["2025-01-01"] * 3, utc=True),
         "created_at": pd.to_datetime(["2025-01-01"] * 3, utc=True),
         "updated_at": pd.to_datetime(["2025-01-02"] * 3, utc=True)}
    )
    dataset.save(_payload(base, "2025-03-01T00:00:00+00:00"))
    dataset.save(_payload(base.iloc[[0]], "2025-03-02T00:00:00+00:00", missing_keys="ignore"))
    assert _table(warehouse_url, tables["table"])["is_current"].all()
    dataset.save(_payload(base.iloc[[0]], "2025-03-03T00:00:00+00:00", missing_keys="invalidate"))
    table = _table(warehouse_url, tables["table"]).set_index("payment_id")
    assert table.loc[1, "is_current"] and pd.isna(table.loc[1, "end_date"])
    assert not table.loc[2, "is_current"] and not table.loc[3, "is_current"]
    assert pd.Timestamp(table.loc[2, "end_date"]) == pd.Timestamp("2025-03-03", tz="UTC")
    assert _merges(tables, warehouse_url).iloc[-1]["invalidated"] == 2


def test_null_transitions_are_changes_and_null_to_null_is_not(tables, warehouse_url):
    dataset = _dataset(tables, warehouse_url)
    row = pd.DataFrame(
        {"payment_id": [7], "company_code": ["A"], "external_client_id": [None], "status": ["ok"],
         "amount": [np.nan], "payment_at": pd.to_datetime([None], utc=True),
         "created_at": pd.to_datetime(["2025-01-01"], utc=True), "updated_at": pd.to_datetime(["2025-01-02"], utc=True)}
    )
    dataset.save(_payload(row, "2025-03-01T00:00:00+00:00"))
    dataset.save(_payload(row.assign(updated_at=pd.Timestamp("2025-01-03", tz="UTC")), "2025-03-02T00:00:00+00:00"))
    assert len(_table(warehouse_url, tables["table"])) == 1  # NULL -> NULL (and only updated_at moved)
    dataset.save(_payload(row.assign(external_client_id=""), "2025-03-03T00:00:00+00:00"))
    dataset.save(_payload(row.assign(external_client_id=None), "2025-03-04T00:00:00+00:00"))
    dataset.save(_payload(row.assign(amount=0.0), "2025-03-05T00:00:00+00:00"))
    table = _table(warehouse_url, tables["table"]).sort_values("start_date")
    assert len(table) == 4  # NULL -> '' , '' -> NULL and NULL -> 0 are each a change
    assert table["is_current"].tolist() == [False, False, False, True]
    assert table["end_date"].iloc[:-1].tolist() == table["start_date"].iloc[1:].tolist()


def test_bad_batches_fail_naming_the_problem(tables, warehouse_url):
    dataset = _dataset(tables, warehouse_url)
    rows = pd.DataFrame({"payment_id": [1, 1], "company_code": ["A", "A"], "external_client_id": [None, None],
                         "status": ["a", "b"], "amount": [1.0, 2.0],
                         "payment_at": pd.to_datetime(["2025-01-01"] * 2, utc=True),
                         "created_at": pd.to_datetime(["2025-01-01"] * 2, utc=True),
                         "updated_at": pd.to_datetime(["2025-01-01"] * 2, utc=True)})
    with pytest.raises(DatasetError, match="duplicate key"):
        dataset.save(_payload(rows, "2025-03-01T00:00:00+00:00"))
    with pytest.raises(DatasetError, match=r"null key .*batch row 1"):
        dataset.save(_payload(rows.assign(payment_id=[1, None]), "2025-03-01T00:00:00+00:00"))
    with pytest.raises(DatasetError, match=r"lacks columns \['status'\]"):
        dataset.save(_payload(rows.drop(columns="status").iloc[:1], "2025-03-01T00:00:00+00:00"))
    with pytest.raises(DatasetError, match="missing_keys must be one of"):
        dataset.save(_payload(rows.iloc[:1], "2025-03-01T00:00:00+00:00", missing_keys="delete"))
    with pytest.raises(DatasetError, match=r"1 amount\(s\) outside numeric\(14, 2\).*batch row 1"):
        dataset.save(_payload(rows.assign(payment_id=[1, 2], amount=[1.0, 1e12]), "2025-03-01T00:00:00+00:00"))


def test_row_hash_is_pinned_and_null_safe():
    rows = pd.DataFrame(
        {"payment_at": pd.to_datetime(["2024-01-01T00:00:00Z", None, None], utc=True),
         "status": ["ok", None, ""], "amount": [12.5, np.nan, 0.0], "external_client_id": ["c1", None, ""]}
    )
    hashes = row_hash(rows)
    # Pinned: a change here means stored hashes no longer match and every key would get a new version.
    assert hashes.tolist() == PINNED_HASHES
    assert len(set(hashes.tolist())) == 3  # NULL and '' / 0 differ
    # Independent of dtypes and column order that carry the same values.
    same = rows.astype({"status": "object"})[["external_client_id", "amount", "status", "payment_at"]]
    assert row_hash(same).tolist() == hashes.tolist()
    ns = rows.assign(payment_at=rows["payment_at"].dt.as_unit("ns"))
    assert row_hash(ns).tolist() == hashes.tolist()


PINNED_HASHES = [-888556521035120850, -9099653200008477832, 6350271938600687566]


def test_companies_upsert_and_last_update(tables, warehouse_url):
    table = tables["table"] + "_companies"
    dataset = CompaniesDimensionDataset(table=table, credentials={"url": warehouse_url})
    watermark = EtlWatermarkDataset(name="companies", table=tables["watermark_table"],
                                    confirm_sql="companies_updated_until.sql", identifiers={"companies": table},
                                    credentials={"url": warehouse_url})
    companies = pd.DataFrame(
        {"company_code": ["C1", "C2"], "company_id": [1, 2], "name": ["One", "Two"], "category": ["x", "y"],
         "created_at": pd.to_datetime(["2024-01-01"] * 2, utc=True),
         "updated_at": pd.to_datetime(["2024-02-01", "2024-03-01"], utc=True)}
    )
    try:
        dataset.save(companies)
        watermark.confirm()
        assert watermark.load()["last_update"] == "2024-03-01T00:00:00+00:00"
        dataset.save(companies.assign(name=["Uno", "Two"], updated_at=pd.to_datetime(["2024-04-01", "2024-03-01"], utc=True)))
        assert watermark.load()["last_update"] == "2024-03-01T00:00:00+00:00"  # the upsert writes no watermark
        watermark.confirm()
        loaded = dataset.load().set_index("company_code")
        assert len(loaded) == 2 and loaded.loc["C1", "name"] == "Uno" and loaded.loc["C2", "name"] == "Two"
        assert watermark.load()["last_update"] == "2024-04-01T00:00:00+00:00"
        with pytest.raises(DatasetError, match=r"lack columns \['category'\]"):
            dataset.save(companies.drop(columns="category"))
    finally:
        with transaction(warehouse_url) as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{table}"')


def test_key_stage_binary_copy_round_trips_through_postgres(warehouse_url):
    import pyarrow as pa

    from cripto_platform.warehouse.binary_copy import copy_binary

    codes = ["C1", "", "héllo wörld", "C22", "a\tb,\"c\"\n", "C1", "Z" * 300]
    n = np.arange(len(codes), dtype=np.int64)[::-1].copy()
    ids = np.array([1, -2, 2**62, 0, 7, 8, 9], dtype=np.int64)
    hashes = np.array([-(2**63), 2**63 - 1, 0, -1, 5, 6, 7], dtype=np.int64)
    with transaction(warehouse_url) as cursor:
        cursor.execute("CREATE TEMP TABLE k (n bigint, payment_id bigint, company_code text, row_hash bigint) ON COMMIT DROP")
        copy_binary(cursor, "k", [("n", "int8", n, None), ("payment_id", "int8", ids, None),
                                  ("company_code", "text", pa.array(codes), None), ("row_hash", "int8", hashes, None)])
        cursor.execute("SELECT n, payment_id, company_code, row_hash FROM k ORDER BY n")
        got = cursor.fetchall()
    expected = sorted(zip(n.tolist(), ids.tolist(), codes, hashes.tolist()))
    assert got == expected


def test_binary_stage_round_trips_edge_values(warehouse_url):
    """encode_versions + binary COPY into the SCD2 table: NULLs, negative / zero / largest amounts,
    unicode and empty text, far and null timestamps arrive in payments_l0 exactly."""
    from cripto_platform.warehouse.scd2 import VERSION_COLUMNS, encode_versions, ensure_payments_tables
    from cripto_platform.warehouse.binary_copy import copy_encoded

    table = f"payments_bin_{uuid.uuid4().hex[:8]}"
    rows = pd.DataFrame({
        "payment_id": [3, 1, 2, 4, 5],
        "company_code": ["C1", "", "compañía", "C1", "Z" * 200],
        "external_client_id": [None, "", "cl-ü", "x", None],
        "status": ["approved", None, "", "pending", "refunded"],
        "amount": [12.34, -0.05, 0.0, 999_999_999_999.99, None],
        "payment_at": pd.to_datetime(["2025-01-01T00:00:00.000001Z", None, "1970-01-01T00:00:00Z",
                                      "1999-12-31T23:59:59.999999Z", "2262-04-11T00:00:00Z"], utc=True, format="ISO8601"),
        "created_at": pd.to_datetime(["1900-01-01T00:00:00Z", "2000-01-01T00:00:00Z", None,
                                      "2025-06-30T12:34:56.5Z", "2025-01-01T00:00:00Z"], utc=True, format="ISO8601"),
        "updated_at": pd.to_datetime([None] * 5, utc=True),
    })
    hashes = np.array([-(2**63), 2**63 - 1, 0, -1, 42], dtype=np.int64)
    with transaction(warehouse_url) as cursor:
        ensure_payments_tables(cursor, table, f"{table}_log")
        payload = encode_versions(rows, hashes, effective_at=pd.Timestamp("2026-01-01T00:00:00Z").to_pydatetime(),
                                  batch_id="b-ü", run_id=None)
        assert copy_encoded(cursor, table, VERSION_COLUMNS, payload) == 5
        cursor.execute(
            f'SELECT payment_id, company_code, external_client_id, status, amount::text, payment_at, created_at, '
            f'updated_at, row_hash, is_current, start_date, end_date, batch_id, run_id FROM "{table}" ORDER BY payment_id'
        )
        got = cursor.fetchall()
        for name in (table, f"{table}_log"):
            cursor.execute(f'DROP TABLE "{name}"')

    def ts(value):
        return None if pd.isna(value) else value.to_pydatetime()

    expected_amounts = {3: "12.34", 1: "-0.05", 2: "0.00", 4: "999999999999.99", 5: None}
    start = pd.Timestamp("2026-01-01T00:00:00Z").to_pydatetime()
    by_id = {int(row.payment_id): (row, int(h)) for (_, row), h in zip(rows.iterrows(), hashes)}
    assert [r[0] for r in got] == [1, 2, 3, 4, 5]
    for r in got:
        row, row_hash = by_id[r[0]]
        assert r[1:4] == tuple(None if pd.isna(v) else v for v in (row.company_code, row.external_client_id, row.status))
        assert r[4] == expected_amounts[r[0]]
        assert r[5:8] == (ts(row.payment_at), ts(row.created_at), ts(row.updated_at))
        assert r[8:] == (row_hash, True, start, None, "b-ü", None)


def test_chunked_binary_copy_streams_every_chunk_and_aborts_cleanly(warehouse_url):
    """copy_binary_chunks: chunks arrive as one COPY; an error while encoding a later chunk, or one
    the server raises, fails the COPY and leaves nothing of it in the table."""
    import psycopg2

    from cripto_platform.warehouse.binary_copy import copy_binary_chunks

    def chunks(count, fail_at=None, null_at=None):
        for number in range(count):
            if number == fail_at:
                raise ValueError("bad chunk")
            ids = np.arange(number * 3, number * 3 + 3, dtype=np.int64)
            codes = pa.array([None if number == null_at else f"c{i}" for i in ids])
            yield [("id", "int8", ids, None), ("code", "text", codes, None)]

    with transaction(warehouse_url) as cursor:
        cursor.execute("CREATE TEMP TABLE chunked (id bigint, code text NOT NULL)")
        assert copy_binary_chunks(cursor, "chunked", chunks(4)) == 12
        cursor.execute("SELECT array_agg(id ORDER BY id), count(DISTINCT code) FROM chunked")
        assert cursor.fetchone() == (list(range(12)), 12)
        cursor.execute("SAVEPOINT before")
        with pytest.raises(ValueError, match="bad chunk"):
            copy_binary_chunks(cursor, "chunked", chunks(4, fail_at=2))
        cursor.execute("ROLLBACK TO SAVEPOINT before")
        with pytest.raises(psycopg2.errors.NotNullViolation):
            copy_binary_chunks(cursor, "chunked", chunks(4, null_at=1))
        cursor.execute("ROLLBACK TO SAVEPOINT before")
        cursor.execute("SELECT count(*) FROM chunked")
        assert cursor.fetchone()[0] == 12


def test_copy_out_fixed_reads_columns_and_refuses_nulls(warehouse_url):
    from psycopg2 import sql as pgsql

    from cripto_platform.warehouse.binary_copy import copy_out_fixed

    with transaction(warehouse_url) as cursor:
        got = copy_out_fixed(cursor, pgsql.SQL("SELECT g::bigint * -3, g % 2 = 0 FROM generate_series(1, 5) g"),
                             [("n", "int8"), ("even", "bool")])
        assert got["n"].tolist() == [-3, -6, -9, -12, -15] and got["even"].tolist() == [False, True, False, True, False]
        empty = copy_out_fixed(cursor, pgsql.SQL("SELECT 1::bigint WHERE false"), [("n", "int8")])
        assert empty["n"].tolist() == []
        with pytest.raises(ValueError, match=r"column\(s\) .*'n'.* have NULLs"):
            copy_out_fixed(cursor, pgsql.SQL("SELECT NULL::bigint, true"), [("n", "int8"), ("b", "bool")])


def test_existing_warehouse_gets_the_covering_index_and_loses_the_old_one(warehouse_url):
    from cripto_platform.warehouse.scd2 import ensure_payments_tables

    table = f"payments_old_{uuid.uuid4().hex[:8]}"
    with transaction(warehouse_url) as cursor:
        ensure_payments_tables(cursor, table, f"{table}_log")
        # The index as warehouses created before the row hash was INCLUDEd have it.
        cursor.execute(f'DROP INDEX "{table}_current_key_hash"')
        cursor.execute(f'CREATE UNIQUE INDEX "{table}_current_key" ON "{table}" (payment_id, company_code) WHERE is_current')
    with transaction(warehouse_url) as cursor:
        ensure_payments_tables(cursor, table, f"{table}_log")
        cursor.execute("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                       "WHERE indrelid = %s::regclass", (table,))
        indexes = dict(cursor.fetchall())
        for name in (table, f"{table}_log"):
            cursor.execute(f'DROP TABLE "{name}"')
    assert sorted(indexes) == [f"{table}_client_current", f"{table}_current_key_hash"]
    assert "INCLUDE (row_hash) WHERE is_current" in indexes[f"{table}_current_key_hash"]
    # The recommendation service's per-client history index (partial: current versions only).
    assert "(external_client_id) INCLUDE (company_code) WHERE is_current" in indexes[f"{table}_client_current"]


# ------------------------------------------------------------------ late and concurrent batches (issue 9)


def _changed(batch: pd.DataFrame, status: str) -> pd.DataFrame:
    return batch.assign(status=status)


def test_a_batch_older_than_the_last_merge_is_refused_and_writes_nothing(tables, warehouse_url):
    from cripto_platform.warehouse.scd2 import LateBatchError
    from tests.warehouse.scd2_checks import scd2_violations

    rng = np.random.default_rng(11)
    dataset = _dataset(tables, warehouse_url)
    batch, _ = deduplicate_payments(random_batch(rng, 40, 60, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    # run A (process time T2) merges first ...
    dataset.save(_payload(_changed(batch, "A"), "2025-03-10T00:00:00+00:00"))
    _confirm(tables, warehouse_url)
    before = _table(warehouse_url, tables["table"])
    # ... then run B, which started earlier (T1 < T2), arrives with other values for the same keys
    with pytest.raises(LateBatchError, match=r"2025-03-05T00:00:00\+00:00 is earlier than the last merged batch's "
                                             r"2025-03-10T00:00:00\+00:00.*nothing was written"):
        dataset.save(_payload(_changed(batch, "B"), "2025-03-05T00:00:00+00:00"))
    after = _table(warehouse_url, tables["table"])
    pd.testing.assert_frame_equal(before.sort_values(KEY + ["start_date"]).reset_index(drop=True),
                                  after.sort_values(KEY + ["start_date"]).reset_index(drop=True))
    _confirm(tables, warehouse_url)
    assert _watermark(warehouse_url, tables) == "2025-03-10T00:00:00+00:00"  # never moved back
    assert scd2_violations(warehouse_url, tables["table"]) == {}
    assert (after.loc[after["is_current"], "status"] == "A").all()


def test_a_second_batch_at_the_same_process_time_may_not_change_what_it_versioned(tables, warehouse_url):
    from cripto_platform.warehouse.scd2 import LateBatchError
    from tests.warehouse.scd2_checks import scd2_violations

    rng = np.random.default_rng(12)
    dataset = _dataset(tables, warehouse_url)
    batch, _ = deduplicate_payments(random_batch(rng, 20, 30, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))  # the same batch again: a no-op, allowed
    with pytest.raises(LateBatchError, match="already have a version starting at its process time"):
        dataset.save(_payload(_changed(batch, "later"), "2025-03-01T00:00:00+00:00"))
    assert scd2_violations(warehouse_url, tables["table"]) == {}
    assert len(_table(warehouse_url, tables["table"])) == len(batch)


@pytest.mark.parametrize("second_is_later", [True, False])
def test_concurrent_merges_are_serialised_and_keep_every_invariant(tables, warehouse_url, second_is_later):
    """Run A holds the merge (paused after classifying) while run B tries to merge: B waits for A's
    commit, then merges after it (a later B) or is refused (an earlier B). Driven step by step."""
    import threading

    from cripto_platform.warehouse.scd2 import LateBatchError
    from tests.warehouse.scd2_checks import scd2_violations

    rng = np.random.default_rng(13)
    batch, _ = deduplicate_payments(random_batch(rng, 40, 60, 0, None))
    _dataset(tables, warehouse_url).save(_payload(batch, "2025-03-01T00:00:00+00:00"))

    a_paused, release_a = threading.Event(), threading.Event()
    run_a = _dataset(tables, warehouse_url)

    def pause_after_classify(step):
        if step == "classify":
            a_paused.set()
            assert release_a.wait(30)

    run_a.on_step = pause_after_classify
    b_time = "2025-03-20T00:00:00+00:00" if second_is_later else "2025-03-05T00:00:00+00:00"
    errors: dict[str, BaseException] = {}

    def run(name, dataset, payload):
        try:
            dataset.save(payload)
        except BaseException as error:  # reported to the test thread
            errors[name] = error

    thread_a = threading.Thread(target=run, args=("A", run_a, _payload(_changed(batch, "A"), "2025-03-10T00:00:00+00:00")))
    thread_a.start()
    assert a_paused.wait(30)
    thread_b = threading.Thread(target=run, args=("B", _dataset(tables, warehouse_url), _payload(_changed(batch, "B"), b_time)))
    thread_b.start()
    # B is blocked on the merge lock while A holds it
    with transaction(warehouse_url) as cursor:
        for _ in range(100):
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            if cursor.fetchone()[0] == 1:
                break
            cursor.execute("SELECT pg_sleep(0.05)")
        else:
            pytest.fail("run B did not wait for run A's merge lock")
    assert thread_b.is_alive()
    release_a.set()
    thread_a.join(30)
    thread_b.join(30)
    assert "A" not in errors
    _confirm(tables, warehouse_url)  # each run's confirmation, after its merge node
    table = _table(warehouse_url, tables["table"])
    if second_is_later:
        assert "B" not in errors
        assert (table.loc[table["is_current"], "status"] == "B").all()
        assert _watermark(warehouse_url, tables) == b_time
    else:
        assert isinstance(errors.get("B"), LateBatchError)
        assert (table.loc[table["is_current"], "status"] == "A").all()
        assert _watermark(warehouse_url, tables) == "2025-03-10T00:00:00+00:00"
    assert scd2_violations(warehouse_url, tables["table"]) == {}


def test_mass_invalidation_is_refused_without_the_override(tables, warehouse_url):
    from cripto_platform.warehouse.scd2 import MassInvalidationError

    rng = np.random.default_rng(14)
    dataset = _dataset(tables, warehouse_url)
    batch, _ = deduplicate_payments(random_batch(rng, 100, 100, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    _confirm(tables, warehouse_url)
    before = _table(warehouse_url, tables["table"])
    small = batch.iloc[:10]  # an extract that lost 90% of the keys
    with pytest.raises(MassInvalidationError, match=rf"close {len(batch) - 10} of {len(batch)} current rows"):
        dataset.save(_payload(small, "2025-03-02T00:00:00+00:00", missing_keys="invalidate",
                              max_invalidated_share=0.05))
    assert len(_table(warehouse_url, tables["table"])) == len(before)
    assert _table(warehouse_url, tables["table"])["is_current"].all()
    _confirm(tables, warehouse_url)
    assert _watermark(warehouse_url, tables) == "2025-03-01T00:00:00+00:00"
    # within the share, or with the override (max_invalidated_share None), it applies
    dataset.save(_payload(batch.iloc[:-3], "2025-03-03T00:00:00+00:00", missing_keys="invalidate",
                          max_invalidated_share=0.05))
    assert _merges(tables, warehouse_url).iloc[-1]["invalidated"] == 3
    dataset.save(_payload(small, "2025-03-04T00:00:00+00:00", missing_keys="invalidate", max_invalidated_share=None))
    assert _merges(tables, warehouse_url).iloc[-1]["invalidated"] == len(batch) - 13


def test_current_and_history_queries_read_the_table_named_in_identifiers(tables, warehouse_url):
    """payments_current.sql / payments_history.sql name the table as ``{payments}`` (catalog ``identifiers:``)."""
    from cripto_platform.datasets import WarehouseQueryDataset

    rng = np.random.default_rng(5)
    batch, _ = deduplicate_payments(random_batch(rng, 30, 40, 0, None))
    dataset = _dataset(tables, warehouse_url)
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    dataset.save(_payload(_changed(batch, "A"), "2025-03-02T00:00:00+00:00"))
    credentials = {"url": warehouse_url}
    identifiers = {"payments": tables["table"]}
    current = WarehouseQueryDataset(sql_file="payments_current.sql", identifiers=identifiers,
                                    credentials=credentials)
    assert len(current.load()) == len(batch)
    assert len(current.preview(nrows=5)["data"]) == 5
    history = WarehouseQueryDataset(sql_file="payments_history.sql", identifiers=identifiers,
                                    query_params={"n_payments": 3}, credentials=credentials).load()
    assert history[["payment_id", "company_code"]].drop_duplicates().shape[0] == 3
    assert (history["versions"] == 2).all() and len(history) == 6


def test_two_transactions_creating_the_control_tables_at_once_both_succeed(warehouse_url):
    """Two Dask workers on a fresh warehouse failed on pg_type_typname_nsp_index creating etl_watermarks."""
    import threading

    from cripto_platform.warehouse.watermarks import ensure_watermark_table

    name = f"t_wm_race_{uuid.uuid4().hex[:8]}"
    errors: list[Exception] = []

    def second():
        try:
            with transaction(warehouse_url) as cursor:
                ensure_watermark_table(cursor, name)
        except Exception as error:  # reported to the test thread
            errors.append(error)

    with transaction(warehouse_url) as cursor:
        ensure_watermark_table(cursor, name)  # created, not yet committed
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)  # the second creator waits for this commit instead of racing it
    thread.join(30)
    assert errors == []
    with transaction(warehouse_url) as cursor:
        cursor.execute(f'DROP TABLE "{name}"')


# ------------------------------------------------------------------ one table, its commit log, its watermark (issue 13)


def test_the_scd2_dataset_loads_the_table_it_merges_into(tables, warehouse_url):
    """payments_l0@scd2 loads what it saves: every version of the SCD2 table (it loaded the merge log before)."""
    dataset = _dataset(tables, warehouse_url)
    empty = dataset.load()  # before the first merge: the table, empty, not an error
    assert empty.empty and {"payment_id", "is_current", "start_date", "end_date"} <= set(empty.columns)
    rng = np.random.default_rng(21)
    batch, _ = deduplicate_payments(random_batch(rng, 20, 30, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    dataset.save(_payload(_changed(batch, "A"), "2025-03-02T00:00:00+00:00"))
    loaded = dataset.load()
    assert len(loaded) == len(_table(warehouse_url, tables["table"])) == 2 * len(batch)
    assert loaded["is_current"].sum() == len(batch) and (loaded.loc[loaded["is_current"], "status"] == "A").all()
    assert loaded["amount"].dtype == "float64"  # numeric(14, 2) read back as the batch's floats
    saved = batch.sort_values(KEY).reset_index(drop=True)
    first = loaded[~loaded["is_current"]].sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(_normalise(first.assign(is_current=True, end_date=None)),
                                  _normalise(saved.assign(is_current=True, start_date="2025-03-01T00:00:00+00:00",
                                                          end_date=None)), check_dtype=False)
    assert len(dataset.preview(nrows=5)["data"]) == 5
    merges = _merges(tables, warehouse_url)  # the same table seen as its commit log
    assert merges["effective_at"].tolist() == [pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-03-02", tz="UTC")]


def test_the_watermark_moves_only_on_confirm_and_never_backwards(tables, warehouse_url):
    dataset, watermark = _dataset(tables, warehouse_url), _watermark_dataset(tables, warehouse_url)
    watermark.confirm()  # nothing merged yet: nothing to confirm
    assert watermark.load()["last_update"] is None
    rng = np.random.default_rng(22)
    batch, _ = deduplicate_payments(random_batch(rng, 20, 30, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    assert watermark.load()["last_update"] is None  # the merge itself writes no watermark
    watermark.confirm()
    assert watermark.load() == {"name": "payments", "table": tables["watermark_table"],
                                "last_update": "2025-03-01T00:00:00+00:00", "run_id": "run-2025-03-01T00:00:00+00:00"}
    watermark.save({"last_update": "2025-04-01T00:00:00+00:00", "run_id": "manual"})  # ahead of the merge log
    dataset.save(_payload(_changed(batch, "A"), "2025-03-05T00:00:00+00:00"))
    watermark.confirm()
    assert watermark.load()["last_update"] == "2025-04-01T00:00:00+00:00"  # GREATEST: never backwards
    watermark.save({"last_update": "2025-01-01T00:00:00+00:00", "run_id": "older"})
    assert watermark.load()["run_id"] == "manual"  # a save cannot move it back either
    dataset.save(_payload(_changed(batch, "B"), "2025-04-02T00:00:00+00:00"))
    watermark.confirm()
    assert watermark.load()["last_update"] == "2025-04-02T00:00:00+00:00"


def test_a_crash_between_the_merge_commit_and_the_confirmation_re_reads_the_window(tables, warehouse_url):
    """The merge log stays the authority: with the confirmation lost, the watermark lags and the next run's
    window (from the watermark) re-reads the merged batch, which then changes nothing."""
    from cripto_platform.pipelines.payments.nodes import compute_payments_window
    from tests.pipelines.payments.params import payments_params

    dataset, watermark = _dataset(tables, warehouse_url), _watermark_dataset(tables, warehouse_url)
    rng = np.random.default_rng(23)
    batch, _ = deduplicate_payments(random_batch(rng, 20, 30, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))
    watermark.confirm()
    dataset.save(_payload(_changed(batch, "A"), "2025-03-02T00:00:00+00:00"))  # committed; confirm() never ran
    window = compute_payments_window(watermark.load(), payments_params().window,
                                     {"run_id": "next", "started_at": "2025-03-03T00:00:00+00:00"})
    assert window["since"] == "2025-03-01T00:00:00+00:00"  # the lagging watermark: (03-01, 03-03] read again
    before = _table(warehouse_url, tables["table"])
    dataset.save(_payload(_changed(batch, "A"), window["effective_at"]))
    assert len(_table(warehouse_url, tables["table"])) == len(before)  # idempotent: the re-read changes nothing
    assert _merges(tables, warehouse_url).iloc[-1]["unchanged"] == len(batch)
    watermark.confirm()
    assert watermark.load()["last_update"] == "2025-03-03T00:00:00+00:00"


def test_reading_the_table_does_not_wait_behind_a_running_merge(tables, warehouse_url):
    """Once the table exists, load() runs no DDL (ALTER TABLE / CREATE INDEX take table locks even when they
    change nothing): a merge holding its table lock does not block a notebook's or kedro-viz's read."""
    import threading

    from cripto_platform.warehouse import get_engine

    dataset = _dataset(tables, warehouse_url)
    rng = np.random.default_rng(31)
    batch, _ = deduplicate_payments(random_batch(rng, 10, 10, 0, None))
    dataset.save(_payload(batch, "2025-03-01T00:00:00+00:00"))

    merging = get_engine(warehouse_url).raw_connection()
    loaded = {}
    try:
        with merging.cursor() as cursor:  # what a running merge holds on its table until it commits
            cursor.execute(f'LOCK TABLE "{tables["table"]}" IN SHARE ROW EXCLUSIVE MODE')
        reader = threading.Thread(target=lambda: loaded.update(frame=dataset.load()), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "load() waited for the merge's table lock"
    finally:
        merging.rollback()
        merging.close()
    assert len(loaded["frame"]) == len(batch)
