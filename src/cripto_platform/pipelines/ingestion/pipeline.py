"""Ingestion pipeline: Kaggle raw/processed, crypto bronze/silver/gold, sales lake + warehouse.

Each lake table loads lazily (a handle on its files, no row read) and is read back by two last nodes:
``record_lake_tables`` writes ``ingestion_lake_tables``, which the profiling pipeline loads, so its profiles run
after every write; ``check_deliverables`` fails the run when a deliverable is empty or a source went mostly to
quarantine (rules: ``ingestion.deliverables``). Both look at the version the run wrote.
"""

from kedro.pipeline import Node, Pipeline

from cripto_platform.pipelines.ingestion import common, crypto_nodes, kaggle_nodes, sales_nodes
from cripto_platform.quality.deliverables import check_deliverables_node

CSV_TABLES = ("credit_risk", "motor_temperature")
# The lake tables this pipeline writes.
LAKE_TABLES = (
    *(f"kaggle_{name}" for name in CSV_TABLES), *kaggle_nodes.CITESUM_TABLES,
    "crypto_candles_silver", "crypto_daily_features", *sales_nodes.SALES_TABLES, "sales_monthly_features",
)
QUARANTINES = ("credit_risk_quarantine", "motor_temperature_quarantine", "citesum_quarantine", "sales_quarantine")


def _csv_table() -> Pipeline:
    """One raw Kaggle CSV to a typed, partitioned table plus its quarantine (reused per dataset).

    The table is streamed: the first node returns a lazy typed stream that the lake dataset reads while it
    writes the parquet, so memory holds a few chunks, not the file; the stream's quarantine is complete
    only then, so a second node saves it, with the table's "written" marker, after the table.
    """
    return Pipeline(
        [
            Node(
                func=kaggle_nodes.stream_csv_table,
                inputs=["kaggle_raw", "ingestion_version", "params:table"],
                outputs=["processed", "csv_stream"],
                name="stream_csv_table",
            ),
            Node(
                func=kaggle_nodes.collect_csv_quarantine,
                inputs="csv_stream",
                outputs="quarantine",
                name="collect_csv_quarantine",
            ),
        ]
    )


def _kaggle() -> Pipeline:
    csv_tables = [
        Pipeline(
            _csv_table(),
            namespace=name,
            inputs={"kaggle_raw", "ingestion_version"},
            outputs={"processed": f"kaggle_{name}", "quarantine": f"{name}_quarantine",
                     "csv_stream": f"kaggle_{name}_stream"},
            parameters={"params:table": f"params:ingestion.kaggle.datasets.{name}"},
        )
        for name in CSV_TABLES
    ]
    return Pipeline(
        [
            Node(
                func=kaggle_nodes.download_kaggle_datasets,
                inputs=["params:ingestion.kaggle", "ingestion_version"],
                outputs="kaggle_raw",
                name="download_kaggle_datasets",
            ),
            *csv_tables,
            Node(
                func=kaggle_nodes.process_citesum,
                inputs=["kaggle_raw", "ingestion_version", "params:ingestion.kaggle.datasets.citesum"],
                outputs=[*kaggle_nodes.CITESUM_TABLES, "citesum_quarantine"],
                name="process_citesum",
            ),
        ]
    )


def _crypto() -> Pipeline:
    return Pipeline(
        [
            Node(
                func=crypto_nodes.select_previous_crypto_silver,
                inputs=["crypto_candles_silver_previous", "ingestion_version"],
                outputs="crypto_candles_silver_before",
                name="select_previous_crypto_silver",
            ),
            Node(
                func=crypto_nodes.plan_crypto_fetch,
                inputs=["crypto_candles_silver_before", "params:ingestion.crypto", "ingestion_version"],
                outputs="crypto_fetch_plan",
                name="plan_crypto_fetch",
            ),
            Node(
                func=crypto_nodes.fetch_crypto_candles,
                inputs=["crypto_fetch_plan", "params:ingestion.crypto", "ingestion_version"],
                outputs=["crypto_klines_bronze", "crypto_fetched_keys"],
                name="fetch_crypto_candles",
            ),
            Node(
                func=crypto_nodes.build_crypto_silver,
                inputs=["crypto_klines_bronze", "crypto_fetched_keys", "crypto_candles_silver_before", "ingestion_version"],
                outputs="crypto_candles_silver_run",
                name="build_crypto_silver",
            ),
            Node(
                func=crypto_nodes.store_crypto_silver,
                inputs=["crypto_candles_silver_run"],
                outputs="crypto_candles_silver",
                name="store_crypto_silver",
            ),
            Node(
                func=crypto_nodes.detect_crypto_gaps,
                inputs=["crypto_candles_silver_run", "ingestion_version"],
                outputs="crypto_gaps_report",
                name="detect_crypto_gaps",
            ),
            Node(
                func=crypto_nodes.build_crypto_daily_features,
                inputs=["crypto_candles_silver_run", "params:ingestion.crypto.features", "ingestion_version"],
                outputs="crypto_daily_features",
                name="build_crypto_daily_features",
            ),
        ]
    )


def _sales() -> Pipeline:
    # process_sales hands this run's tables ({version: frame}) to the lake, the warehouse and the
    # features in memory, so every step uses the version the run writes, whatever else is on disk.
    tables = ["sales_zones_run", "sales_products_run", "sales_points_of_sale_run", "sales_facts_run"]
    return Pipeline(
        [
            Node(
                func=sales_nodes.collect_sales_files,
                inputs=["sales_source", "params:ingestion.sales", "ingestion_version"],
                outputs="sales_raw",
                name="collect_sales_files",
            ),
            Node(
                func=sales_nodes.process_sales,
                inputs=["sales_raw", "ingestion_version", "params:ingestion.sales"],
                outputs=[*tables, "sales_quarantine"],
                name="process_sales",
            ),
            Node(
                func=sales_nodes.store_sales_tables,
                inputs=tables,
                outputs=list(sales_nodes.SALES_TABLES),
                name="store_sales_tables",
            ),
            Node(
                func=sales_nodes.build_sales_warehouse,
                inputs=[*tables, "ingestion_version"],
                outputs="sales_warehouse",
                name="build_sales_warehouse",
            ),
            Node(
                func=sales_nodes.build_monthly_sales_features,
                inputs=["sales_facts_run", "sales_points_of_sale_run", "sales_products_run", "ingestion_version"],
                outputs="sales_monthly_features",
                name="build_monthly_sales_features",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    flows = Pipeline([_kaggle(), _crypto(), _sales()])
    return Pipeline(
        [
            Node(
                func=common.resolve_ingestion_version,
                inputs=["params:ingestion.version", "run_metadata"],
                outputs="ingestion_version",
                name="resolve_ingestion_version",
            ),
            flows,
            Node(
                func=common.record_lake_tables,
                inputs={"version": "ingestion_version", **{table: table for table in LAKE_TABLES}},
                outputs="ingestion_lake_tables",
                name="record_lake_tables",
            ),
            check_deliverables_node("ingestion", *LAKE_TABLES, "crypto_gaps_report", *QUARANTINES,
                                    "ingestion_lake_tables", "sales_warehouse", run_version="ingestion_version"),
        ]
    )
