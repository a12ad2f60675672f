"""Cross-cutting concerns: run metadata for every run, a warehouse check before it, a summary after it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from cripto_platform.run_metadata import RUN_METADATA_DATASET, new_run_metadata

logger = logging.getLogger(__name__)


class RunMetadataHooks:
    """Give every run a uuid ``run_id`` and ``started_at`` as the ``run_metadata`` dataset."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        metadata = new_run_metadata(save_version=run_params.get("run_id"))
        catalog[RUN_METADATA_DATASET] = metadata
        logger.info("run_id=%s started_at=%s", metadata["run_id"], metadata["started_at"])


class WarehouseHooks:
    """Fail fast, before any node runs, when the pipeline needs a warehouse that cannot be reached.

    Raises ``WarehouseUnavailableError`` (an exception, not ``SystemExit``: a notebook's
    ``session.run()`` gets an error it can catch); ``kedro run`` prints it as one line
    (``cripto_platform.cli``) and exits with code 1.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
        from cripto_platform.warehouse import check_connection

        urls = set()
        for name in pipeline.datasets():
            dataset = catalog.get(name) if name in catalog else None
            if isinstance(dataset, WarehouseDatasetMixin):
                urls.add(dataset.warehouse_url_config)
        for url in urls:
            check_connection(url)  # raises WarehouseUnavailableError


class LakeRootHooks:
    """Before an ingestion run, fail naming the lake root (an S3 bucket) when it is missing or unreachable.

    Runs when the pipeline holds nodes of the ``ingestion`` namespace and the catalog declares
    ``lake_root``; raises ``LakeRootMissingError`` (an exception, not ``SystemExit``) before any node runs.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from cripto_platform.pipelines.ingestion.common import check_lake_root

        ingests = any((node.namespace or "").split(".")[0] == "ingestion" for node in pipeline.nodes)
        if ingests and "lake_root" in catalog:
            check_lake_root(catalog.load("lake_root"))  # raises LakeRootMissingError


# --------------------------------------------------------------------------------------------
# The run summary


def _param(parameters: Any, *keys: str, default: Any = None) -> Any:
    """``parameters[k1][k2]...`` through dicts and typed (pydantic) parameter models alike."""
    value = parameters
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        else:
            value = getattr(value, key, None)
        if value is None:
            return default
    return value


def _source_folder_configured(catalog, name: str) -> bool:
    """True when the catalog's ``SourceFolderDataset`` ``name`` points at a folder (however it was set:
    the runtime parameter, an environment's catalog, a local override)."""
    try:
        dataset = catalog.get(name) if catalog is not None else None
    except Exception:  # noqa: BLE001 - a catalog that cannot build it: no outside folder is known
        return False
    return bool(getattr(dataset, "configured", False))


def _sample_sources(parameters: dict[str, Any], pipeline, catalog=None) -> dict[str, bool]:
    """Which outside sources this run reads from the seeded sample-data generators (rows planted bad on purpose)."""
    from cripto_platform.sources.kaggle import use_kaggle

    try:
        kaggle_sample = not use_kaggle(_param(parameters, "ingestion", "kaggle", "source", default="auto"))
    except ValueError:  # the ingestion run itself reports a bad source; a summary label must not stop any run
        kaggle_sample = False
    return {
        # The clustering pipeline seeds the warehouse table it then extracts (node tagged sample_data).
        "clustering": any("sample_data" in node.tags for node in pipeline.nodes),
        "kaggle": kaggle_sample,
        "sales": not _source_folder_configured(catalog, "sales_source"),
        "crypto": not _param(parameters, "ingestion", "crypto", "exchange", "base_url"),
        "payments": _param(parameters, "payments", "source", "kind", default="generator") == "generator",
    }


# The quarantine (or gap) datasets a source's planted rows end in: dataset -> (source, what its rows are).
SAMPLE_DATASETS = {
    "reservations_quarantine": ("clustering", "bad rows quarantined"),
    "credit_risk_quarantine": ("kaggle", "bad lines quarantined"),
    "motor_temperature_quarantine": ("kaggle", "bad lines quarantined"),
    "citesum_quarantine": ("kaggle", "bad records quarantined"),
    "sales_quarantine": ("sales", "bad lines quarantined"),
    "payments_quarantine": ("payments", "bad rows quarantined"),
    "recommendation_quarantine": ("payments", "payments without a client or amount quarantined"),
    "crypto_gaps_report": ("crypto", "gaps in the candles"),
}

# The per-file / per-node WARNING lines those rows cause: (logger, message template prefix) -> source. While
# the source is the generator they are expected, so the summary counts them instead (they stay DEBUG lines);
# from real data they stay warnings.
SAMPLE_WARNINGS = {
    ("cripto_platform.pipelines.clustering.nodes", "quarantined %d of %d reservations"): "clustering",
    ("cripto_platform.pipelines.ingestion.common", "%s: %d rows kept, %d quarantined"): "kaggle|sales",
    ("cripto_platform.pipelines.ingestion.crypto_nodes", "crypto silver: %d gaps"): "crypto",
    ("cripto_platform.pipelines.payments.nodes", "quarantined %d of %d payment rows"): "payments",
    ("cripto_platform.pipelines.recommendation.nodes", "quarantined %d of %d payments from"): "payments",
}


class _SampleDataWarnings(logging.Filter):
    """Turns a planted-row WARNING from a sample-data source into a DEBUG record (the summary counts it)."""

    def __init__(self, logger_name: str, sample: dict[str, bool]):
        super().__init__()
        self.templates = {prefix: source for (name, prefix), source in SAMPLE_WARNINGS.items() if name == logger_name}
        self.sample = sample
        self.demoted = 0

    def _source(self, record: logging.LogRecord) -> str | None:
        for prefix, source in self.templates.items():
            if isinstance(record.msg, str) and record.msg.startswith(prefix):
                if source == "kaggle|sales":  # log_quarantine's first argument is "<source folder>/<version>/<file>"
                    first = str(record.args[0]) if record.args else ""
                    return "sales" if first.startswith("sales/") else "kaggle"
                return source
        return None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        source = self._source(record)
        if source is None or not self.sample.get(source):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        self.demoted += 1
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _install_sample_filters(sample: dict[str, bool]) -> None:
    """One ``_SampleDataWarnings`` on each logger that emits planted-row warnings."""
    for logger_name in sorted({name for name, _ in SAMPLE_WARNINGS}):
        logging.getLogger(logger_name).addFilter(_SampleDataWarnings(logger_name, sample))


# ParallelRunner's forked worker processes run the dataset hooks on their copy of these hooks, so what they count
# never reaches the driver's copy, which prints the summary. The driver names a spool folder in this variable
# (workers inherit the environment) and each worker appends what its dataset hooks saw to a file of its own.
# Spawned workers (multiprocessing's default on macOS) share nothing of the driver's state: the package configures
# the project there on import (cripto_platform/__init__.py, else Kedro 1.7 registers no project hooks in them) and
# each worker installs the driver's sample-data filters from the spool's sample.json before its first node.
SPOOL_ENV = "CRIPTO_RUN_SUMMARY_SPOOL"


# kedro-viz's dataset-statistics hook keeps its state in the driver (its before_pipeline_run); in a spawned worker
# its copy has none and warns once per saved dataset that it "has no attribute 'datasets'": noise, not the data.
_VIZ_STATS_LOGGER = "kedro_viz.integrations.kedro.hooks"


def _stateless_viz_stats(record: logging.LogRecord) -> bool:
    return not (record.args and "no attribute 'datasets'" in str(record.args[-1]))


class _WorkerSpool:
    """The folder through which ParallelRunner's worker processes report to the driver's run summary."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def open_for_run(cls) -> _WorkerSpool:
        spool = cls(tempfile.mkdtemp(prefix="cripto-run-summary-"))
        os.environ[SPOOL_ENV] = str(spool.path)
        return spool

    @classmethod
    def from_env(cls) -> _WorkerSpool | None:
        path = os.environ.get(SPOOL_ENV)
        return cls(path) if path and Path(path).is_dir() else None

    def share_sample(self, sample: dict[str, bool]) -> None:
        """Which sources are sample data, for workers that did not inherit the driver's filters (spawned ones)."""
        (self.path / "sample.json").write_text(json.dumps(sample), encoding="utf-8")

    def install_sample_filters(self) -> None:
        """The driver's sample-data filters in this worker, unless it has them (a forked worker inherits them)."""
        loggers = {name for name, _ in SAMPLE_WARNINGS}
        if any(isinstance(f, _SampleDataWarnings) for name in loggers for f in logging.getLogger(name).filters):
            return
        shared = self.path / "sample.json"
        if shared.exists():
            _install_sample_filters(json.loads(shared.read_text(encoding="utf-8")))
        logging.getLogger(_VIZ_STATS_LOGGER).addFilter(_stateless_viz_stats)

    def report(self, observation: dict[str, Any]) -> None:
        with open(self.path / f"worker-{os.getpid()}.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(observation) + "\n")

    def observations(self) -> list[dict[str, Any]]:
        return [json.loads(line) for part in sorted(self.path.glob("worker-*.jsonl"))
                for line in part.read_text(encoding="utf-8").splitlines() if line]

    def close(self) -> None:
        if os.environ.get(SPOOL_ENV) == str(self.path):
            del os.environ[SPOOL_ENV]
        shutil.rmtree(self.path, ignore_errors=True)


def _rows(data: Any) -> int | None:
    """Rows of a DataFrame-like object (or of a dict of them, e.g. a warehouse schema); None for anything else."""
    if hasattr(data, "shape") and hasattr(data, "columns"):
        return int(data.shape[0])
    if isinstance(data, dict) and data and all(hasattr(value, "shape") and hasattr(value, "columns")
                                               for value in data.values()):
        return sum(int(value.shape[0]) for value in data.values())
    return None


def _location(dataset: Any, root: Path) -> tuple[str, str] | None:
    """("file", path relative to the project) or ("table", name) from a dataset's ``_describe()``."""
    try:
        described = dataset._describe()
    except Exception:  # noqa: BLE001 - a description is a courtesy; the run must not fail on it
        return None
    path = described.get("filepath") or described.get("path")
    if path:
        text = str(path)
        protocol = described.get("protocol")
        if protocol not in (None, "file", "local") and "://" not in text:  # fsspec datasets keep the scheme apart
            text = f"{protocol}://{text}"
        try:
            text = str(Path(text).relative_to(root))
        except ValueError:
            pass
        table = described.get("table")
        return "file", f"{text}/{table}" if table and not text.endswith(str(table)) else text
    if described.get("table"):
        return "table", str(described["table"])
    return None


def _short(path: str) -> str:
    """A file location cut to its zone folder: ``data/03_primary/kaggle/credit_risk/loans`` -> ``data/03_primary/kaggle``
    (``s3://bucket/03_primary/kaggle/...`` -> ``s3://bucket/03_primary/kaggle``)."""
    scheme, _, rest = path.rpartition("://")
    parts = [part for part in rest.split("/") if part]
    short = "/".join(parts[:3]) if len(parts) > 3 else "/".join(parts[:-1] or parts)
    return f"{scheme}://{short}" if scheme else short


class _Group:
    def __init__(self) -> None:
        self.read = 0
        self.written = 0
        self.datasets: set[str] = set()
        self.quarantined = 0
        self.files: dict[str, None] = {}
        self.tables: dict[str, None] = {}
        self.other: dict[str, None] = {}


class RunSummaryHooks:
    """Print what a run did when it ends: per pipeline rows read / written / quarantined and where outputs went.

    Rows are counted from the DataFrames the catalog saved (persisted datasets only) and loaded (persisted
    inputs no node of the run produced); locations come from the datasets' ``_describe()``. Rows the sample-data
    generators plant bad on purpose are summarised as such, instead of a WARNING line per file. Under
    ParallelRunner the dataset hooks run in its worker processes, which report to this process through a spool
    folder (``SPOOL_ENV``); DaskRunner replays them here.
    """

    def __init__(self, stream=None) -> None:
        self.stream = stream

    # Last of the before_pipeline_run hooks: one that stops the run (WarehouseHooks, LakeRootHooks) gets neither
    # after_pipeline_run nor on_pipeline_error, which remove the log filters and the spool installed here.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from kedro.framework.project import pipelines as registered

        self.started = time.monotonic()
        self.driver_pid = os.getpid()
        self.catalog = catalog
        self.root = Path(run_params.get("project_path") or Path.cwd()).resolve()
        self.run_params = run_params
        self.n_nodes = len(pipeline.nodes)
        self.produced = set(pipeline.all_outputs())
        self.node_group: dict[str, str] = {}
        for name, registered_pipeline in sorted(registered.items()):
            if name == "__default__":
                continue
            for node in registered_pipeline.nodes:
                self.node_group.setdefault(node.name, name)
        self.group_names = set(self.node_group.values())
        self.groups: dict[str, _Group] = {}
        self.planted: dict[str, int] = {}
        self.planted_detail: dict[str, dict[str, int]] = {}
        self.real_rejects: dict[str, int] = {}
        try:
            parameters = catalog.load("parameters")
        except Exception:  # noqa: BLE001 - a catalog without parameters: no source is known to be sample data
            parameters = {}
        self.sample = _sample_sources(parameters or {}, pipeline, catalog)
        # Before any worker process exists, so ParallelRunner's forked workers inherit both.
        _install_sample_filters(self.sample)
        self.spool = _WorkerSpool.open_for_run()
        self.spool.share_sample(self.sample)

    def _worker_spool(self) -> _WorkerSpool | None:
        """The driver's spool when this process is a ParallelRunner worker, else None."""
        if getattr(self, "driver_pid", None) == os.getpid():
            return None
        return _WorkerSpool.from_env()

    def _group(self, node_name: str | None, namespace: str | None) -> _Group:
        name = "other"
        if node_name is not None:
            name = self.node_group.get(node_name) or (namespace or "other").split(".")[0]
            if name not in self.group_names:  # a namespaced node: the registered pipeline holding its name
                name = next((group for registered_name, group in self.node_group.items()
                             if node_name.endswith("." + registered_name) or registered_name.endswith("." + node_name)),
                            name)
        return self.groups.setdefault(name, _Group())

    def _persisted(self, dataset_name: str):
        if dataset_name.startswith("params:") or dataset_name == "parameters" or dataset_name not in self.catalog:
            return None
        dataset = self.catalog.get(dataset_name)
        return None if type(dataset).__name__ in ("MemoryDataset", "SharedMemoryDataset") else dataset

    def _observed(self, event: str, dataset_name: str, node, **figures: Any) -> None:
        """Count an observation here, or, in a ParallelRunner worker, hand it to the driver through the spool."""
        observation = {"event": event, "dataset": dataset_name, "node": getattr(node, "name", None),
                       "namespace": getattr(node, "namespace", None), **figures}
        spool = self._worker_spool()
        if spool is not None:
            spool.report(observation)
        elif hasattr(self, "catalog"):
            self._count(observation)

    @hook_impl
    def before_node_run(self, node) -> None:
        spool = self._worker_spool()
        if spool is not None:  # a worker process: a spawned one has not inherited the filters
            spool.install_sample_filters()

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node) -> None:
        rows = _rows(data)
        if rows:
            self._observed("loaded", dataset_name, node, rows=rows)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        counted = _rows(data)
        rows = counted or 0
        figures: dict[str, Any] = {"rows": rows, "count": rows}
        if dataset_name == "crypto_gaps_report" and rows and "missing_candles" in data:
            figures["count"] = int(data["missing_candles"].sum())
        if dataset_name in SAMPLE_DATASETS and rows and "quarantine_reason" in data:
            # short reasons (line-based quarantines give free text)
            detail = data["quarantine_reason"].astype(str).value_counts().head(4).to_dict()
            figures["detail"] = {str(k): int(v) for k, v in detail.items()}
        if isinstance(data, dict) and counted is not None:
            figures["tables"] = [str(table) for table in data]  # a schema of tables saved together
        self._observed("saved", dataset_name, node, **figures)

    def _count(self, observation: dict[str, Any]) -> None:
        dataset_name = observation["dataset"]
        dataset = self._persisted(dataset_name)
        if dataset is None:
            return
        group = self._group(observation["node"], observation["namespace"])
        rows = observation["rows"]
        if observation["event"] == "loaded":
            if dataset_name not in self.produced:
                group.read += rows
            return
        group.datasets.add(dataset_name)
        if dataset_name in SAMPLE_DATASETS:
            source, _ = SAMPLE_DATASETS[dataset_name]
            count = observation["count"]
            if dataset_name != "crypto_gaps_report":
                group.quarantined += rows
            if count and self.sample.get(source):
                self.planted[dataset_name] = self.planted.get(dataset_name, 0) + count
                if observation.get("detail"):
                    self.planted_detail[dataset_name] = observation["detail"]
            elif count and dataset_name != "crypto_gaps_report":
                self.real_rejects[dataset_name] = self.real_rejects.get(dataset_name, 0) + count
        elif dataset_name.endswith("_quarantine"):
            group.quarantined += rows
            if rows:
                self.real_rejects[dataset_name] = self.real_rejects.get(dataset_name, 0) + rows
        else:
            group.written += rows
        location = _location(dataset, self.root)
        if location is None and observation.get("tables"):
            for table in observation["tables"]:  # e.g. sales_warehouse
                group.tables[str(table)] = None
        elif location is None:
            group.other[dataset_name] = None
        elif location[0] == "table":
            group.tables[location[1]] = None
        else:
            group.files[_short(location[1])] = None

    def _finish(self) -> None:
        # Every sample-data filter, not only this run's: two runs overlapping in one process (threads
        # sharing these hooks) would otherwise leave the first run's filters demoting later warnings.
        for logger_name in {name for name, _ in SAMPLE_WARNINGS}:
            logger = logging.getLogger(logger_name)
            for log_filter in [f for f in logger.filters if isinstance(f, _SampleDataWarnings)]:
                logger.removeFilter(log_filter)
        if getattr(self, "spool", None) is not None:
            self.spool.close()
            self.spool = None

    def summary(self, error: BaseException | None = None) -> str:
        """The summary's text (also what the hooks print)."""
        seconds = time.monotonic() - self.started
        version = self.run_params.get("run_id") or ""
        status = "completed" if error is None else "FAILED"
        lines = [f"Run summary: {self.n_nodes} nodes {status} in {seconds:.1f} s"
                 + (f"; versioned outputs saved as {version}" if version else "")]
        if error is not None:
            first = (str(error).strip().splitlines() or [""])[0]
            lines.append(f"  error: {type(error).__name__}: {first[:300]}")
        width = max([len(name) for name in self.groups] + [10])
        for name, group in sorted(self.groups.items()):
            figures = []
            if group.read:
                figures.append(f"read {group.read:,} rows")
            figures.append(f"wrote {group.written:,} rows to {len(group.datasets)} datasets")
            if group.quarantined:
                figures.append(f"quarantined {group.quarantined:,}")
            lines.append(f"  {name:<{width}}  " + "; ".join(figures))
            places = sorted(group.files) + [f"warehouse {table}" for table in group.tables] + list(group.other)
            if places:
                lines.append(f"  {'':<{width}}  -> " + ", ".join(places))
        if not self.groups:
            lines.append("  nothing was written")
        if self.planted:
            lines.append("  sample data (rows the generators plant bad on purpose; from a real source they are warnings):")
        for dataset_name, count in self.planted.items():
            source, what = SAMPLE_DATASETS[dataset_name]
            label = dataset_name.removesuffix("_quarantine").removesuffix("_report")
            detail = self.planted_detail.get(dataset_name)
            reasons = f": {', '.join(f'{reason} {n}' for reason, n in detail.items())}" if detail else ""
            if dataset_name == "crypto_gaps_report":
                what = "missing daily candles (gaps)"
            lines.append(f"    {label}: {count:,} planted {what} (sample data{reasons}) -> {dataset_name}")
        for dataset_name, count in self.real_rejects.items():
            lines.append(f"  {dataset_name}: {count} rows quarantined (see the warnings above)")
        return "\n".join(lines)

    def _print(self, error: BaseException | None = None) -> None:
        try:
            if self.spool is not None:  # what ParallelRunner's workers saw
                for observation in self.spool.observations():
                    self._count(observation)
            text = self.summary(error)
        finally:
            self._finish()
        print(text, file=self.stream or sys.stdout, flush=True)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        if hasattr(self, "started"):
            self._print()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        if hasattr(self, "started"):
            self._print(error)
