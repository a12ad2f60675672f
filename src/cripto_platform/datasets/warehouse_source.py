"""A warehouse table as a lazy reference (``WarehouseSource``): load runs no query."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from cripto_platform.datasets._preview import warehouse_table_preview

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
from cripto_platform.profiling.sources import WarehouseSource


class WarehouseSourceDataset(WarehouseDatasetMixin, AbstractDataset[None, WarehouseSource]):
    """Read-only: a reference to ``table`` on the configured warehouse, for SQL-side profiling.

    Example::

        "{table}@profile":
          type: cripto_platform.datasets.warehouse_source.WarehouseSourceDataset
          table: "{table}"
          credentials: warehouse
    """

    def __init__(
        self,
        *,
        table: str,
        name: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = table
        self._name = name or table
        self.metadata = metadata
        self._init_connection(credentials)

    def load(self) -> WarehouseSource:
        return WarehouseSource(name=self._name, table=self._table, url=self.warehouse_url_config)

    def save(self, data: None) -> None:
        raise DatasetError(f"'{self._table}' source is read-only: the table is written by its own dataset")

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "name": self._name}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The table's first ``nrows`` rows for kedro-viz (``LIMIT``); empty before the table is written."""
        return warehouse_table_preview(self.warehouse_url_config, self._table, nrows)
