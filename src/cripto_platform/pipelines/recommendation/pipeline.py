"""Recommendation pipeline: window → metrics → co-occurrence → vectors → validated index → batch + evaluation."""

from kedro.pipeline import Node, Pipeline

from cripto_platform.pipelines.recommendation import evaluation, nodes, scoring
from cripto_platform.quality.deliverables import check_deliverables_node

MATRIX, VECTORS, INDEX = "params:recommendation.matrix", "params:recommendation.vectors", "params:recommendation.index"
EVALUATION = "params:recommendation.evaluation"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=nodes.select_payments_window,
                inputs=["payments_index", "params:recommendation.window"],
                outputs=["recommendation_payments_window", "recommendation_window"],
                name="select_payments_window",
            ),
            Node(
                func=nodes.check_payments,
                inputs=["recommendation_payments_window", "recommendation_window", "companies_l0"],
                outputs=["recommendation_payments", "recommendation_rejected_rows", "recommendation_input_summary"],
                name="check_payments",
            ),
            Node(
                func=nodes.stamp_recommendation_quarantine,
                inputs=["recommendation_rejected_rows", "run_metadata"],
                outputs="recommendation_quarantine",
                name="stamp_recommendation_quarantine",
            ),
            Node(
                func=nodes.company_metrics,
                inputs="recommendation_payments",
                outputs="company_payment_metrics",
                name="company_metrics",
            ),
            Node(
                func=nodes.client_metrics,
                inputs="recommendation_payments",
                outputs="client_payment_metrics",
                name="client_metrics",
            ),
            Node(
                func=nodes.build_client_company_matrix,
                inputs="recommendation_payments",
                outputs="client_company_matrix",
                name="build_client_company_matrix",
            ),
            Node(
                func=nodes.weigh_client_company_matrix,
                inputs=["client_company_matrix", MATRIX],
                outputs="client_company_weighted",
                name="weigh_client_company_matrix",
            ),
            Node(
                func=nodes.build_cooccurrence,
                inputs="client_company_weighted",
                outputs="company_cooccurrence_matrix",
                name="build_cooccurrence",
            ),
            Node(
                func=nodes.tabulate_cooccurrence,
                inputs=["company_cooccurrence_matrix", "client_company_matrix"],
                outputs="company_cooccurrence",
                name="tabulate_cooccurrence",
            ),
            Node(
                func=nodes.build_company_vectors,
                inputs=["client_company_matrix", "client_company_weighted", "company_cooccurrence_matrix", VECTORS],
                outputs="company_vectors",
                name="build_company_vectors",
            ),
            Node(
                func=scoring.build_index,
                inputs=["company_vectors", "company_payment_metrics", INDEX],
                outputs="company_index_candidate",
                name="build_index",
            ),
            Node(
                func=scoring.validate_company_index,
                inputs=["company_index_candidate", "company_vectors", "params:recommendation.validation"],
                outputs=["company_index", "company_index_validation"],
                name="validate_company_index",
            ),
            Node(
                func=scoring.company_neighbours,
                inputs=["company_index", INDEX],
                outputs="company_neighbour_similarity",
                name="company_neighbours",
            ),
            Node(
                func=scoring.recommend_for_clients,
                inputs=["client_company_matrix", "company_index", "company_neighbour_similarity",
                        "params:recommendation.batch"],
                outputs="client_recommendations",
                name="recommend_for_clients",
            ),
            Node(
                func=scoring.publish_client_recommendations,
                inputs=["client_recommendations", "run_metadata"],
                outputs="client_recommendations_table",
                name="publish_client_recommendations",
            ),
            Node(
                func=evaluation.split_holdout,
                inputs=["recommendation_payments", EVALUATION],
                outputs="recommendation_holdout",
                name="split_holdout",
            ),
            Node(
                func=evaluation.evaluate_svd_recommender,
                inputs=["recommendation_holdout", MATRIX, VECTORS, INDEX, EVALUATION],
                outputs="recommendation_eval_annoy_svd",
                name="evaluate_svd_recommender",
            ),
            Node(
                func=evaluation.evaluate_als_recommender,
                inputs=["recommendation_holdout", MATRIX, VECTORS, INDEX, EVALUATION],
                outputs="recommendation_eval_annoy_als",
                name="evaluate_als_recommender",
            ),
            Node(
                func=evaluation.evaluate_cosine_recommender,
                inputs=["recommendation_holdout", MATRIX, INDEX, EVALUATION],
                outputs="recommendation_eval_item_cosine",
                name="evaluate_cosine_recommender",
            ),
            Node(
                func=evaluation.evaluate_bm25_recommender,
                inputs=["recommendation_holdout", MATRIX, INDEX, EVALUATION],
                outputs="recommendation_eval_item_bm25",
                name="evaluate_bm25_recommender",
            ),
            Node(
                func=evaluation.evaluate_popularity_recommender,
                inputs=["recommendation_holdout", EVALUATION],
                outputs="recommendation_eval_popularity",
                name="evaluate_popularity_recommender",
            ),
            Node(
                func=evaluation.assemble_recommendation_evaluation,
                inputs=[
                    "recommendation_input_summary",
                    "company_index_validation",
                    "recommendation_holdout",
                    "recommendation_eval_annoy_svd",
                    "recommendation_eval_annoy_als",
                    "recommendation_eval_item_cosine",
                    "recommendation_eval_item_bm25",
                    "recommendation_eval_popularity",
                    VECTORS,
                    EVALUATION,
                    "run_metadata",
                ],
                outputs="recommendation_evaluation",
                name="assemble_recommendation_evaluation",
            ),
            Node(
                func=evaluation.chart_recommendation_evaluation,
                inputs="recommendation_evaluation",
                outputs="recommendation_evaluation_chart",
                name="chart_recommendation_evaluation",
            ),
            check_deliverables_node("recommendation", "client_payment_metrics", "company_cooccurrence",
                                    "recommendation_quarantine", "recommendation_evaluation_chart",
                                    "client_recommendations_table"),
        ]
    )
