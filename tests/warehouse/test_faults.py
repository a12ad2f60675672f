"""The warehouse going away in the middle of a merge (issue 9, item 12): one line naming the server,
saying the connection was lost and nothing was committed; the table as it was after a restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pandas as pd
import psycopg2
import pytest

from cripto_platform.pipelines.payments.nodes import deduplicate_payments
from cripto_platform.warehouse import WarehouseConnectionLost, resolve_url, stop_embedded_server, transaction
from cripto_platform.warehouse.connection import embedded_pgdata
from tests.conftest import run_kedro
from tests.pipelines.payments.test_integration import SMALL, T1, T2, _query, clean_payments_tables  # noqa: F401 (fixture)
from tests.pipelines.payments.test_integration import _watermark as _payments_watermark
from tests.warehouse.test_scd2 import _confirm, _dataset, _merges, _payload, _table, _watermark, random_batch

pytestmark = pytest.mark.integration

KEY = ["payment_id", "company_code"]


@pytest.fixture
def tables(warehouse_url):
    suffix = uuid.uuid4().hex[:8]
    names = {"table": f"t_pay_{suffix}", "watermark_table": f"t_wm_{suffix}", "merge_log_table": f"t_log_{suffix}"}
    yield names
    with transaction(resolve_url()) as cursor:
        for name in names.values():
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def _terminate_other_transactions(url: str) -> int:
    """From a second connection, what an operator (or a failover) does: end the merge's backend."""
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("how", ["terminate_backend", "stop_server"])
def test_connection_lost_mid_merge_is_one_line_and_commits_nothing(tables, warehouse_url, how):
    rng = np.random.default_rng(5)
    dataset = _dataset(tables, warehouse_url)
    first, _ = deduplicate_payments(random_batch(rng, 30, 50, 0, None))
    dataset.save(_payload(first, "2025-03-01T00:00:00+00:00"))
    _confirm(tables, warehouse_url)
    before = _table(warehouse_url, tables["table"])
    second = first.copy()
    second["status"] = "changed"

    def lose_the_connection(step):
        if step != "close_changed":  # rows already closed inside the transaction
            return
        if how == "terminate_backend":
            assert _terminate_other_transactions(warehouse_url) == 1
        else:
            stop_embedded_server(embedded_pgdata())

    dataset.on_step = lose_the_connection
    try:
        with pytest.raises(WarehouseConnectionLost) as raised:
            dataset.save(_payload(second, "2025-03-02T00:00:00+00:00"))
    finally:
        assert resolve_url() == warehouse_url  # (re)started on the same data directory if it was stopped

    message = str(raised.value)
    assert message == (
        f"warehouse at {embedded_pgdata()} (socket): connection lost during a transaction; nothing was committed"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # raised from None
    after = _table(warehouse_url, tables["table"])
    assert after.sort_values(KEY).reset_index(drop=True).equals(before.sort_values(KEY).reset_index(drop=True))
    assert _watermark(warehouse_url, tables) == "2025-03-01T00:00:00+00:00"
    assert len(_merges(tables, warehouse_url)) == 1  # only the first merge is logged

    dataset.on_step = None  # and the same batch merges once the warehouse is back
    dataset.save(_payload(second, "2025-03-02T00:00:00+00:00"))
    assert len(_table(warehouse_url, tables["table"])) == 2 * len(before)


def test_a_lost_connection_while_committing_says_the_outcome_is_unknown(warehouse_url):
    with pytest.raises(WarehouseConnectionLost, match=r"connection lost while committing a transaction; "
                                                      r"whether it was committed is unknown"):
        with transaction(warehouse_url) as cursor:
            cursor.execute("SELECT 1")
            _terminate_other_transactions(warehouse_url)


def test_kedro_run_losing_the_warehouse_mid_merge_prints_one_line(kedro_project, clean_payments_tables):
    """``kedro run`` itself: the merge's backend is terminated while it waits for the merge lock."""
    engine = clean_payments_tables
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    before = _query(engine, "SELECT * FROM payments_l0")
    url = resolve_url()

    locker = psycopg2.connect(url)
    locker.autocommit = True
    try:
        with locker.cursor() as cursor:  # the lock every merge into payments_l0 takes first
            cursor.execute("SELECT pg_advisory_lock(hashtextextended('scd2:payments_l0', 0))")
        kedro = shutil.which("kedro", path=os.path.dirname(sys.executable))
        params = ",".join(f"{key}={value}" for key, value in {**SMALL, "payments.window.process_time": T2}.items())
        child = subprocess.Popen(
            [kedro, "run", "--pipelines", "payments", "--params", params],
            cwd=kedro_project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
            env={**os.environ, "CRIPTO_WAREHOUSE_URL": url, "KEDRO_DISABLE_TELEMETRY": "1"},
        )
        threading.Thread(target=_terminate_when_waiting, args=(locker, child), daemon=True).start()
        stdout, stderr = child.communicate(timeout=300)
    finally:
        locker.close()

    assert child.returncode == 1, stderr
    where = f"{embedded_pgdata()} (socket)"
    assert stderr.strip().splitlines() == [
        f"error: payments_l0@scd2: warehouse at {where}: connection lost during a transaction; nothing was committed"
    ]
    assert "Traceback" not in stdout
    after = _query(engine, "SELECT * FROM payments_l0")
    assert after.sort_values(KEY).reset_index(drop=True).equals(before.sort_values(KEY).reset_index(drop=True))
    assert pd.Timestamp(_payments_watermark(engine)) == pd.Timestamp(T1)


def _terminate_when_waiting(locker, child, timeout: float = 120.0) -> None:
    """Terminate the backend waiting for ``locker``'s advisory lock, then release the lock."""
    deadline = time.monotonic() + timeout
    with locker.cursor() as cursor:
        while time.monotonic() < deadline and child.poll() is None:
            cursor.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            waiting = [pid for (pid,) in cursor.fetchall()]
            if waiting:
                for pid in waiting:
                    cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
                break
            time.sleep(0.05)
        cursor.execute("SELECT pg_advisory_unlock_all()")
