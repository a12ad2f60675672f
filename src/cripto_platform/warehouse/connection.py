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

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

ENV_URL = "CRIPTO_WAREHOUSE_URL"
ENV_PGDATA = "CRIPTO_WAREHOUSE_PGDATA"
DEFAULT_PGDATA = Path("data") / "warehouse" / "pgdata"

_lock = threading.Lock()
_servers: dict[str, object] = {}
_engines: dict[str, Engine] = {}


class WarehouseUnavailableError(RuntimeError):
    """The configured warehouse cannot be reached."""


def embedded_pgdata() -> Path:
    """Data directory of the embedded server (``$CRIPTO_WAREHOUSE_PGDATA`` or ``data/warehouse/pgdata``)."""
    return Path(os.environ.get(ENV_PGDATA) or DEFAULT_PGDATA).resolve()


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
            _servers[str(pgdata)] = server
    return server.get_uri()


def stop_embedded_server(pgdata: str | Path | None = None, timeout: float = 30.0) -> None:
    """Stop the embedded server of ``pgdata`` (default: the current one) with a fast shutdown.

    Signals the postmaster directly rather than calling ``pg_ctl``: run as root, pgserver starts
    PostgreSQL as its own ``pgserver`` user and ``pg_ctl`` refuses to run as root.
    """
    target = Path(pgdata).resolve() if pgdata else embedded_pgdata()
    with _lock:
        for url, engine in list(_engines.items()):
            engine.dispose()
            _engines.pop(url)
        _servers.pop(str(target), None)
    pid_file = target / "postmaster.pid"
    try:
        postmaster_pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(postmaster_pid, signal.SIGINT)  # SIGINT = "fast" shutdown
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL: ``url`` if given, else ``$CRIPTO_WAREHOUSE_URL``, else the embedded server."""
    return url or os.environ.get(ENV_URL) or _embedded_url()


def _describe_host(url: str) -> str:
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    return f"{host}:{parsed.port or 5432}/{parsed.database or ''}"


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
def transaction(url: str | None = None) -> Iterator:
    """A psycopg2 cursor inside one transaction: committed on success, rolled back on any error."""
    raw = get_engine(url).raw_connection()
    try:
        with raw.cursor() as cursor:
            yield cursor
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


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
            f"cannot reach the warehouse at {_describe_host(resolved)}: {reason}"
        ) from None
