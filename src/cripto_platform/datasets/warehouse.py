"""Warehouse datasets: SQL queries from ``.sql`` files, tables written with COPY in one transaction."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview
from psycopg2 import sql

from cripto_platform.datasets._preview import query_preview, warehouse_table_preview
from cripto_platform.profiling.sources import WarehouseSource
from cripto_platform.warehouse import copy_dataframe, create_table_for, get_engine, load_sql, transaction
from cripto_platform.warehouse.loading import with_identifiers

WriteMode = Literal["replace", "append", "replace_runs"]


class WarehouseDatasetMixin:
    """Shared connection handling: ``credentials: {url: ...}`` or the embedded default."""

    def _init_connection(self, credentials: dict[str, Any] | None) -> None:
        self.warehouse_url_config: str | None = (credentials or {}).get("url") or None

    @property
    def engine(self):
        return get_engine(self.warehouse_url_config)


class WarehouseQueryDataset(WarehouseDatasetMixin, AbstractDataset[None, pd.DataFrame]):
    """Read-only: the result of a parameterised query kept in ``warehouse/sql/<sql_file>``.

    ``identifiers`` fill the file's ``{name}`` placeholders with quoted table names, as the merge's
    statements are filled (``warehouse.load_statement``); without them the file is run as written.

    Example::

        reservations@sql:
          type: cripto_platform.datasets.WarehouseQueryDataset
          sql_file: reservations_extract.sql
          credentials: warehouse

        payments_l0@current:
          type: cripto_platform.datasets.WarehouseQueryDataset
          sql_file: payments_current.sql
          identifiers: {payments: payments_l0}
    """

    def __init__(
        self,
        *,
        sql_file: str,
        query_params: dict[str, Any] | None = None,
        identifiers: dict[str, str] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._sql_file = sql_file
        self._query_params = query_params or {}
        self._identifiers = dict(identifiers or {})
        self.metadata = metadata
        self._init_connection(credentials)

    def _query(self, limit: int | None = None) -> str | sql.Composed:
        """The file's query (wrapped in a ``LIMIT`` when ``limit`` is given), identifiers filled."""
        query = load_sql(self._sql_file)
        if limit is not None:
            query = f"SELECT * FROM (\n{query.strip().rstrip(';')}\n) AS preview LIMIT {int(limit)}"
        return with_identifiers(query, **self._identifiers) if self._identifiers else query

    def load(self) -> pd.DataFrame:
        query = self._query()
        try:
            with transaction(self.warehouse_url_config) as cursor:
                cursor.execute(query, self._query_params)
                columns = [column.name for column in cursor.description]
                rows = cursor.fetchall()
        except Exception as error:
            raise DatasetError(f"query '{self._sql_file}' failed: {error}".strip()) from error
        return pd.DataFrame.from_records(rows, columns=columns)

    def save(self, data: None) -> None:
        raise DatasetError(f"'{self._sql_file}' is a read-only query dataset")

    def _describe(self) -> dict[str, Any]:
        return {"sql_file": self._sql_file, "query_params": self._query_params, "identifiers": self._identifiers}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The query's first ``nrows`` rows for kedro-viz (the query wrapped in a ``LIMIT``)."""
        return query_preview(self.warehouse_url_config, self._query(limit=nrows), self._query_params or None)


class WarehouseTableDataset(WarehouseDatasetMixin, AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A warehouse table loaded with ``COPY`` inside one transaction.

    ``write_mode``:
      - ``replace``: the table holds exactly the saved rows afterwards;
      - ``append``: rows are added;
      - ``replace_runs``: rows whose ``run_column`` values appear in the saved data are
        replaced, so rerunning a run replaces its own rows and keeps every other run's.

    ``views``: ``warehouse/sql`` files that (re)create views over the table, run after the rows in
    the same transaction, so a view is never out of step with the table (with ``replace`` the table
    is dropped with its views, which these files create again).

    ``lazy``: ``load()`` returns a ``WarehouseSource`` (a reference; ``to_pandas()`` reads the table), for a
    node that only counts or queries it in PostgreSQL.

    Example::

        reservation_clusters:
          type: cripto_platform.datasets.WarehouseTableDataset
          table: reservation_clusters
          write_mode: replace_runs
          views: [reservation_clusters_latest.sql]
          credentials: warehouse
    """

    def __init__(
        self,
        *,
        table: str,
        write_mode: WriteMode = "replace",
        run_column: str = "run_id",
        views: list[str] | None = None,
        lazy: bool = False,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if write_mode not in ("replace", "append", "replace_runs"):
            raise DatasetError(
                f"table '{table}': write_mode must be replace, append or replace_runs, got '{write_mode}'"
            )
        self._table = table
        self._write_mode = write_mode
        self._run_column = run_column
        self._views = list(views or [])
        self._lazy = lazy
        self.metadata = metadata
        self._init_connection(credentials)

    def load(self) -> pd.DataFrame | WarehouseSource:
        if self._lazy:
            return WarehouseSource(name=self._table, table=self._table, url=self.warehouse_url_config)
        with self.engine.connect() as connection:
            return pd.read_sql_table(self._table, connection)

    def save(self, data: pd.DataFrame) -> None:
        if self._write_mode == "replace_runs" and self._run_column not in data.columns:
            raise DatasetError(
                f"table '{self._table}': write_mode replace_runs needs a '{self._run_column}' column"
            )
        table = sql.Identifier(self._table)
        try:
            with transaction(self.warehouse_url_config) as cursor:
                if self._write_mode == "replace":
                    drop = "DROP TABLE IF EXISTS {} CASCADE" if self._views else "DROP TABLE IF EXISTS {}"
                    cursor.execute(sql.SQL(drop).format(table))
                create_table_for(cursor, self._table, data)
                if self._write_mode == "replace_runs":
                    cursor.execute(
                        sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                            table, sql.Identifier(self._run_column)
                        ),
                        (data[self._run_column].dropna().astype(str).unique().tolist(),),
                    )
                copy_dataframe(cursor, self._table, data)
                for view in self._views:
                    cursor.execute(load_sql(view))
        except Exception as error:
            raise DatasetError(f"saving table '{self._table}' failed: {error}".strip()) from error

    def _exists(self) -> bool:
        with self.engine.connect() as connection:
            return self.engine.dialect.has_table(connection, self._table)

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "write_mode": self._write_mode, "views": self._views}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The table's first ``nrows`` rows for kedro-viz (``LIMIT``); empty before the table is written."""
        return warehouse_table_preview(self.warehouse_url_config, self._table, nrows)
