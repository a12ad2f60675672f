"""The default pipeline (``__default__``, every pipeline) on one machine: SequentialRunner vs ParallelRunner vs
``cripto_platform.runners.DaskRunner``, and what a larger cluster would buy according to the measured task graph.

Each run is a fresh subprocess (imports not timed; the time is ``session.run``) in a fresh temporary copy of the
project (conf/, pyproject.toml, .telemetry, an empty src/, as ``tests/conftest.py``'s ``kedro_project``) at the
small sizes of the integration tests (``SMALL``, imported from ``tests/runners/test_dask_runner.py``), against one
embedded PostgreSQL in a temporary directory (``CRIPTO_WAREHOUSE_PGDATA``) whose ``public`` schema is dropped
before every run; the server is stopped and the directory removed at the end. Runners are interleaved and their
order rotated from round to round. Runners:

- ``sequential``: ``SequentialRunner`` (the default ``kedro run``);
- ``parallel``: ``ParallelRunner(max_workers=2)`` (Kedro's process pool, forked: Linux's default start method; it
  needs picklable datasets; a failure, or no result within ``--timeout``, is recorded as its result);
- ``parallel_spawn``: the same with ``KEDRO_MP_CONTEXT=spawn`` (worker processes start afresh instead of forking
  the driver);
- ``dask``: ``DaskRunner()`` as ``kedro run --runner cripto_platform.runners.DaskRunner`` runs it: it starts its own
  LocalCluster (2 worker processes, 1 thread each, ``conf/dask/dask.yml``) inside the timed run;
- ``dask_warm``: ``DaskRunner(address=...)`` on a 2-worker LocalCluster this script starts once (workers already
  up and their imports done after the first run): the cost of the run alone.

Task graph: the sequential runs record, with a hook registered on the session, each node's span from its first
input load (``before_dataset_loaded``; ``before_node_run`` for a node without inputs) to its last output save
(``after_dataset_saved``; ``after_node_run`` for one without outputs). The median span per node over the
sequential runs, with Kedro's ``pipeline.node_dependencies`` as edges, gives the critical path (the longest path)
and a list-scheduling simulation on P workers: when a worker is free it starts the ready node with the longest
remaining path (its own span included). The simulation has no transfer, scheduling or start-up cost and assumes
each worker runs a node as fast as the loaded 2-core machine ran it alone, so it is a lower bound of what P
workers would take for this graph, not a promise. Usage::

    flock /tmp/cripto_bench.lock python benchmarks/distributed.py            # 3 rounds of the five runners
    flock /tmp/cripto_bench.lock python benchmarks/distributed.py --quick    # one round: a smoke run
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path, and this file's name would shadow the
# ``distributed`` package (dask.distributed) for every import below, the Dask workers' included.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from kedro.framework.hooks import hook_impl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = ("sequential", "parallel", "parallel_spawn", "dask", "dask_warm")
SIMULATED_WORKERS = (1, 2, 4, 8, 16, 64)

# Every pipeline at the sizes its Dask integration test uses: that test's own parameters, not a copy of them.
sys.path.insert(0, str(ROOT))
from tests.runners.test_dask_runner import SMALL  # noqa: E402


# ------------------------------------------------------------------------------------------------------------
# The child: one run


class NodeSpans:
    """Node hooks: each node's span from its first input load to its last output save (perf_counter)."""

    def __init__(self) -> None:
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}

    def _begin(self, node) -> None:
        self.start.setdefault(node.name, time.perf_counter())

    def _finish(self, node) -> None:
        self.end[node.name] = time.perf_counter()

    @hook_impl
    def before_dataset_loaded(self, dataset_name, node) -> None:
        self._begin(node)

    @hook_impl
    def before_node_run(self, node) -> None:
        self._begin(node)

    @hook_impl
    def after_node_run(self, node) -> None:
        self._finish(node)

    @hook_impl
    def after_dataset_saved(self, dataset_name, data, node) -> None:
        self._finish(node)


def _nested(params: dict) -> dict:
    nested: dict = {}
    for dotted, value in params.items():  # "a.b.c=1" as the CLI's --params nests it
        *parents, leaf = dotted.split(".")
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return nested


def child(runner_name: str, project: Path, out: Path, address: str | None) -> None:
    os.chdir(project)
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.runner import ParallelRunner, SequentialRunner

    from cripto_platform.runners import DaskRunner

    bootstrap_project(project)
    runner = {"sequential": lambda: SequentialRunner(), "parallel": lambda: ParallelRunner(max_workers=2),
              "parallel_spawn": lambda: ParallelRunner(max_workers=2),
              "dask": lambda: DaskRunner(), "dask_warm": lambda: DaskRunner(address=address)}[runner_name]()
    spans = NodeSpans()
    result: dict = {"runner": runner_name, "ok": True, "error": None}
    with KedroSession.create(project_path=project, runtime_params=_nested(SMALL)) as session:
        session._hook_manager.register(spans, name="benchmark_node_spans")
        started = time.perf_counter()
        try:
            session.run(pipeline_names=["__default__"], runner=runner)
        except BaseException as error:  # noqa: BLE001 - a runner that cannot run this pipeline is a result
            result["ok"] = False
            root = error
            while (root.__cause__ or root.__context__) is not None and root is not (root.__cause__ or root.__context__):
                root = root.__cause__ or root.__context__
            result["error"] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
            if root is not error:  # the cause (a worker's traceback: its last line)
                lines = [line.strip() for line in str(root).splitlines() if line.strip().strip('"')]
                result["error"] += f" <- {type(root).__name__}: {(lines or [''])[-1][:300]}"
        result["seconds"] = time.perf_counter() - started
    if runner_name == "sequential":
        pipeline = pipelines["__default__"]
        result["deps"] = {node.name: sorted(parent.name for parent in parents)
                          for node, parents in pipeline.node_dependencies.items()}
        result["spans"] = {name: spans.end[name] - spans.start[name] for name in spans.start if name in spans.end}
        result["n_nodes"] = len(pipeline.nodes)
    out.write_text(json.dumps(result))


# ------------------------------------------------------------------------------------------------------------
# The task graph: critical path and list scheduling


def bottom_levels(durations: dict[str, float], deps: dict[str, list[str]]) -> tuple[dict[str, float], dict]:
    """Longest path from each node to the end of the graph, its own duration included; and the children."""
    children: dict[str, list[str]] = {name: [] for name in deps}
    for name, parents in deps.items():
        for parent in parents:
            children[parent].append(name)
    order, indegree = [], {name: len(parents) for name, parents in deps.items()}
    ready = [name for name, degree in indegree.items() if degree == 0]
    while ready:
        name = ready.pop()
        order.append(name)
        for child_name in children[name]:
            indegree[child_name] -= 1
            if indegree[child_name] == 0:
                ready.append(child_name)
    level: dict[str, float] = {}
    for name in reversed(order):
        level[name] = durations[name] + max((level[c] for c in children[name]), default=0.0)
    return level, children


def critical_path(durations: dict[str, float], deps: dict[str, list[str]]) -> list[str]:
    level, children = bottom_levels(durations, deps)
    name = max((n for n in deps if not deps[n]), key=lambda n: level[n])
    path = [name]
    while children[name]:
        name = max(children[name], key=lambda c: level[c])
        path.append(name)
    return path


def simulate(durations: dict[str, float], deps: dict[str, list[str]], workers: int) -> dict[str, float]:
    """Greedy list scheduling: a free worker starts the ready node with the longest remaining path."""
    level, children = bottom_levels(durations, deps)
    waiting = {name: len(parents) for name, parents in deps.items()}
    ready = [(-level[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now, free, busy = 0.0, workers, 0.0
    while ready or running:
        while free and ready:
            _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + durations[name], name))
            busy += durations[name]
            free -= 1
        now, name = heapq.heappop(running)
        free += 1
        for child_name in children[name]:
            waiting[child_name] -= 1
            if waiting[child_name] == 0:
                heapq.heappush(ready, (-level[child_name], child_name))
    return {"makespan": now, "utilisation": busy / (workers * now) if now else 0.0}


# ------------------------------------------------------------------------------------------------------------
# The parent


def fresh_project(root: Path) -> Path:
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    if (ROOT / ".telemetry").exists():
        shutil.copy(ROOT / ".telemetry", root / ".telemetry")
    (root / "src").mkdir()
    return root


def reset_warehouse() -> None:
    import sqlalchemy as sa

    from cripto_platform.warehouse import get_engine

    with get_engine().begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))


def run_once(runner: str, work: Path, label: str, address: str | None, timeout: float) -> dict:
    reset_warehouse()
    project = fresh_project(work / label)
    out, log = work / f"{label}.json", work / f"{label}.log"
    command = [sys.executable, __file__, "--child", runner, "--project", str(project), "--out", str(out)]
    if address:
        command += ["--address", address]
    env = {**os.environ, **({"KEDRO_MP_CONTEXT": "spawn"} if runner == "parallel_spawn" else {})}
    started = time.perf_counter()
    with log.open("wb") as stream:
        # its own session (process group): a run that hangs is killed with every process it started
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, cwd=project, env=env,
                                   start_new_session=True)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    if code is None:
        tail = [line.strip()[:160] for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
        result = {"runner": runner, "ok": False, "seconds": None,
                  "error": f"hung: no result after {time.perf_counter() - started:.0f} s, killed "
                           f"(last log line: {tail[0] if tail else '-'})"}
    elif out.exists():
        result = json.loads(out.read_text())
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        result = {"runner": runner, "ok": False, "seconds": None, "error": f"child exited {code}: {tail[0][:300]}"}
    # the project stays until the end: a warm Dask worker's working directory is the last project it ran in
    shutil.rmtree(project / "data", ignore_errors=True)
    return result


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(results: dict[str, list[dict]], load_before: str, load_after: str) -> None:
    print(f"\nload at start: {load_before}\nload at end:   {load_after}\n")
    print("| runner | runs | median s | min s | max s | result |")
    print("|---|---:|---:|---:|---:|---|")
    for runner, runs in results.items():
        ok = [run["seconds"] for run in runs if run["ok"]]
        errors = sorted({run["error"] for run in runs if not run["ok"]})
        if ok:
            print(f"| {runner} | {len(ok)} | {statistics.median(ok):.1f} | {min(ok):.1f} | {max(ok):.1f} | "
                  f"{'ok' if not errors else 'failed ' + str(len(runs) - len(ok)) + 'x: ' + '; '.join(errors)} |")
        else:
            print(f"| {runner} | 0 of {len(runs)} | — | — | — | **failed**: {'; '.join(errors)} |")

    sequential = [run for run in results.get("sequential", []) if run["ok"] and run.get("spans")]
    if not sequential:
        print("\nno successful sequential run: no task graph to analyse")
        return
    deps = sequential[0]["deps"]
    missing = [name for name in deps if any(name not in run["spans"] for run in sequential)]
    if missing:
        print(f"\n{len(missing)} nodes have no span (taken as 0 s): {missing[:5]}")
    durations = {name: statistics.median(run["spans"].get(name, 0.0) for run in sequential) for name in deps}
    total = sum(durations.values())
    wall = statistics.median(run["seconds"] for run in sequential)
    path = critical_path(durations, deps)
    path_s = sum(durations[name] for name in path)
    print(f"\ntask graph: {len(deps)} nodes, {sum(len(p) for p in deps.values())} edges; sum of node spans "
          f"{total:.1f} s (median sequential session.run {wall:.1f} s: {wall - total:.1f} s outside the spans: session "
          f"start, pipeline hooks, runner work between nodes; the table adds it serially); critical path {len(path)} nodes, {path_s:.1f} s")
    print("\n| workers | simulated nodes s | + outside nodes s | speed-up vs 1 worker | bound max(path, sum/P) s "
          "| utilisation |")
    print("|---:|---:|---:|---:|---:|---:|")
    one = simulate(durations, deps, 1)["makespan"]
    for workers in SIMULATED_WORKERS:
        sim = simulate(durations, deps, workers)
        print(f"| {workers} | {sim['makespan']:.1f} | {sim['makespan'] + wall - total:.1f} | "
              f"{one / sim['makespan']:.2f}x | {max(path_s, total / workers):.1f} | {sim['utilisation']:.0%} |")
    print("\ncritical path, longest nodes first (median span s, share of the path):")
    for name in sorted(path, key=lambda n: -durations[n])[:8]:
        print(f"  {durations[name]:7.2f}  {durations[name] / path_s:5.1%}  {name}")
    print("\ncritical path in order: " + " -> ".join(path))
    print("\nlongest nodes overall (median span s):")
    for name in sorted(durations, key=lambda n: -durations[n])[:8]:
        print(f"  {durations[name]:7.2f}  {'(on the path) ' if name in path else ''}{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every runner (default 3)")
    parser.add_argument("--quick", action="store_true", help="one round (a smoke run)")
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=list(RUNNERS))
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a run is killed (default 120; a sequential run takes ~10 s)")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    parser.add_argument("--child", choices=RUNNERS, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.project, args.out, args.address)
        return

    repeat = 1 if args.quick else args.repeat
    from cripto_platform.warehouse import ENV_PGDATA, ENV_URL, resolve_url, stop_embedded_server

    work = Path(tempfile.mkdtemp(prefix="cripto_distributed_bench_"))
    pgdata = work / "pgdata"
    os.environ.pop(ENV_URL, None)
    os.environ[ENV_PGDATA] = str(pgdata)  # the children and the Dask workers inherit it
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"
    from importlib.metadata import version

    import kedro

    print(f"# {os.cpu_count()} cores, python {platform.python_version()}, kedro {kedro.__version__}, "
          f"distributed {version('distributed')}; {repeat} round(s) of {', '.join(args.runners)}; work in {work}")
    load_before = uptime()
    results: dict[str, list[dict]] = {runner: [] for runner in args.runners}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark still stops its server
    cluster = None
    try:
        resolve_url()  # start the embedded server once; every run reuses it
        if "dask_warm" in args.runners:
            from cripto_platform.runners import start_local_cluster

            import logging

            logging.getLogger("distributed").setLevel(logging.WARNING)  # the cluster's start/stop chatter
            cluster = start_local_cluster(n_workers=2, threads_per_worker=1)
        for round_ in range(repeat):
            shift = round_ % len(args.runners)
            for runner in args.runners[shift:] + args.runners[:shift]:
                result = run_once(runner, work, f"{runner}_{round_}",
                                  cluster.scheduler_address if runner == "dask_warm" else None, args.timeout)
                results[runner].append(result)
                seconds = f"{result['seconds']:.1f} s" if result.get("seconds") is not None else "-"
                print(f"round {round_ + 1}: {runner:<10} {seconds:>8}  {'ok' if result['ok'] else result['error']}",
                      flush=True)
    finally:
        if cluster is not None:
            cluster.close()
        stop_embedded_server(pgdata)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        shutil.rmtree(work, ignore_errors=True)
    report(results, load_before, uptime())


if __name__ == "__main__":
    main()
