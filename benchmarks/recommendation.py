"""The recommendation pipeline at scale, side by side with the alternatives, in one run.

    flock /tmp/cripto_bench.lock python benchmarks/recommendation.py            # 1M payments, 100k clients, 5k companies
    flock /tmp/cripto_bench.lock python benchmarks/recommendation.py --quick    # smoke run (50k / 5k / 500)

Data: the first version of every payment of ``sources.payments.generate_payments`` (the creating
client, its company, amount and ``payment_at``), computed with the generator's own functions
(``_universe``, ``_payment_companies``, ``_column_value``): the same planted structure (segments,
Zipf popularity, recurring bills) and the same rows as the generator's creation events, without the
follow-up events, duplicates and bad rows, and without formatting strings it would only parse back.
Payments whose first version has a NULL client (8%) are dropped, as the pipeline quarantines them.
``--payments`` are spread evenly over ``--days`` days. Model parameters are the shipped
``conf/base/parameters_recommendation.yml`` (the window is not applied: the whole span is used).

Side by side:

1. build: client x company matrix, weighting, co-occurrence (``model``), company vectors (SVD and
   ALS), Annoy index (``scoring.build_index``);
2. index: recall@10 against exact neighbours (``model.recall_against_exact``) and per-query latency
   of ``CompanyIndex.neighbours`` vs a numpy brute force (one matrix-vector product + argpartition);
3. batch: recommending 10 companies to every client with ``neighbour_matrix`` + ``top_n_scores`` vs
   implicit's ``CosineRecommender`` (fit, then one ``recommend(userids, user_items, N=10)`` call);
4. quality: precision@10 on a time holdout with the pipeline's evaluation nodes (Annoy SVD/ALS,
   implicit Cosine, popularity);
5. HTTP (unless ``--no-http``): a temp project copy (conf/, pyproject.toml) with an embedded
   PostgreSQL in a temp dir (``CRIPTO_WAREHOUSE_PGDATA``), companies and payments loaded with the
   project's datasets (``CompaniesDimensionDataset``, ``PaymentsSCD2Dataset``: the SCD2 merge), the
   index of step 1 saved with ``AnnoyIndexDataset`` where the catalog reads it, then
   ``python -m cripto_platform.serve`` on 127.0.0.1 and ``POST /recommend_companies`` for random
   known clients at 1 and 32 concurrent clients (a thread pool, one ``requests.Session`` per
   thread, ``--requests`` per level). The history query uses the partial client index that the
   payments DDL creates (``payments_l0 (external_client_id) INCLUDE (company_code) WHERE
   is_current``). With ``--profile`` the service's per-request steps (history query, scoring,
   company lookup) are also timed in-process. The server is stopped with ``stop_embedded_server``
   at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from cripto_platform.pipelines.recommendation import evaluation, model, nodes, scoring
from cripto_platform.pipelines.recommendation.params import BLOCKS
from cripto_platform.recommender import neighbour_matrix, top_n_scores
from cripto_platform.sources import payments as gen

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "2024-01-01"
TARGETS = {"recall": 0.95, "query_p99_ms": 2.0, "vs_cosine": 0.95, "vs_popularity": 1.5, "http_p99_ms": 25.0}


def shipped() -> dict:
    return yaml.safe_load((ROOT / "conf/base/parameters_recommendation.yml").read_text())["recommendation"]


def typed(raw: dict, block: str, **overrides):
    return BLOCKS[block](**{**raw[block], **overrides})


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def generate(n_payments: int, n_clients: int, n_companies: int, days: float, seed: int) -> pd.DataFrame:
    """First versions of generate_payments' payments 0..n_payments-1 (see the module docstring)."""
    sample = {key: value for key, value in
              yaml.safe_load((ROOT / "conf/base/parameters_payments.yml").read_text())["payments"]["sample_data"].items()
              if key in ("n_segments", "popularity_exponent", "segment_focus", "bills_min", "bills_max",
                         "explore_share")}
    universe = gen._universe(seed, n_companies, n_clients, sample["n_segments"], float(sample["popularity_exponent"]),
                             float(sample["segment_focus"]), sample["bills_min"], sample["bills_max"])
    payments = np.arange(n_payments, dtype=np.int64)
    per_day = n_payments / days
    created = (payments + gen._uniform(seed, payments, 0)) / per_day
    company = gen._payment_companies(seed, payments, universe, n_clients, sample["explore_share"])
    client = (gen._column_value(seed, payments, 54, 0) * n_clients).astype(np.int64)
    keep = gen._column_value(seed, payments, 53, 0) >= gen.NULL_CLIENT_SHARE
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    paid_days = created + gen._column_value(seed, payments, 52, 0) * 3
    frame = pd.DataFrame({
        "payment_id": payments + 1,
        "company_code": gen.company_codes(n_companies)[company],
        "external_client_id": gen.client_ids(client),
        "amount": np.round(5 + gen._column_value(seed, payments, 51, 0) * 995, 2),
        "payment_at": origin + pd.to_timedelta(np.round(paid_days * gen.DAY_NS / 1000).astype(np.int64) * 1000,
                                               unit="ns"),
        "created_at": origin + pd.to_timedelta((created * gen.DAY_NS).astype(np.int64), unit="ns"),
    })
    return frame.loc[keep].reset_index(drop=True)


def check_generator(seed: int) -> None:
    """The vectorised first versions equal generate_payments' creation events (a small sample)."""
    params = {"seed": seed, "origin": ORIGIN, "payments_per_day": 300.0, "n_companies": 50, "n_clients": 400}
    rows = gen.generate_payments("2024-01-01", "2024-01-04", duplicate_fraction=0, invalid_fraction=0, **params)
    first = rows[(rows["id"] - 1) % gen.EVENTS_PER_PAYMENT == 0].dropna(subset=["external_client_id"])
    first = first[pd.to_datetime(first["created_at"]) <= pd.Timestamp("2024-01-03", tz="UTC")]
    mine = generate(300 * 2, 400, 50, 2, seed).set_index("payment_id")
    for row in first.itertuples():
        assert mine.loc[row.payment_id, "company_code"] == row.company_code
        assert mine.loc[row.payment_id, "external_client_id"] == row.external_client_id
        assert f"{mine.loc[row.payment_id, 'amount']:.2f}" == row.amount


def percentiles(seconds: list[float] | np.ndarray) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


# ------------------------------------------------------------------ in-process parts


def build(payments: pd.DataFrame, raw: dict) -> dict:
    matrix_params, vector_params = typed(raw, "matrix"), typed(raw, "vectors")
    out: dict = {"times": {}}
    t = out["times"]
    matrix, t["client x company matrix"] = timed(nodes.build_client_company_matrix, payments)
    weighted, t["weighting"] = timed(nodes.weigh_client_company_matrix, matrix, matrix_params)
    cooc, t["co-occurrence (W.T @ W)"] = timed(nodes.build_cooccurrence, weighted)
    frames = {}
    for method in ("svd", "als"):
        params = vector_params.model_copy(update={"method": method})
        frames[method], t[f"vectors {method} ({params.vector_dim} dims)"] = timed(
            nodes.build_company_vectors, matrix, weighted, cooc, params)
    metrics, t["company metrics"] = timed(nodes.company_metrics, payments)
    index_params = typed(raw, "index")
    vectors = frames[vector_params.method]
    index, t[f"Annoy index ({index_params.n_trees} trees, {vector_params.method})"] = timed(
        scoring.build_index, vectors, metrics, index_params)
    out.update(matrix=matrix, cooc=cooc, vectors=vectors, metrics=metrics, index=index, index_params=index_params,
               array=vectors.drop(columns="company_code").to_numpy(dtype=np.float64))
    return out


def index_quality(built: dict, k: int, queries: int, seed: int) -> dict:
    index, array = built["index"], built["array"]
    n = len(array)
    items = np.sort(np.random.default_rng(seed).choice(n, size=min(queries, n), replace=False))
    unit = model.normalise_rows(array).astype(np.float32)
    annoy_times, exact_times, found = [], [], []
    for item in items:  # interleaved, one query at a time, as a request would ask
        started = time.perf_counter()
        neighbours, _ = index.neighbours(int(item), k)
        annoy_times.append(time.perf_counter() - started)
        found.append(neighbours)
        started = time.perf_counter()
        similarity = unit @ unit[item]
        similarity[item] = -np.inf
        top = np.argpartition(-similarity, k)[:k]
        top[np.argsort(-similarity[top])]
        exact_times.append(time.perf_counter() - started)
    recall = model.recall_against_exact(found, array, items, k)
    raw_times = []
    for item in items[:200]:  # the bare Annoy call, without the wrapper's list handling
        started = time.perf_counter()
        index.index.get_nns_by_item(int(item), k + 1, search_k=index.search_k)
        raw_times.append(time.perf_counter() - started)
    return {"queries": len(items), "recall": recall, "annoy": percentiles(annoy_times),
            "annoy_raw": percentiles(raw_times), "exact": percentiles(exact_times)}


def batch_recommend(built: dict, top_n: int) -> dict:
    from implicit.nearest_neighbours import CosineRecommender
    from implicit.utils import ParameterWarning

    index, matrix, params = built["index"], built["matrix"], built["index_params"]
    history = matrix.counts  # company order of the matrix is the index's (both sorted codes)
    assert list(index.company_codes) == list(matrix.company_codes)
    similarity, t_neighbours = timed(neighbour_matrix, index, params.neighbours)
    (items, _), t_top = timed(top_n_scores, history, similarity, top_n)
    cosine = CosineRecommender(K=params.neighbours + 1, num_threads=0)
    user_items = sp.csr_matrix(history, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParameterWarning)
        _, t_fit = timed(cosine.fit, user_items, show_progress=False)
    userids = np.arange(user_items.shape[0])
    (ids, _), t_recommend = timed(cosine.recommend, userids, user_items, N=top_n)
    empty = float((items < 0).sum() / items.size)
    return {"clients": len(userids), "neighbour_matrix": t_neighbours, "top_n_scores": t_top,
            "cosine_fit": t_fit, "cosine_recommend": t_recommend, "empty_slots": empty,
            "cosine_empty_slots": float((ids < 0).sum() / ids.size)}


def quality(payments: pd.DataFrame, raw: dict) -> dict:
    eval_params, index = typed(raw, "evaluation"), typed(raw, "index")
    matrix, vectors = typed(raw, "matrix"), typed(raw, "vectors")
    holdout = evaluation.split_holdout(payments, eval_params)
    results = {
        "annoy_svd": evaluation.evaluate_svd_recommender(holdout, matrix, vectors, index, eval_params),
        "annoy_als": evaluation.evaluate_als_recommender(holdout, matrix, vectors, index, eval_params),
        "item_cosine": evaluation.evaluate_cosine_recommender(holdout, matrix, index, eval_params),
        "popularity": evaluation.evaluate_popularity_recommender(holdout, eval_params),
    }
    return {"holdout": holdout.summary, "results": results, "published": f"annoy_{vectors.method}"}


# ------------------------------------------------------------------ HTTP


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_warehouse(payments: pd.DataFrame, n_companies: int, seed: int) -> float:
    from cripto_platform.datasets import CompaniesDimensionDataset, PaymentsSCD2Dataset
    from cripto_platform.warehouse import resolve_url

    url = resolve_url()
    companies = gen.generate_companies(n_companies, seed, ORIGIN).rename(columns={"id": "company_id"})
    companies["created_at"] = pd.to_datetime(companies["created_at"], utc=True)
    companies["updated_at"] = pd.to_datetime(companies["updated_at"], utc=True)
    CompaniesDimensionDataset(credentials={"url": url}).save(companies)
    rows = payments.assign(status="approved", updated_at=payments["created_at"])
    effective = pd.Timestamp.now(tz="UTC")
    started = time.perf_counter()
    PaymentsSCD2Dataset(credentials={"url": url}).save(
        {"rows": rows[["payment_id", "company_code", "external_client_id", "status", "amount", "payment_at",
                       "created_at", "updated_at"]],
         "batch_id": "benchmark", "run_id": None, "effective_at": effective, "watermark": effective})
    return time.perf_counter() - started


def http_latencies(base: str, clients: np.ndarray, concurrency: int, requests_total: int, seed: int) -> dict:
    import threading

    import requests

    local = threading.local()
    picks = np.random.default_rng(seed).choice(clients, size=requests_total)

    def one(client: str) -> tuple[float, int]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        response = session.post(f"{base}/recommend_companies", json={"client_id": client, "n": 10}, timeout=60)
        return time.perf_counter() - started, response.status_code

    with ThreadPoolExecutor(concurrency) as pool:  # warm-up: connections and the server's first requests
        list(pool.map(one, picks[: max(concurrency * 2, 20)]))
        started = time.perf_counter()
        results = list(pool.map(one, picks))
        wall = time.perf_counter() - started
    seconds = [s for s, _ in results]
    statuses = pd.Series([code for _, code in results]).value_counts().to_dict()
    p50, p99 = percentiles(seconds)
    return {"concurrency": concurrency, "requests": requests_total, "p50": p50, "p99": p99,
            "rps": requests_total / wall, "statuses": statuses}


def http(built: dict, payments: pd.DataFrame, n_companies: int, args) -> dict:
    from kedro.io.core import Version

    from cripto_platform.datasets import AnnoyIndexDataset
    from cripto_platform.warehouse import ENV_PGDATA, ENV_URL, resolve_url, stop_embedded_server, transaction

    work = Path(tempfile.mkdtemp(prefix="cripto_rec_bench_"))
    project, pgdata = work / "project", work / "pgdata"
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    if (ROOT / ".telemetry").exists():
        shutil.copy(ROOT / ".telemetry", project / ".telemetry")
    (project / "src").mkdir()
    saved_env = {key: os.environ.get(key) for key in (ENV_PGDATA, ENV_URL)}
    os.environ.pop(ENV_URL, None)
    os.environ[ENV_PGDATA] = str(pgdata)
    out: dict = {}
    process = None
    try:
        out["load_s"] = load_warehouse(payments, n_companies, args.seed)
        version = "2026-01-01T00.00.00.000Z"
        AnnoyIndexDataset(filepath=str(project / "data/06_models/company_index"),
                          version=Version(None, version)).save(built["index"])
        port = free_port()
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
        env.pop("CRIPTO_API_TOKEN", None)
        log = open(work / "serve.log", "wb")
        process = subprocess.Popen([sys.executable, "-m", "cripto_platform.serve", "--port", str(port),
                                    "--project-path", str(project), "--log-level", "warning"],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=project)
        import requests

        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError((work / "serve.log").read_text())
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                if health.get("index_version") == version:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("service did not start: " + (work / "serve.log").read_text())
            time.sleep(0.3)
        base = f"http://127.0.0.1:{port}"
        clients = payments["external_client_id"].unique()
        out["shipped"] = [http_latencies(base, clients, c, args.requests, args.seed + c) for c in (1, 32)]
        if args.profile:
            out["profile"] = profile_service(project, clients, args.seed)
    finally:
        if process is not None:
            process.terminate()
            process.wait(20)
        stop_embedded_server(pgdata)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(work, ignore_errors=True)
    return out


def profile_service(project: Path, clients: np.ndarray, seed: int, requests_total: int = 500) -> dict:
    """The service's per-request steps timed in this process (its own RecommendationService)."""
    from cripto_platform.recommender import recommend_codes
    from cripto_platform.serving.project import KedroProject
    from cripto_platform.serving.service import HISTORY_SQL, RecommendationService

    service = RecommendationService(KedroProject(project))
    service.start()
    loaded = service.current
    steps: dict[str, list[float]] = {"history query": [], "scoring (recommend_codes)": [],
                                     "company details (cached)": [], "whole recommend()": []}
    for client in np.random.default_rng(seed).choice(clients, size=requests_total):
        started = time.perf_counter()
        history = service._query(HISTORY_SQL, client_id=str(client))
        steps["history query"].append(time.perf_counter() - started)
        paid = {code: float(count) for code, count in history}
        started = time.perf_counter()
        recommend_codes(loaded.index, loaded.similarity, paid, 10)
        steps["scoring (recommend_codes)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        service._company_details()
        steps["company details (cached)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        service.recommend(str(client), 10)
        steps["whole recommend()"].append(time.perf_counter() - started)
    return {step: percentiles(seconds) for step, seconds in steps.items()}


# ------------------------------------------------------------------ report


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--days", type=float, default=90.0, help="span the payments are spread over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=2000, help="index queries timed (companies sampled)")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests per concurrency level")
    parser.add_argument("--profile", action="store_true", help="also time the service's per-request steps")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50k payments, 5k clients, 500 companies")
    args = parser.parse_args()
    if args.quick:
        args.payments, args.clients, args.companies = 50_000, 5_000, 500
        args.queries, args.requests = 300, 200
    warnings.simplefilter("ignore")
    raw = shipped()
    check_generator(args.seed)
    payments, t_gen = timed(generate, args.payments, args.clients, args.companies, args.days, args.seed)
    per_client = len(payments) / payments["external_client_id"].nunique()
    import annoy  # noqa: F401
    import implicit

    print(f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), Python "
          f"{platform.python_version()}, numpy {np.__version__}, implicit {implicit.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"data: {len(payments):,} payments (first versions, NULL clients dropped) of {args.payments:,} over "
          f"{args.days:g} days, {payments['external_client_id'].nunique():,} clients ({per_client:.1f} payments "
          f"each), {payments['company_code'].nunique():,} companies paid of {args.companies:,}; generated in "
          f"{t_gen:.2f} s")
    vectors = raw["vectors"]
    print(f"parameters: shipped ({raw['matrix']['weighting']} weighting, {vectors['method']} "
          f"{vectors['vector_dim']} dims, reg {vectors['als_regularization']}, {raw['index']['neighbours']} "
          f"neighbours, popularity alpha {raw['index']['popularity_alpha']}, {raw['index']['n_trees']} trees, "
          f"search_k {raw['index']['search_k']})\n")

    built = build(payments, raw)
    print("| build step | s |\n|---|---:|")
    for step, seconds in built["times"].items():
        print(f"| {step} | {seconds:.2f} |")

    k = raw["validation"]["k"]
    q = index_quality(built, k, args.queries, args.seed)
    print(f"\nindex search_k (resolved): {built['index'].search_k}")
    print(f"\n| index query ({q['queries']} companies, k={k}) | recall@{k} | p50 ms | p99 ms |\n|---|---:|---:|---:|")
    print(f"| Annoy `CompanyIndex.neighbours` | {q['recall']:.4f} | {q['annoy'][0]:.3f} | {q['annoy'][1]:.3f} |")
    print(f"| Annoy `get_nns_by_item` alone | — | {q['annoy_raw'][0]:.3f} | {q['annoy_raw'][1]:.3f} |")
    print(f"| exact numpy (matvec + argpartition) | 1.0000 | {q['exact'][0]:.3f} | {q['exact'][1]:.3f} |")

    b = batch_recommend(built, raw["batch"]["top_n"])
    ours = b["neighbour_matrix"] + b["top_n_scores"]
    theirs = b["cosine_fit"] + b["cosine_recommend"]
    print(f"\n| top-{raw['batch']['top_n']} for all {b['clients']:,} clients | s |\n|---|---:|")
    print(f"| project: `neighbour_matrix` ({raw['index']['neighbours']} per company) | {b['neighbour_matrix']:.2f} |")
    print(f"| project: `top_n_scores` (sparse) | {b['top_n_scores']:.2f} |")
    print(f"| project total | {ours:.2f} |")
    print(f"| implicit CosineRecommender fit | {b['cosine_fit']:.2f} |")
    print(f"| implicit `recommend(userids, user_items, N)` | {b['cosine_recommend']:.2f} |")
    print(f"| implicit total | {theirs:.2f} |")
    print(f"| ratio implicit / project: recommend step {b['cosine_recommend'] / b['top_n_scores']:.1f}x, "
          f"total {theirs / ours:.1f}x | |")
    print(f"(empty slots before popularity fill: project {b['empty_slots']:.1%}, implicit {b['cosine_empty_slots']:.1%})")

    qual = quality(payments, raw)
    res = qual["results"]
    base_p, pop_p = res["item_cosine"]["precision"], res["popularity"]["precision"]
    print(f"\nholdout: {qual['holdout']}")
    print(f"\n| recommender | precision@{raw['evaluation']['k']} | vs item_cosine | vs popularity | s |\n|---|---:|---:|---:|---:|")
    for name, result in res.items():
        label = f"{name} (published)" if name == qual["published"] else name
        print(f"| {label} | {result['precision']:.4f} | {result['precision'] / base_p:.3f}x | "
              f"{result['precision'] / pop_p:.2f}x | {result['seconds']:.2f} |")

    h = None
    if not args.no_http:
        h = http(built, payments, args.companies, args)
        print(f"\nwarehouse load (SCD2 merge of {len(payments):,} payments): {h['load_s']:.1f} s")
        print("\n| HTTP POST /recommend_companies | concurrent | requests | p50 ms | p99 ms | req/s | statuses |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for row in h["shipped"]:
            print(f"| as shipped (partial client index) | {row['concurrency']} | {row['requests']} | {row['p50']:.1f} | "
                  f"{row['p99']:.1f} | {row['rps']:.0f} | {row['statuses']} |")
        if "profile" in h:
            print("\n| service step (in-process, one at a time) | p50 ms | p99 ms |\n|---|---:|---:|")
            for step, (p50, p99) in h["profile"].items():
                print(f"| {step} | {p50:.3f} | {p99:.3f} |")

    published = res[qual["published"]]["precision"]
    print("\ntargets:")
    print(f"- index recall@{k} >= {TARGETS['recall']}: {q['recall']:.4f} {verdict(q['recall'] >= TARGETS['recall'])}; "
          f"query p99 <= {TARGETS['query_p99_ms']} ms: {q['annoy'][1]:.3f} ms "
          f"{verdict(q['annoy'][1] <= TARGETS['query_p99_ms'])}")
    print(f"- {qual['published']} precision >= {TARGETS['vs_cosine']}x item_cosine: {published / base_p:.3f}x "
          f"{verdict(published >= TARGETS['vs_cosine'] * base_p)}; >= {TARGETS['vs_popularity']}x popularity: "
          f"{published / pop_p:.2f}x {verdict(published >= TARGETS['vs_popularity'] * pop_p)}")
    if h is not None:
        shipped_32 = h["shipped"][1]["p99"]
        print(f"- HTTP p99 <= {TARGETS['http_p99_ms']} ms at 32 concurrent: {shipped_32:.1f} ms "
              f"{verdict(shipped_32 <= TARGETS['http_p99_ms'])}")
    else:
        print("- HTTP: not measured (--no-http)")


if __name__ == "__main__":
    main()
