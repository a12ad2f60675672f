"""The recommendation service over real HTTP: uvicorn on 127.0.0.1, the embedded PostgreSQL, a temp project."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import uvicorn
import yaml
from kedro.io.core import Version
from kedro.runner import SequentialRunner

from cripto_platform.datasets import AnnoyIndexDataset, CompaniesDimensionDataset, PaymentsSCD2Dataset
from cripto_platform.recommender import build_company_index
from cripto_platform.serving import create_app
from cripto_platform.warehouse import transaction
from tests.conftest import use_bucket

pytestmark = pytest.mark.integration

PIPELINE_FILE = Path(__file__).resolve().parents[2] / "src/cripto_platform/pipelines/recommendation/pipeline.py"
INDEX_PATH = "data/06_models/company_index"  # the catalog's ${globals:lake_root}/06_models/company_index
V1 = "2026-11-01T00.00.00.000Z"

# Two clusters and a loner; A's and B's nearest company is C, D's is E (cosines .89, .95, .96).
COMPANIES = pd.DataFrame({
    "company_code": ["SVC_A", "SVC_B", "SVC_C", "SVC_D", "SVC_E", "SVC_F"],
    "name": ["Alpha Power", "Beta Power", "Gamma Power", "Delta Water", "Epsilon Water", "Zeta Phone"],
    "category": ["energy", "energy", "energy", "water", "water", "telecom"],
})
VECTORS = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0.3], [0, 0, 0, 1]])
POPULARITY = pd.DataFrame({"company_code": ["SVC_F", "SVC_D", "SVC_A", "SVC_E", "SVC_B", "SVC_C"],
                           "popularity": [60, 50, 40, 30, 20, 10]})
NAMES = dict(zip(COMPANIES["company_code"], zip(COMPANIES["name"], COMPANIES["category"])))


def _payments(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    at = pd.Timestamp("2026-10-01T12:00:00Z")
    return pd.DataFrame({
        "payment_id": [payment_id for payment_id, _, _ in rows],
        "company_code": [company for _, company, _ in rows],
        "external_client_id": [client for _, _, client in rows],
        "status": "approved", "amount": 25.0, "payment_at": at, "created_at": at, "updated_at": at,
    })


def _merge(warehouse_url: str, rows: pd.DataFrame) -> None:
    """Through the SCD2 merge the payments pipeline uses, at the current time."""
    effective = pd.Timestamp.now(tz="UTC")
    PaymentsSCD2Dataset(credentials={"url": warehouse_url}).save(
        {"rows": rows, "batch_id": f"svc-{effective.value}", "run_id": None, "effective_at": effective,
         "watermark": effective})


@pytest.fixture(scope="module")
def warehouse(warehouse_url):
    """companies_l0 and payments_l0 with: svc-c1 pays A twice and B; svc-c2 pays D; svc-c3's only
    payment was reassigned to svc-c4 (a known client with no current payment)."""
    with transaction(warehouse_url) as cursor:
        for table in ("payments_l0", "companies_l0", "etl_merge_log"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute("DO $$ BEGIN IF to_regclass('etl_watermarks') IS NOT NULL THEN "
                       "DELETE FROM etl_watermarks WHERE name IN ('payments', 'companies'); END IF; END $$")
    at = pd.Timestamp("2026-09-01T00:00:00Z")
    CompaniesDimensionDataset(credentials={"url": warehouse_url}).save(
        COMPANIES.assign(company_id=range(1, 7), created_at=at, updated_at=at))
    _merge(warehouse_url, _payments([(101, "SVC_A", "svc-c1"), (102, "SVC_A", "svc-c1"), (103, "SVC_B", "svc-c1"),
                                     (201, "SVC_D", "svc-c2"), (301, "SVC_A", "svc-c3")]))
    time.sleep(0.01)
    _merge(warehouse_url, _payments([(301, "SVC_A", "svc-c4")]))
    return warehouse_url


@pytest.fixture
def project(kedro_project, warehouse, monkeypatch):
    """The temp project copy, no token; the recommendation catalog entry and parameter are added to
    the copy only when the checkout does not have them yet."""
    monkeypatch.delenv("CRIPTO_API_TOKEN", raising=False)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    base = kedro_project / "conf" / "base"
    if not (base / "catalog_recommendation.yml").exists():
        (base / "catalog_recommendation.yml").write_text(
            "company_index:\n  type: cripto_platform.datasets.AnnoyIndexDataset\n"
            "  filepath: ${globals:lake_root}/06_models/company_index\n  versioned: true\n")
    if not (base / "parameters_recommendation.yml").exists():
        (base / "parameters_recommendation.yml").write_text("recommendation:\n  neighbours: 2\n")
    return kedro_project


def save_index(project: Path, version: str) -> None:
    index = build_company_index(VECTORS, list(COMPANIES["company_code"]), POPULARITY, n_trees=10, search_k=-1, seed=3)
    AnnoyIndexDataset(filepath=str(project / INDEX_PATH), version=Version(None, version)).save(index)


@contextmanager
def serving(app):
    """``app`` on uvicorn on a free 127.0.0.1 port, in a background thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def recommend(url: str, client_id, n=5, **kwargs) -> requests.Response:
    return requests.post(f"{url}/recommend_companies", json={"client_id": client_id, "n": n}, timeout=10, **kwargs)


def codes(response: requests.Response) -> list[str]:
    return [item["company_code"] for item in response.json()["recommendations"]]


def test_recommends_similar_unpaid_companies_with_their_names(project):
    save_index(project, V1)
    with serving(create_app(project)) as url:
        response = recommend(url, "svc-c1", n=3)
        health = requests.get(f"{url}/health", timeout=10).json()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client_id"] == "svc-c1" and body["index_version"] == V1
    items = body["recommendations"]
    assert len(items) == 3
    assert not {"SVC_A", "SVC_B"} & set(codes(response))  # already paid
    assert items[0]["company_code"] == "SVC_C" and items[0]["source"] == "similar"
    # (2 payments to A x cos(A, C) + 1 to B x cos(B, C)) x popularity(C) ** the configured alpha
    parameters = yaml.safe_load((project / "conf/base/parameters_recommendation.yml").read_text())["recommendation"]
    alpha = (parameters.get("index") or {}).get("popularity_alpha", 0)
    assert items[0]["score"] == pytest.approx((2 * 2 / np.sqrt(5) + 3 / np.sqrt(10)) * 10 ** alpha, rel=1e-4)
    for item in items:
        assert (item["name"], item["category"]) == NAMES[item["company_code"]]
        assert item["source"] in {"similar", "popular"}
    assert [item["score"] for item in items] == sorted((item["score"] for item in items), reverse=True)
    assert health == {"status": "ok", "index_version": V1, "building": False}


def test_a_payment_merged_after_the_index_was_built_is_excluded(project, warehouse):
    save_index(project, V1)
    with serving(create_app(project)) as url:
        before = recommend(url, "svc-c2", n=5)
        _merge(warehouse, _payments([(202, "SVC_E", "svc-c2")]))  # no new index
        after = recommend(url, "svc-c2", n=5)

    assert before.status_code == after.status_code == 200
    assert codes(before)[0] == "SVC_E" and "SVC_D" not in codes(before)
    assert not {"SVC_D", "SVC_E"} & set(codes(after))
    assert len(codes(after)) == 4  # six companies, two paid
    assert before.json()["index_version"] == after.json()["index_version"] == V1


def test_a_known_client_without_current_payments_gets_popular_companies(project):
    save_index(project, V1)
    with serving(create_app(project)) as url:
        response = recommend(url, "svc-c3", n=3)  # its only payment now belongs to svc-c4

    assert response.status_code == 200, response.text
    items = response.json()["recommendations"]
    assert [item["company_code"] for item in items] == ["SVC_F", "SVC_D", "SVC_A"]  # most popular first
    assert {item["source"] for item in items} == {"popular"} and {item["score"] for item in items} == {0.0}
    assert items[0]["name"] == "Zeta Phone"


def test_an_unknown_client_is_404(project):
    save_index(project, V1)
    with serving(create_app(project)) as url:
        response = recommend(url, "svc-nobody")
    assert response.status_code == 404
    assert response.json()["detail"] == "client 'svc-nobody' has no payments in payments_l0"


def test_a_bad_body_is_422(project):
    save_index(project, V1)
    with serving(create_app(project)) as url:
        endpoint = f"{url}/recommend_companies"
        bodies = [{"client_id": "svc-c1", "n": 0}, {"client_id": "svc-c1", "n": 101}, {"n": 3},
                  {"client_id": 17, "n": 3}, {"client_id": "", "n": 3}, {"client_id": "svc-c1", "n": "many"},
                  {"client_id": "svc-c1", "n": 3, "extra": 1}]
        responses = [requests.post(endpoint, json=body, timeout=10) for body in bodies]
        not_json = requests.post(endpoint, data="client_id=svc-c1", timeout=10,
                                 headers={"Content-Type": "application/json"})

    assert [response.status_code for response in responses] == [422] * len(bodies)
    assert responses[0].json()["detail"][0]["loc"] == ["body", "n"]
    assert responses[2].json()["detail"][0]["loc"] == ["body", "client_id"]
    assert not_json.status_code == 422


def test_a_configured_token_is_required_everywhere_but_health(project, monkeypatch):
    save_index(project, V1)
    monkeypatch.setenv("CRIPTO_API_TOKEN", "s3cret-token")  # read through credentials recommendation_api.token
    with serving(create_app(project)) as url:
        missing = recommend(url, "svc-c1")
        basic = recommend(url, "svc-c1", headers={"Authorization": "Basic czNjcmV0LXRva2Vu"})
        wrong = recommend(url, "svc-c1", headers={"Authorization": "Bearer s3cret-tokem"})
        right = recommend(url, "svc-c1", headers={"Authorization": "Bearer s3cret-token"})
        build = requests.post(f"{url}/create_index", timeout=10)
        bad_body = requests.post(f"{url}/recommend_companies", json={"n": 0}, timeout=10)  # checked after the token
        health = requests.get(f"{url}/health", timeout=10)

    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert "bearer token" in missing.json()["detail"]
    assert basic.status_code == 401
    assert wrong.status_code == 403 and wrong.json()["detail"] == "invalid bearer token"
    assert right.status_code == 200
    assert build.status_code == 401 and bad_body.status_code == 401
    assert health.status_code == 200 and health.json()["index_version"] == V1


def test_no_index_is_503_naming_the_pipeline_until_one_is_written(project):
    with serving(create_app(project)) as url:
        response = recommend(url, "svc-c1")
        health = requests.get(f"{url}/health", timeout=10).json()
        save_index(project, V1)  # e.g. `kedro run --pipeline recommendation` from a shell
        later = recommend(url, "svc-c1")

    assert response.status_code == 503
    assert "kedro run --pipeline recommendation" in response.json()["detail"]
    assert "company_index" in response.json()["detail"] and "environment 'local'" in response.json()["detail"]
    assert health == {"status": "no_index", "index_version": None, "building": False}
    assert later.status_code == 200 and later.json()["index_version"] == V1


@pytest.fixture
def pipeline_inputs(project, warehouse):
    """What `kedro run --pipeline recommendation` reads: 24 more companies in companies_l0 and a
    payments_index of 200 clients in three groups, each paying mostly four of its group's companies."""
    rng = np.random.default_rng(5)
    codes = [f"SVC_G{i:02d}" for i in range(24)]
    at = pd.Timestamp("2026-09-01T00:00:00Z")
    CompaniesDimensionDataset(credentials={"url": warehouse}).save(pd.DataFrame({
        "company_code": codes, "company_id": range(100, 124), "name": codes, "category": "retail",
        "created_at": at, "updated_at": at}))
    rows = []
    for client in range(200):
        own = rng.choice(8, size=4, replace=False) + 8 * (client % 3)
        for _ in range(6):
            company = rng.choice(own) if rng.random() < 0.9 else rng.integers(24)
            paid_at = pd.Timestamp("2026-10-01T00:00:00Z") - pd.Timedelta(days=float(rng.uniform(0, 60)))
            rows.append((len(rows) + 1000, codes[company], f"svc-g{client:03d}", "approved", 20.0, paid_at))
    payments = pd.DataFrame(rows, columns=["payment_id", "company_code", "external_client_id", "status", "amount",
                                           "payment_at"])
    payments = payments.assign(created_at=payments["payment_at"], updated_at=payments["payment_at"])
    (project / "data/04_feature").mkdir(parents=True, exist_ok=True)
    payments.to_parquet(project / "data/04_feature/payments_index.parquet")
    return project


class HeldRunner(SequentialRunner):
    """Kedro's SequentialRunner, held at the start of each run until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def run(self, *args, **kwargs):
        self.started.set()
        assert self.release.wait(30), "the test never released the run"
        return super().run(*args, **kwargs)


needs_pipeline = pytest.mark.skipif(not PIPELINE_FILE.exists(), reason="the recommendation pipeline "
                                    "(src/cripto_platform/pipelines/recommendation/pipeline.py) does not exist yet")


@needs_pipeline
def test_create_index_runs_the_pipeline_then_serves_the_new_version(project, pipeline_inputs):
    save_index(project, V1)
    runner = HeldRunner()
    with serving(create_app(project, runner=runner)) as url:
        first = {}
        call = threading.Thread(target=lambda: first.update(
            response=requests.post(f"{url}/create_index", timeout=60)))
        call.start()
        assert runner.started.wait(30)
        second = requests.post(f"{url}/create_index", timeout=10)  # while the first is held
        during = requests.get(f"{url}/health", timeout=10).json()
        served_during = recommend(url, "svc-c1")
        runner.release.set()
        call.join(60)
        health = requests.get(f"{url}/health", timeout=10).json()
        after = recommend(url, "svc-c1")

    assert second.status_code == 409 and "already running" in second.json()["detail"]
    assert during == {"status": "ok", "index_version": V1, "building": True}
    assert served_during.status_code == 200 and served_during.json()["index_version"] == V1
    response = first["response"]
    assert response.status_code == 200, response.text
    new = response.json()["index_version"]
    assert new > V1 and response.json()["previous_version"] == V1
    assert (project / INDEX_PATH / new / "company_index" / "meta.json").exists()  # <path>/<version>/<name>
    assert health == {"status": "ok", "index_version": new, "building": False}
    assert after.status_code == 200 and after.json()["index_version"] == new


@needs_pipeline
def test_a_failed_build_is_500_and_the_previous_index_stays(project):
    save_index(project, V1)  # and no payments_index: the pipeline's first node cannot load its input
    with serving(create_app(project)) as url:
        failed = requests.post(f"{url}/create_index", timeout=60)
        again = requests.post(f"{url}/create_index", timeout=60)  # the lock was released
        health = requests.get(f"{url}/health", timeout=10).json()
        served = recommend(url, "svc-c1")

    assert failed.status_code == 500
    detail = failed.json()["detail"]
    assert "`kedro run --pipeline recommendation` failed" in detail and "payments_index" in detail
    assert detail.endswith(f"still serving version {V1}")
    assert again.status_code == 500
    assert health == {"status": "ok", "index_version": V1, "building": False}
    assert served.status_code == 200 and served.json()["index_version"] == V1


def test_the_cloud_environment_serves_the_index_from_s3(project, s3_bucket):
    use_bucket(project, s3_bucket)
    index = build_company_index(VECTORS, list(COMPANIES["company_code"]), POPULARITY, n_trees=10, search_k=-1, seed=3)
    AnnoyIndexDataset(filepath=f"s3://{s3_bucket}/06_models/company_index", version=Version(None, V1)).save(index)
    with serving(create_app(project, env="cloud")) as url:
        response = recommend(url, "svc-c1", n=2)
    assert response.status_code == 200, response.text
    assert response.json()["index_version"] == V1 and codes(response)[0] == "SVC_C"
    assert not (project / INDEX_PATH).exists()


def test_the_serve_command_listens_on_127_0_0_1(project, tmp_path_factory):
    import subprocess
    import sys

    save_index(project, V1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "cripto_platform.serve", "--port", str(port),
                                    "--project-path", str(project)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        response = recommend(f"http://127.0.0.1:{port}", "svc-c1", n=2)
    finally:
        process.terminate()
        process.wait(10)
    assert health.json()["index_version"] == V1
    assert response.status_code == 200 and codes(response)[0] == "SVC_C"
    assert f"Uvicorn running on http://127.0.0.1:{port}" in log.read_text()
    assert '"POST /recommend_companies HTTP/1.1" 200' in log.read_text()  # the access log
