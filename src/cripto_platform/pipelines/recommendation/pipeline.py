"""Recommendation pipeline: window → metrics → co-occurrence → vectors → validated index → batch + evaluation."""

from kedro.pipeline import Node, Pipeline

from cripto_platform.pipelines.recommendation import evaluation, nodes, scoring

MATRIX, VECTORS, INDEX = "params:recommendation.matrix", "params:recommendation.vectors", "params:recommendation.index"
EVALUATION = "params:recommendation.evaluation"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=nodes.select_payments_window,
                inputs=["payments_index", "params:recommendation.window"],
                outputs=["recommendation_payments_window", "recommendation_window"],
                name="select_recommendation_window",
            ),
            Node(
                func=nodes.check_payments,
                inputs=["recommendation_payments_window", "recommendation_window", "companies_l0"],
                outputs=["recommendation_payments", "recommendation_rejected_rows", "recommendation_input_summary"],
                name="check_recommendation_payments",
            ),
            Node(
                func=nodes.stamp_quarantine,
                inputs=["recommendation_rejected_rows", "run_metadata"],
                outputs="recommendation_quarantine",
                name="quarantine_recommendation_payments",
            ),
            Node(
                func=nodes.company_metrics,
                inputs="recommendation_payments",
                outputs="company_payment_metrics",
                name="compute_company_metrics",
            ),
            Node(
                func=nodes.client_metrics,
                inputs="recommendation_payments",
                outputs="client_payment_metrics",
                name="compute_client_metrics",
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
                name="build_company_cooccurrence",
            ),
            Node(
                func=nodes.cooccurrence_table,
                inputs=["company_cooccurrence_matrix", "client_company_matrix"],
                outputs="company_cooccurrence",
                name="tabulate_company_cooccurrence",
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
                name="build_company_index",
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
                name="compute_company_neighbours",
            ),
            Node(
                func=scoring.recommend_for_clients,
                inputs=["client_company_matrix", "company_index", "company_neighbour_similarity",
                        "params:recommendation.batch"],
                outputs="client_recommendations",
                name="recommend_for_clients",
            ),
            Node(
                func=scoring.to_warehouse_rows,
                inputs=["client_recommendations", "run_metadata"],
                outputs="client_recommendations_table",
                name="publish_client_recommendations",
            ),
            Node(
                func=evaluation.split_holdout,
                inputs=["recommendation_payments", EVALUATION],
                outputs="recommendation_holdout",
                name="split_recommendation_holdout",
            ),
            Node(
                func=evaluation.evaluate_svd_recommender,
                inputs=["recommendation_holdout", MATRIX, VECTORS, INDEX, EVALUATION],
                outputs="recommendation_eval_annoy_svd",
                name="evaluate_annoy_svd",
            ),
            Node(
                func=evaluation.evaluate_als_recommender,
                inputs=["recommendation_holdout", MATRIX, VECTORS, INDEX, EVALUATION],
                outputs="recommendation_eval_annoy_als",
                name="evaluate_annoy_als",
            ),
            Node(
                func=evaluation.evaluate_cosine_recommender,
                inputs=["recommendation_holdout", MATRIX, INDEX, EVALUATION],
                outputs="recommendation_eval_item_cosine",
                name="evaluate_item_cosine",
            ),
            Node(
                func=evaluation.evaluate_bm25_recommender,
                inputs=["recommendation_holdout", MATRIX, INDEX, EVALUATION],
                outputs="recommendation_eval_item_bm25",
                name="evaluate_item_bm25",
            ),
            Node(
                func=evaluation.evaluate_popularity_recommender,
                inputs=["recommendation_holdout", EVALUATION],
                outputs="recommendation_eval_popularity",
                name="evaluate_popularity",
            ),
            Node(
                func=evaluation.assemble_evaluation_report,
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
                func=evaluation.evaluation_chart,
                inputs="recommendation_evaluation",
                outputs="recommendation_evaluation_chart",
                name="chart_recommendation_evaluation",
            ),
        ]
    )
