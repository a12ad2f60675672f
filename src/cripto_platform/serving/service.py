"""What the HTTP service does, without HTTP: load the index through the catalog, recommend, rebuild.

The index in use is one immutable ``LoadedIndex`` (version, index, neighbour similarities), replaced
whole when a newer one is loaded, so a request sees one version from start to end. A client's
history and the companies' names are read from the warehouse at request time (SQL files run with the
catalog's ``warehouse`` credentials), so payments merged after the index was built count.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd
import scipy.sparse as sp
from kedro.io import DatasetError
from kedro.io.core import VersionNotFoundError
from kedro.runner import AbstractRunner

from cripto_platform.datasets.warehouse import WarehouseQueryDataset
from cripto_platform.recommender import CompanyIndex, neighbour_matrix, recommend_for_client
from cripto_platform.serving.project import KedroProject, read_config

logger = logging.getLogger(__name__)

PIPELINE = "recommendation"
INDEX_DATASET = "company_index"
# How many neighbours per company scoring uses, as the batch pipeline does.
NEIGHBOURS_PARAMETERS = (("recommendation", "neighbours"), ("recommendation", "index", "neighbours"))
TOKEN_CREDENTIALS = "recommendation_api"
ENV_TOKEN = "CRIPTO_API_TOKEN"
HISTORY_SQL = "recommendation_client_history.sql"
COMPANIES_SQL = "recommendation_companies.sql"
BUILD_COMMAND = f"kedro run --pipeline {PIPELINE}"


class NoIndexError(RuntimeError):
    """No company index can be served yet (HTTP 503)."""


class UnknownClientError(LookupError):
    """The client has never appeared in ``payments_l0`` (HTTP 404)."""


class WarehouseReadError(RuntimeError):
    """The warehouse could not answer a request's query (HTTP 503)."""


class ServiceConfigError(RuntimeError):
    """The project's configuration does not let the service score (HTTP 500), e.g. a missing parameter."""


class IndexBuildError(RuntimeError):
    """``/create_index``'s pipeline run failed (HTTP 500); the previous index is still served."""


@dataclass(frozen=True)
class LoadedIndex:
    """One version of the company index, ready to score: its neighbour similarities are precomputed."""

    version: str
    index: CompanyIndex
    similarity: sp.csr_matrix
    neighbours: int


class RecommendationService:
    """The index in use, the warehouse credentials and the token, read through one Kedro project."""

    def __init__(self, project: KedroProject, *, token: str | None = None, runner: AbstractRunner | None = None) -> None:
        self.project = project
        self.runner = runner
        self._explicit_token = token
        self.token: str | None = None
        self.warehouse_credentials: dict[str, Any] | None = None
        self._current: LoadedIndex | None = None
        # Kedro's project globals (settings, the lazily loaded pipelines) are not thread-safe:
        # one session at a time, whether it loads the catalog or runs the pipeline.
        self._kedro = threading.Lock()
        self.build_lock = threading.Lock()  # one /create_index at a time

    # -- configuration and index loading -------------------------------------------------------

    def start(self) -> None:
        """Read the token and the warehouse credentials, and load the latest index if there is one."""
        with self._kedro, self.project.context() as context:
            credentials = read_config(context, "credentials")
            self.warehouse_credentials = credentials.get("warehouse")
            configured = (credentials.get(TOKEN_CREDENTIALS) or {}).get("token")
            token = self._explicit_token or configured or os.environ.get(ENV_TOKEN)
            self.token = token or None  # an empty token means none
            try:
                self._current = self._load(context, version=None)
            except NoIndexError as error:  # serve anyway: 503 until an index can be loaded
                logger.warning("%s", error)

    @property
    def current(self) -> LoadedIndex | None:
        return self._current

    @property
    def building(self) -> bool:
        return self.build_lock.locked()

    def ensure_index(self) -> LoadedIndex:
        """The index in use; with none yet, look again (the pipeline may have run since the start)."""
        loaded = self._current
        if loaded is not None:
            return loaded
        if not self._kedro.acquire(blocking=False):
            raise NoIndexError(f"no company index yet: one is being built or loaded, retry shortly "
                               f"(or run `{BUILD_COMMAND}`)")
        try:
            if self._current is None:
                with self.project.context() as context:
                    self._current = self._load(context, version=None)
            return self._current
        finally:
            self._kedro.release()

    def _load(self, context, version: str | None) -> LoadedIndex:
        """Load ``company_index`` through the catalog: ``version``, or the latest one."""
        catalog = context.catalog
        dataset = catalog.get(INDEX_DATASET)
        loader = context.config_loader
        env = context.env or getattr(loader, "default_run_env", None) or loader.base_env
        where = f"environment '{env}'"
        if dataset is None:
            raise NoIndexError(f"no company index: the catalog ({where}) has no '{INDEX_DATASET}' entry; "
                               f"it is written by `{BUILD_COMMAND}`")
        try:
            version = version or dataset.resolve_load_version()
        except VersionNotFoundError:
            raise NoIndexError(f"no company index yet in '{INDEX_DATASET}' ({where}): run `{BUILD_COMMAND}` "
                               "or POST /create_index") from None
        neighbours = _neighbours(read_config(context, "parameters"), env)
        try:
            index = catalog.load(INDEX_DATASET, version=version)
        except DatasetError as error:
            raise NoIndexError(f"company index version {version} ({where}) cannot be loaded: {error}; "
                               f"run `{BUILD_COMMAND}` or POST /create_index") from None
        if version is None:  # an unversioned entry: name the version after the data
            version = "unversioned"
        loaded = LoadedIndex(version=version, index=index, similarity=neighbour_matrix(index, neighbours),
                             neighbours=neighbours)
        logger.info("serving company index version %s (%d companies, %d neighbours each)",
                    version, len(index.company_codes), neighbours)
        return loaded

    # -- /create_index ---------------------------------------------------------------------------

    def build_index(self) -> tuple[str, str | None]:
        """Run the recommendation pipeline, then serve the version it wrote; returns (new, previous).

        The caller holds ``build_lock``; it is released here, in the worker thread, when the build ends.
        """
        try:
            previous = self._current.version if self._current else None
            with self._kedro:
                try:
                    version = self.project.run(PIPELINE, runner=self.runner)
                except (Exception, SystemExit) as error:  # hooks stop a run with SystemExit
                    logger.exception("`%s` failed", BUILD_COMMAND)
                    serving = f"still serving version {previous}" if previous else "no index is served yet"
                    raise IndexBuildError(f"`{BUILD_COMMAND}` failed: {_reason(error)}; {serving}") from None
                with self.project.context() as context:
                    try:
                        self._current = self._load(context, version=version)
                    except (NoIndexError, ServiceConfigError) as error:
                        raise IndexBuildError(f"`{BUILD_COMMAND}` ran (version {version}) but its "
                                              f"'{INDEX_DATASET}' could not be loaded: {error}") from None
            return version, previous
        finally:
            self.build_lock.release()

    # -- /recommend_companies --------------------------------------------------------------------

    def recommend(self, client_id: str, n: int) -> dict[str, Any]:
        """The top ``n`` companies ``client_id`` does not pay yet, with name and category."""
        loaded = self.ensure_index()
        history = self._query(HISTORY_SQL, client_id=client_id)
        if history.empty:
            raise UnknownClientError(f"client '{client_id}' has no payments in payments_l0")
        counts = history.set_index("company_code")["current_payments"].astype("float64")
        paid = counts[counts > 0]
        chosen = recommend_for_client(loaded.index, loaded.similarity, paid, n)
        codes = chosen["company_code"].tolist()
        details = self._query(COMPANIES_SQL, company_codes=codes) if codes else pd.DataFrame(
            columns=["company_code", "name", "category"])
        rows = chosen.merge(details, on="company_code", how="left")
        return {
            "client_id": client_id,
            "index_version": loaded.version,
            "recommendations": [
                {"company_code": row.company_code, "name": _text(row.name), "category": _text(row.category),
                 "score": float(row.score), "source": row.source}
                for row in rows.itertuples(index=False)
            ],
        }

    def _query(self, sql_file: str, **params: Any) -> pd.DataFrame:
        dataset = WarehouseQueryDataset(sql_file=sql_file, query_params=params, credentials=self.warehouse_credentials)
        try:
            return dataset.load()
        except DatasetError as error:
            cause = error.__cause__
            if getattr(cause, "pgcode", None) == "42P01":  # undefined_table
                raise WarehouseReadError(f"the warehouse has no payments yet ({sql_file}: "
                                         f"{str(cause).splitlines()[0]}): run `kedro run --pipeline payments`") from None
            raise WarehouseReadError(f"cannot read the warehouse: {error}") from None


def _neighbours(parameters: dict[str, Any], env: str) -> int:
    """``recommendation.neighbours``, else the index block's ``recommendation.index.neighbours``."""
    value, name = None, None
    for path in NEIGHBOURS_PARAMETERS:
        found: Any = parameters
        for key in path:
            found = found.get(key) if isinstance(found, dict) else None
        if found is not None:
            value, name = found, ".".join(path)
            break
    if value is None:
        names = " or ".join(".".join(path) for path in NEIGHBOURS_PARAMETERS)
        raise ServiceConfigError(f"parameter {names} is not set (environment '{env}'): the number of "
                                 "neighbours per company used for scoring")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ServiceConfigError(f"parameter '{name}' must be a positive integer, got {value!r}")
    return value


def _reason(error: BaseException) -> str:
    """The error and what caused it (Kedro wraps a failing pipeline import in an ImportError)."""
    reason = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    return f"{reason} (caused by {type(cause).__name__}: {cause})" if cause is not None else reason


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
