"""The PostgreSQL warehouse: an embedded server by default, any PostgreSQL by URL.

``connection`` (URL, embedded pgserver, transactions), ``loading`` (COPY, ``.sql`` files with their
identifiers), ``binary_copy`` (COPY's binary format), ``scd2`` (the payments SCD2 merge and its merge
log), ``watermarks`` (how far each source is read, advanced only forward), ``sql/`` (one statement per step).
"""

from cripto_platform.warehouse.connection import (
    ENV_PGDATA,
    ENV_URL,
    WarehouseConnectionLost,
    WarehouseUnavailableError,
    check_connection,
    get_engine,
    resolve_url,
    stop_embedded_server,
    transaction,
)
from cripto_platform.warehouse.loading import copy_dataframe, create_table_for, load_sql, load_statement

__all__ = [
    "ENV_PGDATA",
    "ENV_URL",
    "WarehouseConnectionLost",
    "WarehouseUnavailableError",
    "check_connection",
    "copy_dataframe",
    "create_table_for",
    "get_engine",
    "load_sql",
    "load_statement",
    "resolve_url",
    "stop_embedded_server",
    "transaction",
]
