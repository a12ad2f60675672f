"""``PaymentsSCD2Dataset``: the payments SCD2 table; a save merges a batch into it, in one transaction.

The merge itself (steps, SQL, change rule) is ``cripto_platform.warehouse.scd2``; this dataset only
opens the transaction, hands the batch to ``merge_payments_scd2`` and logs its counts. Its load is the
table it merges into (every version). The table's merge log is another view of it
(``payments_l0@merges``, a ``WarehouseQueryDataset``), and the payments watermark is confirmed from
that log after the merge (``EtlWatermarkDataset.confirm``), not written here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from cripto_platform.datasets.warehouse import WarehouseDatasetMixin, WarehouseQueryDataset
from cripto_platform.warehouse import transaction
from cripto_platform.warehouse.scd2 import ensure_payments_tables, merge_payments_scd2

logger = logging.getLogger(__name__)


class PaymentsSCD2Dataset(WarehouseDatasetMixin, AbstractDataset[dict, pd.DataFrame]):
    """``save`` SCD2-merges a batch (new versions + a merge log row, one transaction); ``load`` is the
    table: every version of every payment (``warehouse/sql/payments_versions.sql``).

    The saved value is a dict (built by the ``build_payments_merge`` node)::

        {"rows": DataFrame (one row per key), "batch_id": str, "run_id": str, "effective_at": ts,
         "watermark": ts (the window's end, logged), "missing_keys": "ignore" | "invalidate",
         "max_invalidated_share": float | None, "duplicates": int, "quarantined": int}

    A batch older than the last merged one fails with ``LateBatchError`` (nothing written).

    Example::

        payments_l0@scd2:
          type: cripto_platform.datasets.PaymentsSCD2Dataset
          table: payments_l0
          merge_log_table: etl_merge_log
          credentials: warehouse
    """

    def __init__(
        self,
        *,
        table: str = "payments_l0",
        merge_log_table: str = "etl_merge_log",
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = table
        self._merge_log_table = merge_log_table
        self.metadata = metadata
        self._init_connection(credentials)
        self._versions = WarehouseQueryDataset(
            sql_file="payments_versions.sql", identifiers={"payments": table}, credentials=credentials
        )
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
                duplicates=data.get("duplicates", 0),
                quarantined=data.get("quarantined", 0),
                table=self._table,
                merge_log_table=self._merge_log_table,
                max_invalidated_share=data.get("max_invalidated_share"),
                on_step=self.on_step,
            )
        logger.info(
            "merged %d payments into '%s' in %.2fs: %d new, %d changed (closed %d), %d unchanged, "
            "%d invalidated; merged up to %s",
            counts["staged"], self._table, time.perf_counter() - started, counts["inserted_new"],
            counts["inserted_changed"], counts["closed_changed"], counts["unchanged"], counts["invalidated"],
            counts["watermark"],
        )

    def _ensure(self) -> None:
        with transaction(self.warehouse_url_config) as cursor:
            ensure_payments_tables(cursor, self._table, self._merge_log_table)

    def load(self) -> pd.DataFrame:
        self._ensure()  # before the first merge: an empty table, not an error
        return self._versions.load()

    def preview(self, nrows: int = 20) -> TablePreview:
        """The first ``nrows`` versions for kedro-viz."""
        self._ensure()
        return self._versions.preview(nrows=nrows)

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "merge_log": self._merge_log_table}
