"""Clustering pipeline: sample → warehouse → ETL → model selection → clusters → warehouse."""

from kedro.pipeline import Node, Pipeline

from cripto_platform.pipelines.clustering import charts, nodes
from cripto_platform.quality.deliverables import check_deliverables_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=nodes.seed_sample_reservations,
                inputs="params:clustering.sample_data",
                outputs="reservations@sample",
                name="seed_sample_reservations",
                tags=["sample_data"],
            ),
            Node(
                func=nodes.clean_reservations,
                inputs="reservations@sql",
                outputs=["reservations_clean", "reservations_quarantine_rows"],
                name="clean_reservations",
            ),
            Node(
                func=nodes.stamp_reservations_quarantine,
                inputs=["reservations_quarantine_rows", "run_metadata"],
                outputs="reservations_quarantine",
                name="stamp_reservations_quarantine",
            ),
            Node(
                func=nodes.select_clustering_model,
                inputs=["reservations_clean", "params:clustering", "run_metadata"],
                outputs=["clustering_model", "model_selection_report"],
                name="select_clustering_model",
            ),
            Node(
                func=nodes.assign_clusters,
                inputs=["clustering_model", "reservations_clean", "run_metadata"],
                outputs="clustered_reservations",
                name="assign_clusters",
            ),
            Node(
                func=nodes.profile_clusters,
                inputs=["clustered_reservations", "params:clustering"],
                outputs="cluster_profile_report",
                name="profile_clusters",
            ),
            Node(
                func=nodes.compute_nightly_occupancy,
                inputs=["reservations_clean", "params:clustering.occupancy"],
                outputs="hotel_nightly_occupancy",
                name="compute_nightly_occupancy",
            ),
            Node(
                func=nodes.enrich_with_occupancy,
                inputs=["clustered_reservations", "hotel_nightly_occupancy"],
                outputs="reservation_clusters_history",
                name="enrich_with_occupancy",
            ),
            Node(
                func=nodes.publish_reservation_clusters,
                inputs="reservation_clusters_history",
                outputs="reservation_clusters@table",  # profiling reads reservation_clusters@profile after it
                name="publish_reservation_clusters",
            ),
            Node(
                func=charts.chart_cluster_projection,
                inputs=["clustering_model", "clustered_reservations"],
                outputs="cluster_projection_chart",
                name="chart_cluster_projection",
            ),
            Node(
                func=charts.chart_model_selection,
                inputs="model_selection_report",
                outputs="model_selection_chart",
                name="chart_model_selection",
            ),
            check_deliverables_node("clustering", "cluster_profile_report", "cluster_projection_chart",
                                    "model_selection_chart", "reservations_quarantine",
                                    reservation_clusters="reservation_clusters@latest"),
        ]
    )
