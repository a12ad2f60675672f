"""The warehouse module: embedded server URL, one-line errors, COPY-backed datasets."""

import os
import shutil
import subprocess
import sys

import pandas as pd
import psycopg2
import pytest
from kedro.io import DatasetError

from cripto_platform.datasets import WarehouseQueryDataset, WarehouseTableDataset
from cripto_platform.sources.reservations import generate_reservations
from cripto_platform.warehouse import WarehouseUnavailableError, check_connection
from tests.conftest import PROJECT_ROOT

UNREACHABLE = "postgresql://someone:secret@127.0.0.1:1/nowhere"


def test_url_command_prints_a_url_clients_accept(warehouse_url):
    env = {**os.environ}
    env.pop("CRIPTO_WAREHOUSE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "cripto_platform.warehouse", "url"],
        capture_output=True, text=True, env=env, check=True,
    )
    url = result.stdout.strip()
    assert url == warehouse_url
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("select 41 + 1")
        assert cursor.fetchone() == (42,)
    if shutil.which("psql"):
        out = subprocess.run(["psql", url, "-tAc", "select 'psql-ok'"], capture_output=True, text=True)
        assert out.stdout.strip() == "psql-ok"


def test_unreachable_server_is_one_line_naming_the_host():
    with pytest.raises(WarehouseUnavailableError, match=r"cannot reach the warehouse at 127\.0\.0\.1:1/nowhere"):
        check_connection(UNREACHABLE)
    result = subprocess.run(
        [sys.executable, "-m", "cripto_platform.warehouse", "url"],
        capture_output=True, text=True, env={**os.environ, "CRIPTO_WAREHOUSE_URL": UNREACHABLE},
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "127.0.0.1:1" in result.stderr and "secret" not in result.stderr


def test_kedro_run_against_unreachable_server_fails_in_one_line(tmp_path):
    kedro = shutil.which("kedro", path=os.path.dirname(sys.executable))
    result = subprocess.run(
        [kedro, "run", "--pipeline", "clustering"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "CRIPTO_WAREHOUSE_URL": UNREACHABLE, "KEDRO_DISABLE_TELEMETRY": "1"},
        timeout=120,
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: cannot reach the warehouse at 127.0.0.1:1")
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_warehouse_hook_raises_an_exception_a_notebook_can_catch():
    """WarehouseHooks stops the run with WarehouseUnavailableError, not SystemExit (which would end a kernel)."""
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline

    from cripto_platform.hooks import WarehouseHooks

    catalog = DataCatalog({"table": WarehouseTableDataset(table="t", credentials={"url": UNREACHABLE})})
    pipeline = Pipeline([Node(func=len, inputs="table", outputs="n", name="count")])
    with pytest.raises(WarehouseUnavailableError, match=r"127\.0\.0\.1:1"):
        WarehouseHooks().before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)


def _frame(run_id, n):
    return pd.DataFrame({"run_id": run_id, "value": range(n), "at": pd.Timestamp("2024-05-01 10:00")})


def test_replace_runs_keeps_other_runs(warehouse_url):
    dataset = WarehouseTableDataset(
        table="runs_demo", write_mode="replace_runs", credentials={"url": warehouse_url}
    )
    dataset.save(_frame("a", 3))
    dataset.save(_frame("b", 2))
    dataset.save(_frame("a", 4))  # rerun of run a replaces only a's rows
    loaded = dataset.load()
    assert loaded.groupby("run_id").size().to_dict() == {"a": 4, "b": 2}
    assert loaded["at"].iloc[0] == pd.Timestamp("2024-05-01 10:00")


def test_failed_save_leaves_the_table_as_it_was(warehouse_url):
    dataset = WarehouseTableDataset(table="atomic_demo", write_mode="replace", credentials={"url": warehouse_url})
    dataset.save(_frame("a", 3))
    broken = _frame("b", 2).astype({"value": object})
    broken.loc[1, "value"] = "not a number"  # COPY fails half-way through
    appended = WarehouseTableDataset(table="atomic_demo", write_mode="append", credentials={"url": warehouse_url})
    with pytest.raises(DatasetError, match="saving table 'atomic_demo' failed"):
        appended.save(broken)
    assert len(dataset.load()) == 3


def test_replace_runs_requires_the_run_column(warehouse_url):
    dataset = WarehouseTableDataset(table="runs_demo", write_mode="replace_runs", credentials={"url": warehouse_url})
    with pytest.raises(DatasetError, match="needs a 'run_id' column"):
        dataset.save(pd.DataFrame({"value": [1]}))


def test_query_dataset_reads_the_sql_file(warehouse_url):
    sample = generate_reservations(20, seed=1)
    WarehouseTableDataset(table="reservations", credentials={"url": warehouse_url}).save(sample)
    loaded = WarehouseQueryDataset(sql_file="reservations_extract.sql", credentials={"url": warehouse_url}).load()
    assert len(loaded) == 20 and loaded["reservation_id"].is_monotonic_increasing


def test_stop_command_shuts_the_embedded_server_down(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "CRIPTO_WAREHOUSE_URL"}
    env["CRIPTO_WAREHOUSE_PGDATA"] = str(tmp_path / "pgdata")

    def warehouse(command):
        return subprocess.run([sys.executable, "-m", "cripto_platform.warehouse", command],
                              capture_output=True, text=True, env=env, check=True).stdout.strip()

    url = warehouse("url")
    psycopg2.connect(url).close()
    assert (tmp_path / "pgdata" / "postmaster.pid").exists()

    warehouse("stop")
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=3)


@pytest.mark.integration  # starts an embedded PostgreSQL of its own
def test_embedded_server_is_tuned_once_and_keeps_a_users_settings(tmp_path):
    """First start: the sizes of EMBEDDED_SERVER_SETTINGS (restarting for shared_buffers); a value
    the user sets with ALTER SYSTEM survives later starts; the server restarts in the same process."""
    from cripto_platform.warehouse import connection

    pgdata = tmp_path / "pgdata"

    def settings(url):
        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name",
                           (list(connection.EMBEDDED_SERVER_SETTINGS),))
            return dict(cursor.fetchall())

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CRIPTO_WAREHOUSE_URL", raising=False)
        patch.setenv("CRIPTO_WAREHOUSE_PGDATA", str(pgdata))
        try:
            url = connection.resolve_url()
            assert settings(url) == connection.EMBEDDED_SERVER_SETTINGS
            conn = psycopg2.connect(url)
            conn.autocommit = True
            conn.cursor().execute("ALTER SYSTEM SET shared_buffers = '256MB'")
            conn.close()
            connection.stop_embedded_server(pgdata)
            assert settings(connection.resolve_url()) == {**connection.EMBEDDED_SERVER_SETTINGS, "shared_buffers": "256MB"}
        finally:
            connection.stop_embedded_server(pgdata)


def test_zone_aware_timestamps_keep_their_instant_whatever_the_server_zone(warehouse_url):
    # A session in another zone reads offset-less text in its own zone: the COPY must say UTC itself.
    separator = "&" if "?" in warehouse_url else "?"
    bogota = f"{warehouse_url}{separator}options=-c%20TimeZone%3DAmerica/Bogota"
    instants = pd.Series(pd.to_datetime(["2024-05-01 10:00:00.123456", None, "2024-12-31 23:30:00"], format="ISO8601").tz_localize("Europe/Madrid"))
    frame = pd.DataFrame({"id": [1, 2, 3], "at": instants, "naive": pd.Timestamp("2024-05-01 10:00")})
    dataset = WarehouseTableDataset(table="zoned_demo", credentials={"url": bogota})
    dataset.save(frame)
    with psycopg2.connect(warehouse_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM at), naive FROM zoned_demo ORDER BY id")
        stored = cursor.fetchall()
    expected = [instant.timestamp() if pd.notna(instant) else None for instant in instants]
    assert [float(epoch) if epoch is not None else None for epoch, _ in stored] == pytest.approx(expected, abs=1e-6)
    assert {naive for _, naive in stored} == {pd.Timestamp("2024-05-01 10:00").to_pydatetime()}


def test_embedded_data_directory_is_found_from_the_project_root_whatever_the_working_directory(tmp_path, monkeypatch):
    """Issue 14: Jupyter starts notebooks in notebooks/, which pointed to an empty notebooks/data/ server."""
    from cripto_platform.warehouse.connection import ENV_PGDATA, embedded_pgdata

    (tmp_path / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "x"\n')
    (tmp_path / "notebooks" / "deep").mkdir(parents=True)
    monkeypatch.delenv(ENV_PGDATA, raising=False)
    expected = (tmp_path / "data" / "warehouse" / "pgdata").resolve()
    for where in (tmp_path, tmp_path / "notebooks", tmp_path / "notebooks" / "deep"):
        monkeypatch.chdir(where)
        assert embedded_pgdata() == expected
    monkeypatch.setenv(ENV_PGDATA, "elsewhere")  # an explicit setting is a path as the shell gave it
    assert embedded_pgdata() == (tmp_path / "notebooks" / "deep" / "elsewhere").resolve()
