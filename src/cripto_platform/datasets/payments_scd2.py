"""``PaymentsSCD2Dataset``: a payment batch SCD2-merged into the warehouse, in one transaction.

The merge itself (steps, SQL, change rule) is ``cripto_platform.warehouse.scd2``; this dataset
only opens the transaction, hands the batch to ``merge_payments_scd2`` and logs its counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from psycopg2 import sql

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin
from cripto_platform.warehouse import transaction
from cripto_platform.warehouse.scd2 import ensure_payments_tables, merge_payments_scd2

logger = logging.getLogger(__name__)


class PaymentsSCD2Dataset(WarehouseDatasetMixin, AbstractDataset[dict, pd.DataFrame]):
    """``save`` SCD2-merges a batch and advances the watermark in one transaction; ``load`` is the merge log.

    The saved value is a dict (built by the ``build_payments_merge`` node)::

        {"rows": DataFrame (one row per key), "batch_id": str, "run_id": str, "effective_at": ts,
         "watermark": ts, "missing_keys": "ignore" | "invalidate", "max_invalidated_share": float | None,
         "duplicates": int, "quarantined": int}

    A batch older than the last merged one fails with ``LateBatchError`` (nothing written).

    Example::

        payments_l0@scd2:
          type: cripto_platform.datasets.PaymentsSCD2Dataset
          table: payments_l0
          credentials: warehouse
    """

    def __init__(
        self,
        *,
        table: str = "payments_l0",
        watermark_table: str = "etl_watermarks",
        watermark_name: str = "payments",
        merge_log_table: str = "etl_merge_log",
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = table
        self._watermark_table = watermark_table
        self._watermark_name = watermark_name
        self._merge_log_table = merge_log_table
        self.metadata = metadata
        self._init_connection(credentials)
        self.on_step: Callable[[str], None] | None = None  # tests inject failures here

    def save(self, data: dict) -> None:
        if not isinstance(data, dict) or "rows" not in data:
            raise DatasetError(f"'{self._table}': expected a merge batch dict with 'rows', got {type(data).__name__}")
        started = time.perf_counter()
        with transaction(self.warehouse_url_config) as cursor:
            counts = merge_payments_scd2(
                cursor,
                data["rows"],
                effective_at=data["effective_at"],
                batch_id=data["batch_id"],
                run_id=data.get("run_id"),
                missing_keys=data.get("missing_keys", "ignore"),
                watermark=data.get("watermark"),
                watermark_name=self._watermark_name,
                duplicates=data.get("duplicates", 0),
                quarantined=data.get("quarantined", 0),
                table=self._table,
                watermark_table=self._watermark_table,
                merge_log_table=self._merge_log_table,
                max_invalidated_share=data.get("max_invalidated_share"),
                on_step=self.on_step,
            )
        logger.info(
            "merged %d payments into '%s' in %.2fs: %d new, %d changed (closed %d), %d unchanged, "
            "%d invalidated; watermark '%s' -> %s",
            counts["staged"], self._table, time.perf_counter() - started, counts["inserted_new"],
            counts["inserted_changed"], counts["closed_changed"], counts["unchanged"], counts["invalidated"],
            self._watermark_name, counts["watermark"],
        )

    def load(self) -> pd.DataFrame:
        query = sql.SQL("SELECT * FROM {} WHERE table_name = %s ORDER BY merged_at").format(
            sql.Identifier(self._merge_log_table)
        )
        with transaction(self.warehouse_url_config) as cursor:
            ensure_payments_tables(cursor, self._table, self._watermark_table, self._merge_log_table)
            cursor.execute(query, (self._table,))
            columns = [column.name for column in cursor.description]
            return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "watermark": f"{self._watermark_table}.{self._watermark_name}"}
