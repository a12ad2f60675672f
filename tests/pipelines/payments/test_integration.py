"""`kedro run --pipeline payments` through a KedroSession: embedded PostgreSQL, local files or moto S3."""

from __future__ import annotations

import boto3
import pandas as pd
import pytest
import sqlalchemy as sa
from kedro.io import DatasetError

from cripto_platform.pipelines.payments.nodes import (
    deduplicate_payments,
    fetch_payments_batch,
    validate_payments_batch,
)
from tests.conftest import run_kedro, use_bucket
from tests.pipelines.payments.params import sample_dict, sample_params, source_params

pytestmark = pytest.mark.integration

T1, T2 = "2026-03-01T00:00:00+00:00", "2026-03-04T00:00:00+00:00"
SMALL = {"payments.sample_data.payments_per_day": 80, "payments.window.lookback_days": 20}
COMPARED = ["payment_at", "status", "amount", "external_client_id"]


@pytest.fixture
def clean_payments_tables(warehouse_engine):
    with warehouse_engine.begin() as connection:
        for table in ("payments_l0", "companies_l0", "etl_merge_log"):
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        connection.execute(sa.text(
            "DO $$ BEGIN IF to_regclass('etl_watermarks') IS NOT NULL THEN "
            "DELETE FROM etl_watermarks WHERE name IN ('payments', 'companies'); END IF; END $$"
        ))
    return warehouse_engine


def _query(engine, text):
    with engine.connect() as connection:
        return pd.read_sql(sa.text(text), connection)


def _watermark(engine):
    return _query(engine, "SELECT last_update FROM etl_watermarks WHERE name = 'payments'")["last_update"].iloc[0]


def _expected_changes(engine, params: dict, since: str, until: str) -> tuple[int, int]:
    """New and changed keys of the (since, until] batch, computed independently in pandas."""
    sample = {key.split(".")[-1]: value for key, value in params.items() if key.startswith("payments.sample_data.")}
    raw = fetch_payments_batch({"since": since, "until": until}, source_params(kind="generator"), sample_params(**sample))
    companies = _query(engine, "SELECT company_code FROM companies_l0")
    batch, _ = deduplicate_payments(validate_payments_batch(raw, companies)[0])
    current = _query(engine, "SELECT payment_id, company_code, payment_at, status, amount::float8 AS amount, "
                             "external_client_id FROM payments_l0 WHERE is_current")
    joined = batch.merge(current, on=["payment_id", "company_code"], how="left", suffixes=("", "_cur"), indicator=True)
    new = int((joined["_merge"] == "left_only").sum())
    old = joined[joined["_merge"] == "both"]
    differs = pd.Series(False, index=old.index)
    for column in COMPARED:
        a, b = old[column], old[f"{column}_cur"]
        if column == "payment_at":
            a, b = pd.to_datetime(a, utc=True), pd.to_datetime(b, utc=True)
        differs |= ~((a == b).fillna(False) | (a.isna() & b.isna()))
    return new, int(differs.sum())


def test_two_runs_grow_history_only_by_changes_and_advance_the_watermark(kedro_project, clean_payments_tables):
    engine = clean_payments_tables
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    first = _query(engine, "SELECT * FROM payments_l0")
    assert len(first) > 500 and first["is_current"].all()
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T1)
    assert len(_query(engine, "SELECT * FROM companies_l0")) == 300  # payments.sample_data.n_companies

    landed = list((kedro_project / "data/01_raw/payments_landing/payments/process_date=2026-03-01").glob("*.parquet"))
    assert len(landed) == 1
    raw = pd.read_parquet(landed[0])
    quarantine = pd.read_parquet(next((kedro_project / "data/02_intermediate/quarantine/payments.parquet").rglob("*.parquet")))
    assert quarantine["quarantine_reason"].str.contains("null key payment_id|unparseable").all() and len(quarantine) > 0
    report_dir = kedro_project / "data/08_reporting/payments_merge.csv"
    report = pd.read_csv(next(report_dir.rglob("*.csv")))
    assert report.loc[0, "inserted_new"] == len(first)
    assert report.loc[0, "quarantined"] == len(quarantine)
    assert len(raw) == report.loc[0, "staged"] + report.loc[0, "duplicates"] + len(quarantine)

    expected_new, expected_changed = _expected_changes(engine, SMALL, T1, T2)
    assert expected_new > 0 and expected_changed > 0
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T2})
    second = _query(engine, "SELECT * FROM payments_l0")
    assert len(second) - len(first) == expected_new + expected_changed
    closed = second[~second["is_current"]]
    assert len(closed) == expected_changed
    assert (pd.to_datetime(closed["end_date"], utc=True) == pd.Timestamp(T2)).all()
    assert not second[second["is_current"]].duplicated(["payment_id", "company_code"]).any()
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T2)
    reports = sorted(report_dir.rglob("*.csv"))
    assert len(reports) == 2
    latest = pd.read_csv(reports[-1])
    assert (latest.loc[0, "inserted_new"], latest.loc[0, "inserted_changed"], latest.loc[0, "closed_changed"]) == (
        expected_new, expected_changed, expected_changed)

    index = pd.read_parquet(kedro_project / "data/04_feature/payments_index.parquet")
    assert len(index) == int(second["is_current"].sum())  # all current payments were created in the last 90 days
    assert not index.duplicated(["payment_id", "company_code"]).any()

    # A process time before the watermark: the seed's future-date guard, nothing written.
    with pytest.raises(ValueError, match=r"watermark 'payments' .* is 2026-03-04T00:00:00\+00:00, after the process time"):
        run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    assert len(_query(engine, "SELECT * FROM payments_l0")) == len(second)
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T2)


def test_cloud_env_lands_parquet_in_the_s3_bucket(kedro_project, clean_payments_tables, s3_bucket, s3_endpoint):
    use_bucket(kedro_project, s3_bucket)
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1}, env="cloud")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    landed = [key for key in keys if key.startswith("01_raw/payments_landing/payments/process_date=2026-03-01/")]
    assert len(landed) == 2 and landed[0].endswith(".parquet")
    assert landed[1] == landed[0] + ".merged"  # the marker: that batch merged
    assert "04_feature/payments_index.parquet" in keys
    assert any(key.startswith("08_reporting/payments_merge.csv/") for key in keys)
    assert not (kedro_project / "data/01_raw/payments_landing").exists()


def test_cloud_env_missing_bucket_fails_naming_it_unless_creation_is_allowed(
    kedro_project, clean_payments_tables, s3_endpoint
):
    use_bucket(kedro_project, "payments-missing-bucket")
    params = {**SMALL, "payments.window.process_time": T1, "payments.landing.create_bucket_if_missing": False}
    with pytest.raises(DatasetError, match=r"landing bucket 's3://payments-missing-bucket' does not exist"):
        run_kedro(kedro_project, "payments", params, env="cloud", node_names=["payments.ensure_landing_bucket"])
    run_kedro(kedro_project, "payments", {**params, "payments.landing.create_bucket_if_missing": True},
              env="cloud", node_names=["payments.ensure_landing_bucket"])
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    assert "payments-missing-bucket" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_api_source_through_the_shipped_server(kedro_project, clean_payments_tables, monkeypatch):
    from cripto_platform.sources.payments_api import PaymentsApiServer, serve_in_thread

    generator = sample_dict(seed=7, origin="2024-01-01", payments_per_day=80, n_companies=40)
    server = PaymentsApiServer(("127.0.0.1", 0), generator=generator, n_companies=40, now=T1, fail_first=1)
    serve_in_thread(server)
    try:
        monkeypatch.setenv("CRIPTO_PAYMENTS_API_URL", server.url)  # the credentials route to the base URL
        params = {**SMALL, "payments.window.process_time": T1, "payments.source.kind": "api",
                  "payments.source.page_size": 500, "payments.source.backoff_seconds": 0.01}
        run_kedro(kedro_project, "payments", params)
    finally:
        server.shutdown()
        server.server_close()
    assert server.requests_seen > 3  # a 503 retried, companies, several pages of payments
    from_api = int(_query(clean_payments_tables, "SELECT count(*) AS n FROM payments_l0")["n"].iloc[0])
    # the same window straight from the generator: every valid key, once
    raw = fetch_payments_batch({"since": "2026-02-09T00:00:00+00:00", "until": T1}, source_params(kind="generator"),
                               sample_params(**generator))
    companies = _query(clean_payments_tables, "SELECT company_code FROM companies_l0")
    batch, _ = deduplicate_payments(validate_payments_batch(raw, companies)[0])
    assert from_api == len(batch) > 0


# ------------------------------------------------------------------ late and concurrent runs (issue 9)


def _session(project, params: dict):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    nested: dict = {}
    for dotted, value in params.items():
        *parents, leaf = dotted.split(".")
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    bootstrap_project(project)
    return KedroSession.create(project_path=project, runtime_params=nested)


class PauseBeforeMerge:
    """Holds a run just before its SCD2 merge until released: the slow fetch of run B, made deterministic."""

    def __init__(self):
        import threading

        self.reached, self.release = threading.Event(), threading.Event()

    from kedro.framework.hooks import hook_impl

    @hook_impl
    def before_node_run(self, node):
        if node.name == "payments.build_payments_merge":
            self.reached.set()
            assert self.release.wait(120), "run B was never released"


def test_an_older_run_merging_after_a_newer_one_is_refused_and_history_stays_valid(kedro_project, clean_payments_tables):
    """Run B (process time T1) passes its window check, then run A (T2 > T1) starts later and merges
    first; when B reaches its merge it must not close A's versions nor move the watermark back."""
    import threading

    from cripto_platform.warehouse.scd2 import LateBatchError
    from tests.warehouse.scd2_checks import scd2_violations

    engine = clean_payments_tables
    t0, t1, t2 = "2026-02-25T00:00:00+00:00", T1, T2
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": t0})

    pause = PauseBeforeMerge()
    outcome: dict = {}

    def run_b():
        try:
            with _session(kedro_project, {**SMALL, "payments.window.process_time": t1}) as session:
                session._hook_manager.register(pause)
                session.run(pipeline_names=["payments"])
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error
        finally:
            pause.reached.set()

    thread = threading.Thread(target=run_b)
    thread.start()
    assert pause.reached.wait(180) and "error" not in outcome, outcome
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": t2})  # run A, complete
    after_a = _query(engine, "SELECT * FROM payments_l0")
    pause.release.set()
    thread.join(180)

    error = outcome.get("error")
    while error is not None and not isinstance(error, LateBatchError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, LateBatchError), outcome
    assert "is earlier than the last merged batch's 2026-03-04T00:00:00+00:00" in str(error)
    after_b = _query(engine, "SELECT * FROM payments_l0")
    assert len(after_b) == len(after_a)
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(t2)
    assert scd2_violations(str(engine.url.render_as_string(hide_password=False)), "payments_l0") == {}
    merged_runs = _query(engine, "SELECT effective_at FROM etl_merge_log WHERE table_name = 'payments_l0'")
    assert sorted(pd.to_datetime(merged_runs["effective_at"], utc=True)) == [pd.Timestamp(t0), pd.Timestamp(t2)]


def test_replaying_an_older_window_re_reads_it_at_the_current_process_time(kedro_project, clean_payments_tables):
    """README's replay: payments.window.since re-reads from an older time; versions stay in time order."""
    from tests.warehouse.scd2_checks import scd2_violations

    engine = clean_payments_tables
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T2})
    before = _query(engine, "SELECT * FROM payments_l0")
    # the old "replay a day" example: a process time before the watermark fails before fetching anything
    with pytest.raises(ValueError, match="payments.window.since"):
        run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    t3 = "2026-03-05T00:00:00+00:00"
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": t3, "payments.window.since": T1})
    log = _query(engine, "SELECT * FROM etl_merge_log ORDER BY merged_at")
    replay = log.iloc[-1]
    assert replay["batch_id"] == f"{T1}/{t3}"
    # the window (T1, T3] covers (T1, T2] again: those rows are unchanged, only (T2, T3] adds versions
    assert replay["unchanged"] >= log.iloc[1]["inserted_new"] + log.iloc[1]["inserted_changed"] - replay["duplicates"]
    after = _query(engine, "SELECT * FROM payments_l0")
    assert len(after) == len(before) + replay["inserted_new"] + replay["inserted_changed"]
    assert scd2_violations(str(engine.url.render_as_string(hide_password=False)), "payments_l0") == {}
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(t3)


def test_invalid_parameters_stop_the_run_before_anything_is_written(kedro_project, clean_payments_tables):
    """Issue 9: an invalid payments.index.since was rejected only after the merge and watermark committed."""
    from kedro.validation import ParameterValidationError

    engine = clean_payments_tables
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1})
    rows, log = len(_query(engine, "SELECT * FROM payments_l0")), len(_query(engine, "SELECT * FROM etl_merge_log"))
    for bad, field in (({"payments.index.since": "not-a-date"}, "index.since"),
                       ({"payments.merge.missing_keys": "drop"}, "merge.missing_keys"),
                       ({"payments.merge.max_invalidated_share": 2}, "max_invalidated_share"),
                       ({"payments.window.lookback_dayz": 3}, "lookback_dayz")):
        with pytest.raises(ParameterValidationError, match=field.replace(".", r"[.\s\S]*")):
            run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T2, **bad})
    assert len(_query(engine, "SELECT * FROM payments_l0")) == rows
    assert len(_query(engine, "SELECT * FROM etl_merge_log")) == log
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T1)
    assert not list((kedro_project / "data/01_raw/payments_landing/payments").glob("process_date=2026-03-04"))


def test_parallel_runner_runs_the_payments_pipeline(kedro_project, clean_payments_tables):
    """ParallelRunner forks worker processes: they must not share the parent's pooled warehouse
    connections ("connection lost"), and the batch the merge takes must reach another process
    (a catalog MemoryDataset stays in the process that saved it)."""
    from kedro.runner import ParallelRunner

    engine = clean_payments_tables
    run_kedro(kedro_project, "payments", {**SMALL, "payments.window.process_time": T1}, runner=ParallelRunner(max_workers=2))
    merged = _query(engine, "SELECT count(*) AS n FROM payments_l0")["n"].iloc[0]
    batches = list((kedro_project / "data/02_intermediate/payments_batch.parquet").rglob("*.parquet"))
    assert merged > 500 and len(batches) == 1 and len(pd.read_parquet(batches[0])) == merged
    assert pd.Timestamp(_watermark(engine)) == pd.Timestamp(T1)
