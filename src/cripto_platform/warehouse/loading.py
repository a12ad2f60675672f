"""Bulk loading with COPY and SQL kept in ``.sql`` files."""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

_PG_TYPES = {
    "b": "boolean",
    "i": "bigint",
    "u": "bigint",
    "f": "double precision",
    "M": "timestamp",
}


def load_sql(name: str) -> str:
    """Text of ``warehouse/sql/<name>`` (``.sql`` added when missing)."""
    filename = name if name.endswith(".sql") else f"{name}.sql"
    return resources.files("cripto_platform.warehouse").joinpath("sql", filename).read_text()


def with_identifiers(query: str, **identifiers: str) -> sql.Composed:
    """``query`` with its ``{placeholders}`` filled by quoted identifiers (table names)."""
    return sql.SQL(query).format(**{key: sql.Identifier(value) for key, value in identifiers.items()})


def load_statement(name: str, **identifiers: str) -> sql.Composed:
    """``warehouse/sql/<name>`` with its ``{placeholders}`` filled by quoted identifiers (table names)."""
    return with_identifiers(load_sql(name), **identifiers)


def lock_ddl(cursor, table: str) -> None:
    """Serialise ``CREATE ... IF NOT EXISTS`` of ``table`` until this transaction ends: two transactions
    creating the same table at once fail on PostgreSQL's catalog (``pg_type_typname_nsp_index``), as two
    Dask workers did on a fresh warehouse. Only while the table is missing: an existing table's readers
    and writers never wait on it."""
    cursor.execute("SELECT to_regclass(%s) IS NULL", (table,))
    if cursor.fetchone()[0]:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ddl:{table}",))


def _pg_type(dtype) -> str:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    kind = getattr(dtype, "kind", "O")
    return _PG_TYPES.get(kind, "text")


def create_table_for(cursor, table: str, frame: pd.DataFrame) -> None:
    """``CREATE TABLE IF NOT EXISTS`` with columns typed after ``frame``'s dtypes."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(_pg_type(dtype)))
        for column, dtype in frame.dtypes.items()
    )
    cursor.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(sql.Identifier(table), columns)
    )


def _utc_text(values: pd.Series) -> pd.Series:
    """Zone-aware timestamps as UTC text with an explicit offset: the server must not read them in
    its own TimeZone. Arrow casts UTC wall-clock times to text (0.05 s a million; pandas' own
    formatting of zone-aware values, or Arrow's ``strftime``, take 1.8-3 s)."""
    utc = pa.array(values.dt.tz_convert("UTC").dt.tz_localize(None))
    text = pc.binary_join_element_wise(utc.cast(pa.string()), pa.scalar("+00"), "")
    return pd.Series(text.to_pandas(), index=values.index, dtype=object)


def copy_dataframe(cursor, table: str, frame: pd.DataFrame) -> int:
    """Bulk-load ``frame`` into ``table`` with one ``COPY ... FROM STDIN``; returns rows loaded."""
    zoned = [column for column, dtype in frame.dtypes.items() if isinstance(dtype, pd.DatetimeTZDtype)]
    if zoned:
        frame = frame.assign(**{column: _utc_text(frame[column]) for column in zoned})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f")
    buffer.seek(0)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    cursor.copy_expert(statement.as_string(cursor), buffer)
    return len(frame)
