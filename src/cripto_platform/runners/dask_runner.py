"""``DaskRunner``: a Kedro runner that runs a pipeline's nodes on a Dask cluster (``dask.distributed``).

How it works (README: Beyond one machine):

- Every node becomes one Dask task, submitted up front with the futures of the tasks that produce its
  inputs as arguments (Kedro's Dask deployment guide), so the scheduler sees the whole graph and places
  tasks next to their data. The catalog is scattered to the cluster once; each task loads and saves its
  persisted datasets (files, the warehouse) itself, on its worker.
- In-memory datasets (``MemoryDataset``) travel as the *results* of futures: a task returns the in-memory
  outputs other tasks read, and Dask moves them between worker processes (pickled) or leaves them where
  they are when the consumer runs on the same worker.
- Objects that cannot be pickled (the Annoy index in ``company_index_candidate``) cannot travel. Datasets
  listed under ``colocate`` (``conf/dask/dask.yml``) fuse their producer and consumers into one task: they run
  one after the other on one worker and the object never leaves that process. A task that would ship an
  unpicklable object not listed there fails with a message naming the dataset and the setting.
- Hooks run on the driver, as in a sequential run: pipeline hooks are called by the session there, and a
  task records its node and dataset hook calls (``before_node_run``, ``after_dataset_saved``, ...) which the
  runner replays on the driver's hook manager, in order, when the task ends. Replayed ``data``/``inputs``/
  ``outputs`` are the objects themselves up to 1 MB (a DataFrame) and a zero-column stand-in with the same
  number of rows above that, so the driver never pulls a large dataset back. ``before_node_run`` return
  values (input overrides) are not supported: the node has run when the hook is replayed.
- Logging happens on the worker, with the driver's filters on the project's loggers applied while a task runs
  (the run summary's filter turns the sample data's planted-row warnings into DEBUG lines, as on the driver).
- A worker that dies while running a task fails the run with ``DaskRunnerError`` naming the nodes (the
  LocalCluster this runner starts allows no retry of a task whose worker died; set
  ``distributed.scheduler.allowed-failures: 0`` on an external scheduler for the same); a rerun starts over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import MemoryDataset
from kedro.runner import AbstractRunner
from kedro.runner.task import Task

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

CONFIG_PATH = Path("conf") / "dask" / "dask.yml"
DEFAULTS: dict[str, Any] = {"address": None, "n_workers": 2, "threads_per_worker": 1, "colocate": []}
# Replayed hook data: the object itself up to this size, a row-count stand-in above it.
REPLAY_LIMIT_BYTES = 1_000_000


class DaskRunnerError(RuntimeError):
    """The Dask side of a run failed (a worker died, an object could not travel between workers)."""


def read_settings(path: Path | str | None = None) -> dict[str, Any]:
    """``conf/dask/dask.yml`` (relative to the working directory, i.e. the project) over the defaults."""
    from omegaconf import OmegaConf

    settings = dict(DEFAULTS)
    path = Path(path) if path else Path.cwd() / CONFIG_PATH
    if path.is_file():
        loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
        settings.update({key: value for key, value in loaded.items() if value is not None or key == "address"})
    return settings


def start_local_cluster(n_workers: int = 2, threads_per_worker: int = 1):
    """A LocalCluster of worker processes on 127.0.0.1 whose scheduler does not retry a task whose worker
    died (a clear failed run instead of a node silently run twice)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return LocalCluster(n_workers=int(n_workers), threads_per_worker=int(threads_per_worker), processes=True,
                            host="127.0.0.1", dashboard_address=None)


# --------------------------------------------------------------------------------------------------------
# What travels: hook calls recorded on a worker, light copies of their data


class _Omitted:
    """Stands for an object a replayed hook does not receive (not a DataFrame, or too large to ship)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} left on the Dask worker>"


def _light(value: Any, depth: int = 0) -> Any:
    """What a replayed hook receives for ``value``: small things as they are, large frames as row counts."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            if int(value.memory_usage(index=True, deep=False).sum()) <= REPLAY_LIMIT_BYTES:
                return value
            return pd.DataFrame(index=pd.RangeIndex(len(value)))  # shape[0] right, no columns, O(1) memory
    except ImportError:  # pragma: no cover
        pass
    if type(value).__module__.startswith("polars") and hasattr(value, "estimated_size"):
        if value.estimated_size() <= REPLAY_LIMIT_BYTES:
            return value
        import pandas as pd

        return pd.DataFrame(index=pd.RangeIndex(value.height))
    if isinstance(value, dict) and depth < 2 and len(value) <= 200:
        return {key: _light(item, depth + 1) for key, item in value.items()}
    return _Omitted(type(value).__name__)


def _portable(error: BaseException) -> BaseException:
    """The exception itself if it pickles (the driver re-raises it), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(error).__name__}: {error}")


class _HookRecorder:
    """A stand-in hook manager for ``Task``: records each hook call (light data) for replay on the driver."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.hook = self

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def record(**kwargs: Any) -> list:
            light = {}
            for key, value in kwargs.items():
                if key == "catalog":
                    continue  # the driver passes its own catalog
                if key == "error":
                    light[key] = _portable(value)
                elif key in ("data", "inputs", "outputs"):
                    light[key] = _light(value)
                else:
                    light[key] = value
            self.events.append((name, light))
            return []

        return record


class _TaskCatalog:
    """The catalog a task sees: the scattered project catalog for persisted datasets, its own MemoryDatasets
    for the in-memory ones (so tasks sharing a worker never share in-memory state)."""

    def __init__(self, shared, memory: dict[str, MemoryDataset]):
        self._shared = shared
        self._memory = memory

    def _validate(self, name: str, data: Any, mode: str) -> Any:
        # Kedro 1.7 validates through the catalog (``validator:`` entries, e.g. payments_batch's quality rules);
        # an in-memory dataset kept here gets the same check from the project catalog's declaration.
        shared = self._shared
        if getattr(shared, "_is_validation_enabled", lambda: False)():
            return shared._validate(name, data, mode=mode)
        return data

    def load(self, name: str, version: str | None = None) -> Any:
        if name in self._memory:
            return self._validate(name, self._memory[name].load(), "load")
        return self._shared.load(name, version) if version else self._shared.load(name)

    def save(self, name: str, data: Any) -> None:
        if name in self._memory:
            self._memory[name].save(self._validate(name, data, "save"))
        else:
            self._shared.save(name, data)

    def confirm(self, name: str) -> None:
        self._shared.confirm(name)

    def __contains__(self, name: str) -> bool:
        return name in self._memory or name in self._shared

    def get(self, name: str, *args: Any, **kwargs: Any):
        return self._memory.get(name) or self._shared.get(name, *args, **kwargs)

    def __getitem__(self, name: str):
        return self._memory[name] if name in self._memory else self._shared[name]


def _project_log_filters() -> list[tuple[str, logging.Filter]]:
    """The driver's filters on the project's loggers that can travel (e.g. the run summary's, which turn the
    sample data's planted-row warnings into DEBUG lines), as (logger name, filter)."""
    package = __name__.split(".")[0]
    found = []
    for name, candidate in sorted(logging.root.manager.loggerDict.items()):
        if isinstance(candidate, logging.Logger) and (name == package or name.startswith(package + ".")):
            for log_filter in candidate.filters:
                try:
                    pickle.dumps(log_filter)
                except Exception:  # noqa: BLE001 - a filter bound to this process stays here
                    continue
                found.append((name, log_filter))
    return found


@contextlib.contextmanager
def _log_filters(filters: list[tuple[str, logging.Filter]]):
    """A task logs on its worker as the driver would: with the driver's project-logger filters, for its duration."""
    for name, log_filter in filters:
        logging.getLogger(name).addFilter(log_filter)
    try:
        yield
    finally:
        for name, log_filter in filters:
            logging.getLogger(name).removeFilter(log_filter)


def _run_group(spec: dict[str, Any], catalog, *dependencies: dict[str, Any]) -> dict[str, Any]:
    """Runs on a worker: one node, or a chain of nodes joined by a colocated dataset, in order."""
    result: dict[str, Any] = {"error": None, "skipped": False, "events": [], "outputs": {}, "worker": None,
                              "seconds": 0.0, "label": spec["label"]}
    if any(dep["error"] is not None or dep["skipped"] for dep in dependencies):
        result["skipped"] = True  # an upstream task failed: the driver is stopping the run
        return result
    try:
        from distributed import get_worker

        result["worker"] = get_worker().address
    except ValueError:
        pass
    project = spec["project_path"]
    if project and Path(project).is_dir() and Path.cwd() != Path(project):
        os.chdir(project)  # relative lake paths (data/...) resolve in the project, as on the driver
    memory = {name: MemoryDataset(copy_mode=mode) for name, mode in spec["memory"].items()}
    for dep in dependencies:
        for name, value in dep["outputs"].items():
            if name in memory:
                memory[name].save(value)
    task_catalog = _TaskCatalog(catalog, memory)
    recorder = _HookRecorder()
    started = time.perf_counter()
    try:
        with _log_filters(spec["log_filters"]):
            for node in spec["nodes"]:
                Task(node=node, catalog=task_catalog, is_async=spec["is_async"], hook_manager=recorder,
                     run_id=spec["run_id"]).execute()
        outputs = {name: memory[name].load() for name in spec["ship"]}
        _check_can_travel(outputs, spec["label"])
        result["outputs"] = outputs
    except Exception as error:  # noqa: BLE001 - reported to the driver, which re-raises it
        import traceback

        result["error"] = _portable(error)
        result["traceback"] = traceback.format_exc()
    finally:
        result["seconds"] = time.perf_counter() - started
        result["events"] = recorder.events
        for dataset in memory.values():
            dataset.release()
    return result


_TRAVELS = ("pandas", "numpy", "scipy", "polars", "pyarrow", "builtins", "datetime", "decimal", "uuid",
            "pydantic", "collections")


def _check_can_travel(outputs: dict[str, Any], label: str) -> None:
    """Fail clearly, on the worker, when an in-memory output another task needs cannot be pickled."""
    import cloudpickle

    for name, value in outputs.items():
        if type(value).__module__.split(".")[0] in _TRAVELS:
            continue  # known to pickle; do not pay for a trial
        try:
            cloudpickle.dumps(value)
        except Exception as error:  # noqa: BLE001
            raise DaskRunnerError(
                f"in-memory dataset '{name}' ({type(value).__name__}, from {label}) cannot be pickled, so it cannot "
                f"travel to the Dask task that reads it ({type(error).__name__}: {error}). List it under "
                f"'colocate' in conf/dask/dask.yml (its producer and readers then run as one task on one worker) "
                f"or give it a persisted catalog entry."
            ) from None


def _report(result: dict[str, Any]) -> dict[str, Any]:
    """What the driver fetches of a task's result: everything but the in-memory outputs."""
    return {key: value for key, value in result.items() if key != "outputs"}


def _outputs(result: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: result["outputs"][name] for name in names if name in result["outputs"]}


# --------------------------------------------------------------------------------------------------------
# The runner


class DaskRunner(AbstractRunner):
    """Runs nodes as Dask tasks: a LocalCluster by default, any scheduler with ``address``.

    Args:
        address: a scheduler address (``tcp://host:8786``); None: ``DASK_SCHEDULER_ADDRESS``, then
            ``conf/dask/dask.yml``, else a LocalCluster (worker processes on 127.0.0.1) for the run.
        n_workers, threads_per_worker: the LocalCluster's size.
        colocate: in-memory datasets whose producer and consumers run as one task (unpicklable objects);
            a list, or names separated by ``;`` (``--runner-params "colocate=a;b"``).
        config: the settings file (default ``conf/dask/dask.yml`` under the working directory).
        is_async: load and save a node's datasets with threads (Kedro's ``--async``).
    """

    def __init__(self, address: str | None = None, n_workers: int | None = None,
                 threads_per_worker: int | None = None, colocate: Iterable[str] | str | None = None,
                 config: str | None = None, is_async: bool = False):
        super().__init__(is_async=is_async)
        import dask

        settings = read_settings(config)
        self.address = address or dask.config.get("scheduler-address", None) or settings["address"]
        self.n_workers = int(n_workers or settings["n_workers"])
        self.threads_per_worker = int(threads_per_worker or settings["threads_per_worker"])
        if colocate is None:
            colocate = settings["colocate"] or []
        if isinstance(colocate, str):
            colocate = [name.strip() for name in colocate.split(";") if name.strip()]
        self.colocate = set(colocate)

    def _get_executor(self, max_workers: int):  # the AbstractRunner hook; Dask is the executor here
        return None

    # ---- planning

    def groups(self, pipeline: Pipeline) -> list[list[Node]]:
        """The Dask tasks: nodes joined by a colocated dataset form one task, in topological order."""
        parent = {node: node for node in pipeline.nodes}

        def find(node):
            while parent[node] is not node:
                parent[node] = parent[parent[node]]
                node = parent[node]
            return node

        producers = {name: node for node in pipeline.nodes for name in node.outputs}
        for node in pipeline.nodes:
            for name in node.inputs:
                if name in self.colocate and name in producers:
                    parent[find(node)] = find(producers[name])
        members: dict[Node, list[Node]] = defaultdict(list)
        for node in pipeline.nodes:  # topologically sorted
            members[find(node)].append(node)
        groups = sorted(members.values(), key=lambda group: pipeline.nodes.index(group[0]))
        self._check_acyclic(groups, self.group_dependencies(pipeline, groups))
        return groups

    @staticmethod
    def group_dependencies(pipeline: Pipeline, groups: list[list[Node]]) -> dict[int, set[int]]:
        """Task i waits for these tasks: Kedro's node dependencies (transcoding aware: ``t@scd2`` -> ``t@current``)."""
        index = {node: i for i, group in enumerate(groups) for node in group}
        node_deps = pipeline.node_dependencies
        return {i: {index[parent] for node in group for parent in node_deps[node]} - {i}
                for i, group in enumerate(groups)}

    @staticmethod
    def _check_acyclic(groups: list[list[Node]], deps: dict[int, set[int]]) -> None:
        done: set[int] = set()
        while len(done) < len(groups):
            ready = [i for i in deps if i not in done and deps[i] <= done]
            if not ready:
                stuck = [groups[i][0].name for i in deps if i not in done]
                raise DaskRunnerError(f"colocated datasets make a cycle between Dask tasks (around {stuck}); "
                                      "colocate every dataset on the path between them too")
            done.update(ready)

    # ---- running

    def _connect(self):
        from distributed import Client

        if self.address:
            logger.info("DaskRunner: connecting to the scheduler at %s", self.address)
            return Client(self.address), None
        cluster = start_local_cluster(self.n_workers, self.threads_per_worker)
        logger.info("DaskRunner: started a LocalCluster of %d worker processes at %s", self.n_workers,
                    cluster.scheduler_address)
        return Client(cluster), cluster

    def _run(self, pipeline: Pipeline, catalog, hook_manager: PluginManager | None = None,
             run_id: str | None = None) -> None:
        client, cluster = self._connect()
        try:
            self._run_on(client, pipeline, catalog, hook_manager, run_id)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _run_on(self, client, pipeline: Pipeline, catalog, hook_manager, run_id) -> None:  # noqa: C901, PLR0912, PLR0915
        from distributed import as_completed

        groups = self.groups(pipeline)
        group_deps = self.group_dependencies(pipeline, groups)
        producers = {name: i for i, group in enumerate(groups) for node in group for name in node.outputs}
        in_memory = {name for name in pipeline.datasets() if isinstance(catalog.get(name), MemoryDataset)}
        free_outputs = sorted(name for name in pipeline.outputs() if name in in_memory)
        project_path = str(Path.cwd())
        log_filters = _project_log_filters()
        tag = uuid.uuid4().hex[:8]

        # what each task must ship: in-memory outputs read by another task or left as the run's outputs
        readers: dict[str, set[int]] = defaultdict(set)
        for i, group in enumerate(groups):
            for node in group:
                for name in node.inputs:
                    if name in producers and producers[name] != i:
                        readers[name].add(i)
        shared_catalog = client.scatter(catalog, broadcast=False, hash=False)
        results: dict[int, Any] = {}
        reports: dict[Any, int] = {}
        waiting_readers = {i: set() for i in range(len(groups))}
        for i, group in enumerate(groups):
            names = {name for node in group for name in (*node.inputs, *node.outputs)}
            produced_here = {name for node in group for name in node.outputs}
            memory = {name: getattr(catalog.get(name), "_copy_mode", None)
                      for name in names if name in in_memory and (name in producers)}
            ship = sorted(name for name in produced_here & in_memory if readers.get(name) or name in free_outputs)
            deps = sorted(group_deps[i])
            for dep in deps:
                waiting_readers[dep].add(i)
            label = group[0].name if len(group) == 1 else f"{group[0].name} (+{len(group) - 1} colocated)"
            spec = {"nodes": group, "memory": memory, "ship": ship, "run_id": run_id, "is_async": self._is_async,
                    "project_path": project_path, "label": label, "log_filters": log_filters}
            key = f"kedro-{group[0].name}-{tag}"
            results[i] = client.submit(_run_group, spec, shared_catalog, *[results[dep] for dep in deps],
                                       key=key, pure=False, retries=0)
            reports[client.submit(_report, results[i], key=f"report-{key}", pure=False)] = i

        free_producers = {producers[name] for name in free_outputs}
        done_nodes: set[Node] = set()
        remaining = set(range(len(groups)))
        failure: BaseException | None = None
        for future in as_completed(list(reports)):
            i = reports[future]
            try:
                report = future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker, a cancelled task
                failure = self._lost(error, groups[i], reports, groups)
                break
            for name, kwargs in report["events"]:
                if name in ("before_node_run", "after_node_run", "on_node_error"):
                    kwargs = {**kwargs, "catalog": catalog}
                getattr(hook_manager.hook, name)(**kwargs)
            if report["skipped"]:
                continue
            if report["error"] is not None:
                logger.error("DaskRunner: %s failed on %s:\n%s", report.get("label", groups[i][0].name),
                             report["worker"], report.get("traceback", ""))
                failure = report["error"]
                break
            remaining.discard(i)
            for node in groups[i]:
                done_nodes.add(node)
                self._logger.info("Completed node: %s (Dask worker %s)", node.name, report["worker"])
            self._logger.info("Completed %d out of %d tasks", len(done_nodes), len(pipeline.nodes))
            # drop in-memory results nobody reads any more (the scheduler then frees them on the workers)
            for dep in [d for d, waiting in waiting_readers.items() if i in waiting]:
                waiting_readers[dep].discard(i)
                if not waiting_readers[dep] and dep not in free_producers and dep not in remaining:
                    results[dep] = None
            if not waiting_readers[i] and i not in free_producers:
                results[i] = None
            if not remaining:
                break

        if failure is not None:
            client.cancel([results[i] for i in remaining if results[i] is not None]
                          + [f for f, i in reports.items() if i in remaining])
            self._suggest_resume_scenario(pipeline, done_nodes, catalog)
            raise failure

        if free_outputs:  # the run's in-memory outputs come back to the driver's catalog, as in a sequential run
            for i in sorted({producers[name] for name in free_outputs}):
                names = [name for name in free_outputs if producers[name] == i]
                for name, value in client.submit(_outputs, results[i], names, pure=False).result().items():
                    catalog.save(name, value)

    @staticmethod
    def _lost(error: BaseException, group: list[Node], reports: dict, groups: list[list[Node]]) -> DaskRunnerError:
        """The Dask-side failure as one clear error: a worker death names the nodes it was running."""
        from distributed.scheduler import KilledWorker

        if not isinstance(error, KilledWorker):  # a task cancelled because a dependency died: find the death
            for future, i in reports.items():
                if future.status == "error":
                    cause = future.exception(timeout=1)
                    if isinstance(cause, KilledWorker):
                        error, group = cause, groups[i]
                        break
        names = ", ".join(node.name for node in group)
        if isinstance(error, KilledWorker):
            return DaskRunnerError(
                f"the Dask worker running {names} died ({error}); the run stopped. Outputs the completed nodes "
                f"saved remain; run again to complete it (see the suggested --from-nodes below).")
        return DaskRunnerError(f"Dask task for {names} failed: {type(error).__name__}: {error}")
