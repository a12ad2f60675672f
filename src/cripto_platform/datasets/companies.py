"""``CompaniesDimensionDataset``: the companies dimension, upserted on ``company_code``.

The companies watermark is not written here: the node that saves this dataset confirms
``companies_watermark`` (``EtlWatermarkDataset.confirm``: the newest ``updated_at`` of the committed table).
"""

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
from cripto_platform.warehouse.loading import lock_ddl

logger = logging.getLogger(__name__)


class CompaniesDimensionDataset(WarehouseDatasetMixin, AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """The companies dimension: ``save`` upserts on ``company_code`` (COPY + one INSERT .. ON CONFLICT)
    in one transaction; ``load`` is the table."""

    def __init__(
        self,
        *,
        table: str = "companies_l0",
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = table
        self.metadata = metadata
        self._init_connection(credentials)

    def _ensure(self, cursor) -> None:
        lock_ddl(cursor, self._table)
        cursor.execute(load_statement("payments_companies_ddl", companies=self._table))

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
        logger.info("upserted %d companies into '%s' (%d inserted or changed); last update %s",
                    len(data), self._table, changed, pd.to_datetime(data["updated_at"], utc=True).max())

    def load(self) -> pd.DataFrame:
        with transaction(self.warehouse_url_config) as cursor:
            self._ensure(cursor)
            cursor.execute(sql.SQL("SELECT * FROM {} ORDER BY company_code").format(sql.Identifier(self._table)))
            columns = [column.name for column in cursor.description]
            return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table}
