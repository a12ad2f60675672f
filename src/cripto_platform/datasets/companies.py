"""``CompaniesDimensionDataset``: the companies dimension, upserted on ``company_code`` with its watermark."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from psycopg2 import sql

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
from cripto_platform.payments import COMPANY_COLUMNS
from cripto_platform.warehouse import copy_dataframe, load_statement, transaction
from cripto_platform.warehouse.scd2 import advance_watermark, ensure_watermark_table, lock_ddl

logger = logging.getLogger(__name__)


class CompaniesDimensionDataset(WarehouseDatasetMixin, AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """The companies dimension: ``save`` upserts on ``company_code`` (COPY + one INSERT .. ON CONFLICT)
    and records the companies' last update in the watermark table, in one transaction."""

    def __init__(
        self,
        *,
        table: str = "companies_l0",
        watermark_table: str = "etl_watermarks",
        watermark_name: str = "companies",
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = table
        self._watermark_table = watermark_table
        self._watermark_name = watermark_name
        self.metadata = metadata
        self._init_connection(credentials)

    def _ensure(self, cursor) -> None:
        lock_ddl(cursor, self._table)
        cursor.execute(load_statement("payments_companies_ddl", companies=self._table))
        ensure_watermark_table(cursor, self._watermark_table)

    def save(self, data: pd.DataFrame) -> None:
        missing = [column for column in COMPANY_COLUMNS if column not in data.columns]
        if missing:
            raise DatasetError(f"table '{self._table}': companies lack columns {missing}; expected {COMPANY_COLUMNS}")
        stage = f"{self._table}_stage_{uuid.uuid4().hex[:8]}"
        with transaction(self.warehouse_url_config) as cursor:
            self._ensure(cursor)
            cursor.execute("SET LOCAL TimeZone = 'UTC'")  # naive timestamps mean UTC, as in the merge
            cursor.execute(
                sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                    sql.Identifier(stage), sql.SQL(", ").join(map(sql.Identifier, COMPANY_COLUMNS)),
                    sql.Identifier(self._table),
                )
            )
            copy_dataframe(cursor, stage, data[COMPANY_COLUMNS])
            cursor.execute(load_statement("payments_companies_upsert", companies=self._table, stage=stage))
            changed = cursor.rowcount
            last_update = pd.to_datetime(data["updated_at"], utc=True).max()
            if pd.notna(last_update):
                advance_watermark(cursor, self._watermark_table, self._watermark_name,
                                  last_update.to_pydatetime(), None)
        logger.info("upserted %d companies into '%s' (%d inserted or changed); last update %s",
                    len(data), self._table, changed, last_update)

    def load(self) -> pd.DataFrame:
        with transaction(self.warehouse_url_config) as cursor:
            self._ensure(cursor)
            cursor.execute(sql.SQL("SELECT * FROM {} ORDER BY company_code").format(sql.Identifier(self._table)))
            columns = [column.name for column in cursor.description]
            return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table}
