"""Payments pipeline: bucket → companies → watermark window → batch → landing → SCD2 merge → index.

The companies upsert and the SCD2 merge confirm their watermarks (``confirms``): Kedro calls the watermark
dataset's ``confirm()`` once the node's outputs are saved, i.e. after the warehouse commit.
"""

from kedro.pipeline import Node, Pipeline

from cripto_platform.pipelines.payments import charts, nodes
from cripto_platform.quality.deliverables import check_deliverables_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=nodes.ensure_landing_bucket,
                inputs="params:payments.landing",
                outputs="payments_landing_bucket",
                name="ensure_landing_bucket",
            ),
            Node(
                func=nodes.fetch_companies,
                inputs=["params:payments.source", "params:payments.sample_data", "payments_api"],
                outputs="companies_raw",
                name="fetch_companies",
            ),
            Node(
                func=nodes.prepare_companies,
                inputs="companies_raw",
                outputs="companies_l0",
                name="prepare_companies",
                confirms="companies_watermark",
            ),
            Node(
                func=nodes.compute_payments_window,
                inputs=["payments_watermark", "params:payments.window", "run_metadata"],
                outputs="payments_window",
                name="compute_payments_window",
            ),
            Node(
                func=nodes.fetch_payments_batch,
                inputs=["payments_window", "params:payments.source", "params:payments.sample_data", "payments_api"],
                outputs="payments_batch_raw",
                name="fetch_payments_batch",
            ),
            Node(
                func=nodes.land_payments_batch,
                inputs=["payments_batch_raw", "payments_window", "payments_landing_bucket", "run_metadata"],
                outputs="payments_landing",
                name="land_payments_batch",
            ),
            Node(
                func=nodes.validate_payments_batch,
                inputs=["payments_batch_raw", "companies_l0"],
                outputs=["payments_batch_valid", "payments_quarantine_rows"],
                name="validate_payments_batch",
            ),
            Node(
                func=nodes.stamp_payments_quarantine,
                inputs=["payments_quarantine_rows", "run_metadata"],
                outputs="payments_quarantine",
                name="stamp_payments_quarantine",
            ),
            Node(
                func=nodes.deduplicate_payments,
                inputs="payments_batch_valid",
                outputs=["payments_batch", "payments_batch_duplicates"],
                name="deduplicate_payments",
            ),
            Node(
                func=nodes.build_payments_merge,
                inputs=[
                    "payments_batch",
                    "payments_window",
                    "params:payments.merge",
                    "run_metadata",
                    "payments_quarantine_rows",
                    "payments_batch_duplicates",
                ],
                outputs="payments_l0@scd2",
                name="build_payments_merge",
                confirms="payments_watermark",
            ),
            Node(
                func=nodes.report_payments_merge,
                inputs=["payments_l0@merges", "run_metadata"],
                outputs="payments_merge_report",
                name="report_payments_merge",
            ),
            Node(
                func=nodes.extract_payments_index,
                inputs=["payments_l0@current", "payments_window", "params:payments.index"],
                outputs="payments_index_candidate",
                name="extract_payments_index",
            ),
            Node(
                func=nodes.validate_payments_index,
                inputs=["payments_index_candidate", "payments_window", "params:payments.index"],
                outputs="payments_index",
                name="validate_payments_index",
            ),
            Node(
                func=nodes.mark_payments_landing_merged,
                inputs=["payments_merge_report", "payments_window", "run_metadata"],
                outputs="payments_landing_merged",
                name="mark_payments_landing_merged",
            ),
            Node(
                func=charts.chart_payments_merges,
                inputs="payments_l0@merges",
                outputs="payments_merge_chart",
                name="chart_payments_merges",
            ),
            check_deliverables_node("payments", "payments_landing", "payments_landing_merged", "payments_merge_chart",
                                    "payments_quarantine", "payments_index"),
        ]
    )
