"""``EtlWatermarkDataset``: one row of the ETL watermark table (the last update a source was read to).

A checkpoint in the sense of Kedro's ``IncrementalDataset``: the node that loads the source declares
``confirms=<this dataset>``, and Kedro calls ``confirm()`` once that node's outputs are saved. ``confirm``
advances the watermark to the position the committed data itself records (``confirm_sql``: for payments,
the last merged window end in the merge log), never backwards. The committed record stays the authority:
a crash between the load's commit and the confirmation leaves the watermark behind, and the next run
re-reads that window (the payments merge is idempotent: unchanged rows write nothing).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
from kedro.io import AbstractDataset, DatasetError
from psycopg2 import sql

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
from cripto_platform.run_metadata import utc_timestamp
from cripto_platform.warehouse import load_statement, transaction
from cripto_platform.warehouse.watermarks import advance_watermark, ensure_watermark_table

logger = logging.getLogger(__name__)


class EtlWatermarkDataset(WarehouseDatasetMixin, AbstractDataset[dict, dict]):
    """One row of the ETL control table: ``{"name", "table", "last_update" (ISO or None), "run_id"}``.

    ``save`` and ``confirm`` only move it forward. ``confirm_sql`` (a ``warehouse/sql`` file returning one
    row ``(last_update, run_id)``, with ``identifiers`` and ``query_params`` as in
    ``WarehouseQueryDataset``) is where the committed data says the source has been read to.

    Example::

        payments_watermark:
          type: cripto_platform.datasets.EtlWatermarkDataset
          table: etl_watermarks
          name: payments
          confirm_sql: payments_merged_until.sql
          identifiers: {merge_log: etl_merge_log}
          query_params: {table_name: payments_l0}
          credentials: warehouse
    """

    def __init__(
        self,
        *,
        name: str,
        table: str = "etl_watermarks",
        confirm_sql: str | None = None,
        identifiers: dict[str, str] | None = None,
        query_params: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._table = table
        self._confirm_sql = confirm_sql
        self._identifiers = dict(identifiers or {})
        self._query_params = dict(query_params or {})
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
        last = utc_timestamp(row[0]).isoformat() if row else None
        return {"name": self._name, "table": self._table, "last_update": last, "run_id": row[1] if row else None}

    def save(self, data: dict) -> None:
        if not data.get("last_update"):
            raise DatasetError(f"watermark '{self._table}.{self._name}': 'last_update' is required")
        with transaction(self.warehouse_url_config) as cursor:
            ensure_watermark_table(cursor, self._table)
            advance_watermark(cursor, self._table, self._name, utc_timestamp(data["last_update"]).to_pydatetime(),
                              data.get("run_id"))

    def confirm(self) -> None:
        """Advance the watermark to the committed position (``confirm_sql``); Kedro calls it after the node
        that declares ``confirms=`` has saved its outputs. Nothing committed yet: the watermark stays."""
        if self._confirm_sql is None:
            raise DatasetError(f"watermark '{self._table}.{self._name}': confirm() needs confirm_sql")
        with transaction(self.warehouse_url_config) as cursor:
            ensure_watermark_table(cursor, self._table)
            cursor.execute("SAVEPOINT position")
            try:
                cursor.execute(load_statement(self._confirm_sql, **self._identifiers), self._query_params)
            except psycopg2.errors.UndefinedTable:  # the loaded table is not created yet: nothing committed
                cursor.execute("ROLLBACK TO SAVEPOINT position")
                return
            row = cursor.fetchone()
            if row is None or row[0] is None:
                return
            moved = advance_watermark(cursor, self._table, self._name, row[0], row[1])
        logger.info("watermark '%s' %s %s", self._name, "confirmed at" if moved else "already at or past",
                    utc_timestamp(row[0]).isoformat())

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "name": self._name, "confirm_sql": self._confirm_sql}
