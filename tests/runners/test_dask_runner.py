"""DaskRunner on a LocalCluster (2 worker processes on 127.0.0.1) against the embedded warehouse: the default
pipeline writes the same tables and files as SequentialRunner; a worker killed mid-run fails the run clearly,
and a rerun completes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import PROJECT_ROOT, run_kedro

pytestmark = pytest.mark.integration

# Every pipeline at the sizes their own integration tests use (test_run_summary, ingestion, payments).
SMALL = {
    "clustering.sample_data.n_reservations": 600,
    "payments.sample_data.payments_per_day": 80,
    "payments.window.lookback_days": 20,
    "ingestion.kaggle.source": "generator",
    "ingestion.kaggle.datasets.credit_risk.sample.n_rows": 300,
    "ingestion.kaggle.datasets.credit_risk.sample.malformed_rows": 3,
    "ingestion.kaggle.datasets.motor_temperature.sample.n_profiles": 3,
    "ingestion.kaggle.datasets.motor_temperature.sample.rows_per_profile": 20,
    "ingestion.kaggle.datasets.citesum.sample.n_papers": 100,
    "ingestion.sales.sample.n_points_of_sale": 8,
    "ingestion.sales.sample.n_sales_per_month": 100,
    "ingestion.sales.sample.months": 4,
    "ingestion.crypto.start_date": "2024-01-01",
    "ingestion.crypto.exchange.generated.listed_from": "2024-01-01",
    "ingestion.crypto.exchange.generated.until": "2024-03-01",
    "ingestion.version": "20240301",
    "payments.window.process_time": "2026-09-20T06:00:00+00:00",
}

# Run metadata (the run's uuid and start time, stamped on every output) and the clock times of a run
# differ between two runs by design; everything else must be equal.
VOLATILE = re.compile(r"^(run_id|started_at|run_started_at|.*_run_id|merged_at|loaded_at|written_at|"
                      r"created_at|updated_at|landed_at|processed_at|generated_at|saved_at|ingested_at|"
                      r"start_date|end_date|duration.*|seconds|.*_seconds|elapsed.*|last_run_at|recorded_at)$")
VERSION_DIR = re.compile(r"/\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z(?=/)")
RUN_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # a run's id in a file name


@pytest.fixture(scope="module")
def cluster(warehouse_url):
    """One LocalCluster for the module (started after the warehouse fixture set CRIPTO_WAREHOUSE_PGDATA, which
    the worker processes inherit)."""
    from cripto_platform.runners import start_local_cluster

    cluster = start_local_cluster(n_workers=2, threads_per_worker=1)
    yield cluster
    cluster.close()


def _reset_warehouse(url: str) -> None:
    from cripto_platform.warehouse import get_engine

    engine = get_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))


def _digest(frame: pd.DataFrame) -> tuple[int, str]:
    frame = frame[[c for c in frame.columns if not VOLATILE.match(str(c))]]
    text = frame.astype(str)
    text = text.sort_values(list(text.columns)).to_csv(index=False) if len(text.columns) else str(len(text))
    return len(frame), hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_digest(path: Path) -> str:
    def scrub(value):
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not VOLATILE.match(str(k))}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    text = path.read_text()
    try:
        records = [json.loads(text)]
    except json.JSONDecodeError:  # JSON lines
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return hashlib.sha256(json.dumps(scrub(records), sort_keys=True).encode()).hexdigest()[:16]


def snapshot(project: Path, url: str) -> dict[str, object]:
    """Row counts and content checksums of every warehouse table and every tabular file under data/."""
    result: dict[str, object] = {}
    from cripto_platform.warehouse import get_engine

    engine = get_engine(url)
    with engine.connect() as connection:
        tables = connection.execute(sa.text(
            "select table_name from information_schema.tables where table_schema = 'public'")).scalars().all()
        for table in sorted(tables):
            result[f"table:{table}"] = _digest(pd.read_sql(sa.text(f'select * from "{table}"'), connection))
    data = project / "data"
    for path in sorted(data.rglob("*")):
        if not path.is_file() or "pgdata" in path.parts or path.name.startswith("."):
            continue
        key = RUN_UUID.sub("<run_id>", VERSION_DIR.sub("", "/" + str(path.relative_to(data))))
        if path.suffix == ".parquet":
            result[key] = _digest(pd.read_parquet(path))
        elif path.suffix == ".csv":
            result[key] = _digest(pd.read_csv(path))
        elif path.suffix == ".json" and not path.name.endswith("_chart.json"):  # charts: labelled by run
            result[key] = _json_digest(path)
        else:  # models, html pages, index files: present in both runs
            result[key] = "present"
    return result


def _fresh_project(root: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT_ROOT / ".telemetry", root / ".telemetry")
    (root / "src").mkdir()
    return root


def test_default_pipeline_on_dask_writes_what_sequential_writes(kedro_project, warehouse_url, cluster,
                                                               tmp_path, monkeypatch):
    from kedro.runner import SequentialRunner

    from cripto_platform.runners import DaskRunner

    from threadpoolctl import threadpool_limits

    _reset_warehouse(warehouse_url)
    # Dask's worker processes run BLAS on one thread (the nanny sets OMP/OPENBLAS/MKL_NUM_THREADS=1), and the
    # SVD company vectors change with BLAS's thread count; the sequential reference runs with the same one.
    with threadpool_limits(1):
        run_kedro(kedro_project, "__default__", SMALL, runner=SequentialRunner())
    expected = snapshot(kedro_project, warehouse_url)
    if os.environ.get("DASK_TEST_KEEP"):
        shutil.copytree(kedro_project / "data", "/tmp/dask-scratch/seq_data", dirs_exist_ok=True)

    dask_project = _fresh_project(tmp_path / "dask_project")
    monkeypatch.chdir(dask_project)
    _reset_warehouse(warehouse_url)
    run_kedro(dask_project, "__default__", SMALL, runner=DaskRunner(address=cluster.scheduler_address))
    actual = snapshot(dask_project, warehouse_url)
    if os.environ.get("DASK_TEST_KEEP"):
        shutil.copytree(dask_project / "data", "/tmp/dask-scratch/dask_data", dirs_exist_ok=True)

    assert sorted(actual) == sorted(expected)
    assert any(key.startswith("table:payments_l0") for key in actual) and len(actual) > 60
    # The profiling pipeline profiles lake tables the ingestion pipeline writes, with no edge between them in the
    # DAG: what it finds depends on node order in any runner (SequentialRunner's order profiles them before
    # ingestion writes them on a fresh project). Its outputs are compared for presence only.
    order_dependent = re.compile(r"^/08_reporting/profiling")
    different = {key: (expected[key], actual[key]) for key in expected
                 if expected[key] != actual[key] and not order_dependent.match(key)}
    assert not different, "\n".join(f"{key}: {pair}" for key, pair in different.items())


def _kill_a_busy_worker(client, stop: threading.Event, killed: list) -> None:
    """SIGKILL the first worker seen running a kedro task (its nanny starts a new one)."""
    pids = client.run(os.getpid)
    while not stop.is_set():
        for address, keys in client.processing().items():
            if any(str(key).startswith("kedro-") for key in keys) and address in pids:
                os.kill(pids[address], signal.SIGKILL)
                killed.append(address)
                return
        time.sleep(0.01)


def test_a_killed_worker_fails_the_run_clearly_and_a_rerun_completes(kedro_project, warehouse_url, cluster):
    from distributed import Client

    from cripto_platform.runners import DaskRunner, DaskRunnerError

    _reset_warehouse(warehouse_url)
    params = {key: value for key, value in SMALL.items() if key.startswith(("payments.", "clustering."))}
    with Client(cluster.scheduler_address) as client:
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, stop, killed), daemon=True)
        killer.start()
        try:
            with pytest.raises(DaskRunnerError, match="died") as failure:
                run_kedro(kedro_project, "__default__", params, runner=DaskRunner(address=cluster.scheduler_address))
        finally:
            stop.set()
            killer.join(10)
        assert killed, "no worker was killed"
        assert "the run stopped" in str(failure.value) and "run again" in str(failure.value)
        client.wait_for_workers(2, timeout=60)  # the nanny replaced the killed worker

    run_kedro(kedro_project, "__default__", params, runner=DaskRunner(address=cluster.scheduler_address))
    from cripto_platform.warehouse import get_engine

    engine = get_engine(warehouse_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from payments_l0")).scalar() > 0
        assert connection.execute(sa.text("select count(*) from client_recommendations")).scalar() > 0


def test_an_unpicklable_in_memory_object_not_colocated_fails_with_the_setting_to_use(tmp_path, cluster):
    """Without the colocate setting, the Annoy index cannot travel: the message names the dataset and the fix."""
    import numpy as np
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Node, Pipeline

    from cripto_platform.runners import DaskRunner, DaskRunnerError
    from cripto_platform.runners.dask_runner import read_settings

    assert "company_index_candidate" in read_settings(PROJECT_ROOT / "conf" / "dask" / "dask.yml")["colocate"]
    pipeline = Pipeline([
        Node(func=_build_index, inputs="vectors", outputs="index", name="build"),
        Node(func=_count_items, inputs="index", outputs="n_items", name="count"),
    ])
    def catalog():  # copy_mode assign: an Annoy index cannot be deep-copied either (as in catalog_recommendation.yml)
        return DataCatalog({"vectors": MemoryDataset(np.eye(4, dtype="float32")),
                            "index": MemoryDataset(copy_mode="assign")})

    with pytest.raises(DaskRunnerError, match="'index'.*colocate"):
        DaskRunner(address=cluster.scheduler_address, colocate=[]).run(pipeline, catalog())
    outputs = DaskRunner(address=cluster.scheduler_address, colocate=["index"]).run(pipeline, catalog())
    assert outputs["n_items"].load() == 4


def _build_index(vectors):
    from annoy import AnnoyIndex

    index = AnnoyIndex(vectors.shape[1], "angular")
    for item, vector in enumerate(vectors):
        index.add_item(item, vector)
    index.build(2)
    return index


def _count_items(index) -> int:
    return index.get_n_items()
