"""What the HTTP service does, without HTTP: load the index through the catalog, recommend, rebuild.

The index in use is one immutable ``LoadedIndex`` (version, index, scoring matrix), replaced whole
when a newer one is loaded, so a request sees one version from start to end. A client's history is
read from the warehouse at request time (an index-only scan of ``payments_l0``'s partial client
index, with the catalog's ``warehouse`` credentials, on one read-only autocommit connection per
worker thread: one round trip per query), so payments merged after the index was built count. The companies' names and categories are read when an index is
loaded and again once the copy is older than ``COMPANIES_TTL_SECONDS``, not per request. The SQL
files are read once, at start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg2
import scipy.sparse as sp
from kedro.io import DatasetError
from kedro.io.core import VersionNotFoundError
from kedro.runner import AbstractRunner
from sqlalchemy.engine import make_url

from cripto_platform.recommender import CompanyIndex, recommend_codes, scoring_matrix
from cripto_platform.serving.project import KedroProject, read_config
from cripto_platform.warehouse import load_sql, resolve_url

logger = logging.getLogger(__name__)

PIPELINE = "recommendation"
INDEX_DATASET = "company_index"
# How many neighbours per company scoring uses, as the batch pipeline does.
NEIGHBOURS_PARAMETERS = (("recommendation", "neighbours"), ("recommendation", "index", "neighbours"))
# The popularity prior's exponent, as the batch pipeline uses it (absent: 0, the plain similarity sum).
ALPHA_PARAMETER = ("recommendation", "index", "popularity_alpha")
TOKEN_CREDENTIALS = "recommendation_api"
ENV_TOKEN = "CRIPTO_API_TOKEN"
HISTORY_SQL = "recommendation_client_history.sql"
KNOWN_SQL = "recommendation_client_known.sql"
COMPANIES_SQL = "recommendation_companies.sql"
# The companies' names and categories are read again when the copy in memory is older than this.
COMPANIES_TTL_SECONDS = 300.0
# Per statement: the request path runs on the event loop (app.py), so a stalled warehouse must not hold it.
STATEMENT_TIMEOUT_MS = 5000
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
    """One version of the company index, ready to score: its scoring matrix is precomputed."""

    version: str
    index: CompanyIndex
    similarity: sp.csr_matrix  # recommender.scoring_matrix: neighbour cosines times the popularity prior
    neighbours: int
    popularity_alpha: float = 0.0


class RecommendationService:
    """The index in use, the warehouse credentials and the token, read through one Kedro project."""

    def __init__(self, project: KedroProject, *, token: str | None = None, runner: AbstractRunner | None = None) -> None:
        self.project = project
        self.runner = runner
        self._explicit_token = token
        self.token: str | None = None
        self.warehouse_credentials: dict[str, Any] | None = None
        self._current: LoadedIndex | None = None
        self._sql = {name: load_sql(name) for name in (HISTORY_SQL, KNOWN_SQL, COMPANIES_SQL)}
        # company_code -> (name, category), and when it was read (time.monotonic()).
        self._companies: tuple[float, dict[str, tuple[Any, Any]]] | None = None
        self._companies_lock = threading.Lock()
        self._connections = threading.local()  # one warehouse connection per worker thread
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
        parameters = read_config(context, "parameters")
        neighbours = _neighbours(parameters, env)
        alpha = _popularity_alpha(parameters, env)
        try:
            index = catalog.load(INDEX_DATASET, version=version)
        except DatasetError as error:
            raise NoIndexError(f"company index version {version} ({where}) cannot be loaded: {error}; "
                               f"run `{BUILD_COMMAND}` or POST /create_index") from None
        if version is None:  # an unversioned entry: name the version after the data
            version = "unversioned"
        loaded = LoadedIndex(version=version, index=index, similarity=scoring_matrix(index, neighbours, alpha),
                             neighbours=neighbours, popularity_alpha=alpha)
        self._companies = None  # read again with the new index
        logger.info("serving company index version %s (%d companies, %d neighbours each, popularity alpha %g)",
                    version, len(index.company_codes), neighbours, alpha)
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
                except Exception as error:  # e.g. WarehouseUnavailableError from WarehouseHooks
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
        if not history and not self._query(KNOWN_SQL, client_id=client_id)[0][0]:
            raise UnknownClientError(f"client '{client_id}' has no payments in payments_l0")
        paid = {code: float(count) for code, count in history if count > 0}
        companies = self._company_details()
        recommendations = []
        for code, score, source in recommend_codes(loaded.index, loaded.similarity, paid, n):
            name, category = companies.get(code, (None, None))
            recommendations.append({"company_code": code, "name": _text(name), "category": _text(category),
                                    "score": score, "source": source})
        return {"client_id": client_id, "index_version": loaded.version, "recommendations": recommendations}

    def _company_details(self) -> dict[str, tuple[Any, Any]]:
        """company_code -> (name, category): the copy in memory, read again when older than the TTL."""
        cached = self._companies
        if cached is not None and time.monotonic() - cached[0] < COMPANIES_TTL_SECONDS:
            return cached[1]
        if not self._companies_lock.acquire(blocking=cached is None):
            return cached[1]  # another request is reading it: use the stale copy meanwhile
        try:
            if self._companies is None or time.monotonic() - self._companies[0] >= COMPANIES_TTL_SECONDS:
                read_at = time.monotonic()
                rows = self._query(COMPANIES_SQL)
                self._companies = (read_at, {code: (name, category) for code, name, category in rows})
            return self._companies[1]
        finally:
            self._companies_lock.release()

    def _connection(self):
        """This thread's warehouse connection (read-only, autocommit), opened on first use."""
        connection = getattr(self._connections, "connection", None)
        if connection is None or connection.closed:
            url = resolve_url((self.warehouse_credentials or {}).get("url") or None)
            # A SQLAlchemy URL (postgresql+psycopg2://) as the libpq URI psycopg2 takes.
            dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            connection = psycopg2.connect(dsn, connect_timeout=5, options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
            connection.set_session(readonly=True, autocommit=True)
            self._connections.connection = connection
        return connection

    def _query(self, sql_file: str, **params: Any) -> list[tuple]:
        """The rows of one of the service's SQL files (one statement, one round trip)."""
        connection = None
        try:
            connection = self._connection()
            with connection.cursor() as cursor:
                cursor.execute(self._sql[sql_file], params)
                return cursor.fetchall()
        except Exception as error:
            if connection is not None and (connection.closed or isinstance(error, (psycopg2.OperationalError,
                                                                                   psycopg2.InterfaceError))):
                connection.close()  # reopened by the next request of this thread
                self._connections.connection = None
            if getattr(error, "pgcode", None) == "42P01":  # undefined_table
                raise WarehouseReadError(f"the warehouse has no payments yet ({sql_file}: "
                                         f"{str(error).splitlines()[0]}): run `kedro run --pipeline payments`") from None
            raise WarehouseReadError(f"cannot read the warehouse: query '{sql_file}' failed: {error}".strip()) from None


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


def _popularity_alpha(parameters: dict[str, Any], env: str) -> float:
    """``recommendation.index.popularity_alpha`` (0 when not set: the plain similarity sum)."""
    found: Any = parameters
    for key in ALPHA_PARAMETER:
        found = found.get(key) if isinstance(found, dict) else None
    if found is None:
        return 0.0
    if isinstance(found, bool) or not isinstance(found, (int, float)) or found < 0:
        raise ServiceConfigError(f"parameter '{'.'.join(ALPHA_PARAMETER)}' must be a number >= 0, got {found!r} "
                                 f"(environment '{env}')")
    return float(found)


def _reason(error: BaseException) -> str:
    """The error and what caused it (Kedro wraps a failing pipeline import in an ImportError)."""
    reason = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    return f"{reason} (caused by {type(cause).__name__}: {cause})" if cause is not None else reason


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
