"""The tables the profiling pipeline can profile: one namespaced pipeline each (see ``pipeline.py``).

Kedro builds pipelines before it reads parameters (``create_pipeline`` gets none), so the
*candidates* live here, in code, and ``params:profiling.tables`` chooses which of them are profiled
in a run (a candidate left out is reported as ``skipped`` without reading it). Adding a table means
one line here and its lazy source in ``conf/base/catalog_profiling.yml`` (for a lake table, an entry under
``ingestion_lake_tables``'s ``tables``).

``source`` is the lazy handle the profile node reads; ``after`` are datasets loaded only so Kedro
orders the node after the table's writer. Lake tables: ``<table>_scan``, the table's entry of
``ingestion_lake_tables`` (``LakeTablesDataset``: the ingestion run's record of the tables it wrote, saved
after every writer, loaded as a lazy scan per table), handed to each branch by ``open_lake_tables``; loading
the record orders every lake profile after the writes (with ``--pipeline profiling`` alone it is the last
run's; a table with no version yet is reported ``missing``). Warehouse tables: a ``WarehouseSourceDataset``;
one named ``<table>@profile`` is a transcoded view of the writer's own dataset (``payments_l0@scd2``,
``reservations@sample``, ``reservation_clusters@table``), which orders it for free.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfiledTable:
    name: str  # the catalog dataset (or warehouse table) profiled: the report's name
    kind: str  # lake | warehouse
    source: str
    after: tuple[str, ...] = ()


CANDIDATES: tuple[ProfiledTable, ...] = (
    *(ProfiledTable(name, "lake", f"{name}_scan") for name in (
        "kaggle_credit_risk", "kaggle_motor_temperature", "kaggle_citesum_papers", "kaggle_citesum_summaries",
        "kaggle_citesum_paper_categories", "crypto_candles_silver", "crypto_daily_features", "sales_zones",
        "sales_products", "sales_points_of_sale", "sales_facts", "sales_monthly_features")),
    ProfiledTable("payments_l0", "warehouse", "payments_l0@profile"),
    # companies_l0 is upserted before payments are validated, so before payments_l0's merge.
    ProfiledTable("companies_l0", "warehouse", "companies_l0_table", after=("payments_l0@profile",)),
    ProfiledTable("reservations", "warehouse", "reservations@profile"),
    ProfiledTable("reservation_clusters", "warehouse", "reservation_clusters@profile"),
)

NAMES: tuple[str, ...] = tuple(table.name for table in CANDIDATES)
