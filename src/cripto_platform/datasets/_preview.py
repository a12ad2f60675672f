"""kedro-viz previews for the custom datasets: a few rows as kedro-datasets' ``TablePreview``."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from kedro_datasets._typing import TablePreview
from psycopg2 import sql


def table_preview(frame: pd.DataFrame) -> TablePreview:
    """``frame`` as the split dict kedro-viz draws, JSON-safe (timestamps ISO, NaN null, others str)."""
    return TablePreview(json.loads(frame.to_json(orient="split", date_format="iso", default_handler=str)))


def query_preview(url: str | None, query: str | sql.Composable, params: Any = None) -> TablePreview:
    """The rows of one read-only query (the caller puts a ``LIMIT`` in it) as a preview."""
    from cripto_platform.warehouse import transaction

    with transaction(url, what="a kedro-viz preview") as cursor:
        cursor.execute(query, params)
        columns = [column.name for column in cursor.description]
        rows = cursor.fetchall()
    return table_preview(pd.DataFrame.from_records(rows, columns=columns))


def table_exists(url: str | None, table: str) -> bool:
    """Whether ``table`` is on the warehouse (a preview of a table not written yet is empty, not an error)."""
    from cripto_platform.warehouse import transaction

    with transaction(url, what="a kedro-viz preview") as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(cursor.fetchone()[0])


def limited(table: str, nrows: int) -> sql.Composed:
    """``SELECT * FROM <table> LIMIT <nrows>``, the table name quoted."""
    return sql.SQL("SELECT * FROM {} LIMIT {}").format(sql.Identifier(table), sql.Literal(int(nrows)))


def warehouse_table_preview(url: str | None, table: str, nrows: int) -> TablePreview:
    """A warehouse table's first ``nrows`` rows for kedro-viz (``LIMIT``); empty before the table is written."""
    if not table_exists(url, table):
        return TablePreview({"columns": [], "index": [], "data": []})
    return query_preview(url, limited(table, nrows))
