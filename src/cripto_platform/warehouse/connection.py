"""Where the warehouse is: a configured URL, or the embedded ``pgserver`` PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import sqlalchemy as sa
from kedro.io import DatasetError
from sqlalchemy.engine import Engine, make_url

ENV_URL = "CRIPTO_WAREHOUSE_URL"
ENV_PGDATA = "CRIPTO_WAREHOUSE_PGDATA"
DEFAULT_PGDATA = Path("data") / "warehouse" / "pgdata"

# The embedded server's settings where PostgreSQL's defaults are sized for a toy: 128MB of shared
# buffers against payment histories of ~1GB makes every merge evict dirty pages (and flush WAL to do
# so), 4MB of WAL buffers are full after a few hundred full-page images, and max_wal_size 1GB forces
# a checkpoint in the middle of a large merge. Applied once, at the first start, to settings still at
# their default (a value set with ALTER SYSTEM stays); a server at a configured URL is left alone.
EMBEDDED_SERVER_SETTINGS = {"shared_buffers": "1GB", "wal_buffers": "64MB", "max_wal_size": "4GB"}

_lock = threading.Lock()
_servers: dict[str, object] = {}
_engines: dict[str, Engine] = {}


def _forget_pooled_connections_in_child() -> None:
    """A forked child (ParallelRunner's workers) must not reuse its parent's pooled connections: two
    processes on one socket corrupt each other's protocol. SQLAlchemy's fork recipe: drop the pool
    without closing the parent's connections, and let the child open its own."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_pooled_connections_in_child)


class WarehouseUnavailableError(RuntimeError):
    """The configured warehouse cannot be reached."""


class WarehouseConnectionLost(DatasetError):
    """The connection to the warehouse dropped inside a transaction (server stopped, backend terminated,
    network gone); the server rolls such a transaction back, so nothing of it was committed."""


def embedded_pgdata() -> Path:
    """Data directory of the embedded server: ``$CRIPTO_WAREHOUSE_PGDATA``, else ``data/warehouse/pgdata``
    of the Kedro project around the working directory.

    Resolved from the project root, not the working directory, so a notebook in ``notebooks/``
    (Jupyter's working directory), ``kedro ipython`` or a script in a subfolder reach the same
    PostgreSQL as ``kedro run`` (the catalog's relative paths are made absolute by Kedro the same way).
    """
    configured = os.environ.get(ENV_PGDATA)
    if configured:
        return Path(configured).resolve()
    from kedro.utils import find_kedro_project

    root = find_kedro_project(Path.cwd()) or Path.cwd()
    return (Path(root) / DEFAULT_PGDATA).resolve()


def _embedded_url() -> str:
    pgdata = embedded_pgdata()
    with _lock:
        server = _servers.get(str(pgdata))
        if server is None:
            pgdata.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                # platformdirs (imported by pgserver) warns when XDG_RUNTIME_DIR is unset, as in
                # containers and CI; pgserver does not need it.
                warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
                import pgserver  # imported lazily: only needed when no URL is configured

                # cleanup_mode=None keeps the server up after this process, so the URL printed
                # by ``python -m cripto_platform.warehouse url`` stays usable from psql.
                server = pgserver.get_server(pgdata, cleanup_mode=None)
                # pgserver caches its handle per pgdata: after stop_embedded_server it needs a start.
                server.ensure_postgres_running()
                if _apply_embedded_settings(server.get_uri()):
                    _signal_postmaster(pgdata)  # the settings above need a restart
                    server.ensure_postgres_running()
            _servers[str(pgdata)] = server
    return server.get_uri()


def _apply_embedded_settings(url: str) -> bool:
    """ALTER SYSTEM the ``EMBEDDED_SERVER_SETTINGS`` not set by ALTER SYSTEM yet (PostgreSQL's or
    initdb's defaults); True if a restart is due."""
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, context FROM pg_settings WHERE name = ANY(%s) "
                "AND coalesce(sourcefile, '') NOT LIKE '%%postgresql.auto.conf'",
                (list(EMBEDDED_SERVER_SETTINGS),),
            )
            at_default = cursor.fetchall()
            for name, _ in at_default:
                cursor.execute(f"ALTER SYSTEM SET {name} = %s", (EMBEDDED_SERVER_SETTINGS[name],))
            cursor.execute("SELECT pg_reload_conf()")
            return any(context == "postmaster" for _, context in at_default)
    finally:
        connection.close()


def _signal_postmaster(pgdata: Path, timeout: float = 30.0) -> None:
    """Fast shutdown of the postmaster of ``pgdata`` (if running); waits until it is gone.

    Signals the postmaster directly rather than calling ``pg_ctl``: run as root, pgserver starts
    PostgreSQL as its own ``pgserver`` user and ``pg_ctl`` refuses to run as root.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        postmaster_pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(postmaster_pid, signal.SIGINT)  # SIGINT = "fast" shutdown
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def stop_embedded_server(pgdata: str | Path | None = None, timeout: float = 30.0) -> None:
    """Stop the embedded server of ``pgdata`` (default: the current one) with a fast shutdown."""
    target = Path(pgdata).resolve() if pgdata else embedded_pgdata()
    with _lock:
        for url, engine in list(_engines.items()):
            engine.dispose()
            _engines.pop(url)
        _servers.pop(str(target), None)
    _signal_postmaster(target, timeout)


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL: ``url`` if given, else ``$CRIPTO_WAREHOUSE_URL``, else the embedded server."""
    return url or os.environ.get(ENV_URL) or _embedded_url()


def _describe_server(url: str) -> str:
    """``host:port``, or the socket directory (the embedded server), without credentials: how errors name it."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    if isinstance(host, tuple):  # several host= in the query string
        host = host[0]
    return f"{host} (socket)" if host.startswith("/") else f"{host}:{parsed.port or 5432}"


def get_engine(url: str | None = None) -> Engine:
    """A pooled SQLAlchemy engine for the resolved warehouse URL."""
    resolved = resolve_url(url)
    with _lock:
        engine = _engines.get(resolved)
        if engine is None:
            sa_url = make_url(resolved)
            if sa_url.drivername in ("postgres", "postgresql"):
                # SQLAlchemy 2.1 defaults to psycopg 3; this project ships psycopg2.
                sa_url = sa_url.set(drivername="postgresql+psycopg2")
            engine = sa.create_engine(
                sa_url, pool_pre_ping=True, connect_args={"connect_timeout": 10}
            )
            _engines[resolved] = engine
    return engine


@contextmanager
def transaction(url: str | None = None, what: str = "a transaction") -> Iterator:
    """A psycopg2 cursor inside one transaction: committed on success, rolled back on any error.

    When the connection drops (the server stopped, the backend was terminated), psycopg2's error
    (``OperationalError``, or ``InterfaceError: connection already closed`` from a later statement, and
    the same again from the rollback) becomes one ``WarehouseConnectionLost`` naming the server and
    ``what``, raised from None: nothing was committed, as the server rolls back a transaction whose
    connection is gone. A drop during the COMMIT itself says the outcome is unknown, which is the truth.
    """
    engine = get_engine(url)
    raw = engine.raw_connection()
    committing = False
    try:
        with raw.cursor() as cursor:
            yield cursor
        committing = True
        raw.commit()
    except BaseException as error:
        lost = _connection_closed(raw)
        if not lost:
            try:
                raw.rollback()
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                lost = _connection_closed(raw)
                if not lost:
                    raise
        if not lost:
            raise
        raw.invalidate()  # the pool drops it rather than resetting a dead connection (and logging that)
        if not _caused_by_database(error):
            raise  # another error came first and the connection dropped after it: report that error
        where = _describe_server(engine.url.render_as_string(hide_password=True))
        if committing:
            message = f"connection lost while committing {what}; whether it was committed is unknown"
        else:
            message = f"connection lost during {what}; nothing was committed"
        raise WarehouseConnectionLost(f"warehouse at {where}: {message}") from None
    finally:
        raw.close()


def _connection_closed(raw) -> bool:
    """Whether psycopg2 found the connection under the pooled ``raw`` closed or broken."""
    connection = raw.dbapi_connection
    return connection is None or bool(getattr(connection, "closed", 0))


def _caused_by_database(error: BaseException | None) -> bool:
    """Whether ``error``, or an exception it was raised from or while handling, is psycopg2's."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, psycopg2.Error):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def check_connection(url: str | None = None) -> None:
    """Raise ``WarehouseUnavailableError`` naming the host when the warehouse cannot be reached."""
    try:
        resolved = resolve_url(url)
    except Exception as error:  # pgserver failing to start
        raise WarehouseUnavailableError(f"cannot start the embedded warehouse: {error}") from error
    try:
        with get_engine(resolved).connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise WarehouseUnavailableError(
            f"cannot reach the warehouse at {_describe_server(resolved)}/{make_url(resolved).database or ''}: {reason}"
        ) from None
