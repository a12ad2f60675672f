"""ETL watermarks (``etl_watermarks``): how far each source has been read, one row per source.

A watermark is a checkpoint, not the record of what was loaded: the loads keep their own record (the
payments merge log, the companies table), and a watermark is confirmed to it after the load committed
(Kedro's ``confirms``, ``EtlWatermarkDataset.confirm``). ``advance_watermark`` only ever moves it forward.
"""

from __future__ import annotations

from datetime import datetime

from cripto_platform.warehouse.loading import load_statement, lock_ddl


def ensure_watermark_table(cursor, watermarks: str) -> None:
    """Create the ETL watermark table when missing."""
    lock_ddl(cursor, watermarks)
    cursor.execute(load_statement("etl_watermarks_ddl", watermarks=watermarks))


def advance_watermark(cursor, watermarks: str, name: str, last_update: datetime, run_id: str | None) -> bool:
    """Move the watermark ``name`` to ``last_update`` unless it is already there or later; True when it moved."""
    cursor.execute(
        load_statement("etl_advance_watermark", watermarks=watermarks),
        {"name": name, "last_update": last_update, "run_id": run_id},
    )
    return cursor.rowcount == 1
