"""``EtlWatermarkDataset``: one row of the ETL watermark table (the last update a source was read to)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from psycopg2 import sql

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
from cripto_platform.warehouse import transaction
from cripto_platform.warehouse.scd2 import advance_watermark, ensure_watermark_table


class EtlWatermarkDataset(WarehouseDatasetMixin, AbstractDataset[dict, dict]):
    """One row of the ETL control table: ``{"name", "last_update" (ISO or None), "run_id"}``."""

    def __init__(
        self,
        *,
        name: str,
        table: str = "etl_watermarks",
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._table = table
        self.metadata = metadata
        self._init_connection(credentials)

    def load(self) -> dict:
        with transaction(self.warehouse_url_config) as cursor:
            ensure_watermark_table(cursor, self._table)
            cursor.execute(
                sql.SQL("SELECT last_update, run_id FROM {} WHERE name = %s").format(sql.Identifier(self._table)),
                (self._name,),
            )
            row = cursor.fetchone()
        last = pd.Timestamp(row[0]).tz_convert("UTC").isoformat() if row else None
        return {"name": self._name, "table": self._table, "last_update": last, "run_id": row[1] if row else None}

    def save(self, data: dict) -> None:
        if not data.get("last_update"):
            raise DatasetError(f"watermark '{self._table}.{self._name}': 'last_update' is required")
        with transaction(self.warehouse_url_config) as cursor:
            ensure_watermark_table(cursor, self._table)
            advance_watermark(cursor, self._table, self._name, pd.Timestamp(data["last_update"]).to_pydatetime(),
                              data.get("run_id"))

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "name": self._name}
