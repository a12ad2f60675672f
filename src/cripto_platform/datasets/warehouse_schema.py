"""Related warehouse tables (keys and foreign keys from a ``.sql`` DDL file) loaded together with COPY."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
from cripto_platform.warehouse import copy_dataframe, load_sql, transaction


class WarehouseSchemaDataset(WarehouseDatasetMixin, AbstractDataset[dict, dict]):
    """Tables created by ``warehouse/sql/<ddl_file>`` and filled in ``tables`` order, in one transaction.

    Saving ``{table: frame}`` runs the DDL (which drops and recreates the tables with their
    PRIMARY KEY and FOREIGN KEY constraints), then COPYs each frame; any error rolls back the
    whole save, so the previous tables stay as they were. Loading returns ``{table: frame}``.

    Example::

        sales_warehouse:
          type: cripto_platform.datasets.WarehouseSchemaDataset
          ddl_file: sales_schema.sql
          tables: [zone_catalog, product_catalog, point_of_sale_catalog, sales_fact]
          credentials: warehouse
    """

    def __init__(
        self,
        *,
        ddl_file: str,
        tables: list[str],
        lazy: bool = False,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._ddl_file = ddl_file
        self._tables = list(tables)
        self._lazy = lazy
        self.metadata = metadata
        self._init_connection(credentials)

    def load(self) -> dict[str, Any]:
        """``{table: frame}``; with ``lazy``, ``{table: WarehouseSource}`` (references: ``to_pandas()`` reads one)."""
        if self._lazy:
            from cripto_platform.profiling.sources import WarehouseSource

            return {table: WarehouseSource(name=table, table=table, url=self.warehouse_url_config)
                    for table in self._tables}
        with self.engine.connect() as connection:
            return {table: pd.read_sql_table(table, connection) for table in self._tables}

    def save(self, data: dict[str, pd.DataFrame]) -> None:
        missing = [table for table in self._tables if table not in data]
        unexpected = [table for table in data if table not in self._tables]
        if missing or unexpected:
            raise DatasetError(
                f"'{self._ddl_file}': expected tables {self._tables}; missing {missing}, unexpected {unexpected}"
            )
        try:
            with transaction(self.warehouse_url_config) as cursor:
                cursor.execute(load_sql(self._ddl_file))
                for table in self._tables:
                    copy_dataframe(cursor, table, data[table])
        except Exception as error:
            raise DatasetError(f"loading '{self._ddl_file}' tables failed: {error}".strip()) from error

    def _exists(self) -> bool:
        with self.engine.connect() as connection:
            return all(self.engine.dialect.has_table(connection, table) for table in self._tables)

    def _describe(self) -> dict[str, Any]:
        return {"ddl_file": self._ddl_file, "tables": self._tables}
