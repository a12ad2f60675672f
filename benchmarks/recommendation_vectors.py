"""Company vectors compared side by side: SVD and ALS settings against implicit's item-item and popularity.

Reads a ``payments_index`` parquet (by default the one ``kedro run --pipeline payments`` wrote under
``data/``), applies the recommendation pipeline's window and checks with the shipped parameters, and
evaluates every configuration with the pipeline's own evaluation nodes on both holdout modes. Prints a
markdown table of precision@k and its ratio to implicit's ``CosineRecommender``.

    kedro run --pipeline payments
    python benchmarks/recommendation_vectors.py [--payments-index data/04_feature/payments_index.parquet]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd
import yaml

from cripto_platform.pipelines.recommendation import evaluation, nodes
from cripto_platform.pipelines.recommendation.params import BLOCKS

ROOT = Path(__file__).resolve().parents[1]
# (label, matrix overrides, vector overrides)
CONFIGS = [
    ("svd cosine 16", {"weighting": "cosine"}, {"method": "svd", "vector_dim": 16}),
    ("svd cosine 32", {"weighting": "cosine"}, {"method": "svd", "vector_dim": 32}),
    ("svd cosine 64", {"weighting": "cosine"}, {"method": "svd", "vector_dim": 64}),
    ("svd tfidf 64", {"weighting": "tfidf"}, {"method": "svd", "vector_dim": 64}),
    ("svd bm25 32", {"weighting": "bm25"}, {"method": "svd", "vector_dim": 32}),
    ("svd cosine 16 + metrics 0.5", {"weighting": "cosine"}, {"method": "svd", "vector_dim": 16, "metrics_weight": 0.5}),
    ("svd cosine 64 + metrics 0.25", {"weighting": "cosine"}, {"method": "svd", "vector_dim": 64, "metrics_weight": 0.25}),
    ("als cosine 64 reg 1", {"weighting": "cosine"}, {"method": "als", "vector_dim": 64, "als_regularization": 1.0}),
    ("als cosine 64 reg 30", {"weighting": "cosine"}, {"method": "als", "vector_dim": 64, "als_regularization": 30.0}),
    ("als cosine 64 reg 100 (shipped)", {"weighting": "cosine"}, {"method": "als", "vector_dim": 64,
                                                                 "als_regularization": 100.0}),
    ("als tfidf 64 reg 100", {"weighting": "tfidf"}, {"method": "als", "vector_dim": 64, "als_regularization": 100.0}),
    ("als bm25 64 reg 100", {"weighting": "bm25"}, {"method": "als", "vector_dim": 64, "als_regularization": 100.0}),
]


def shipped() -> dict:
    return yaml.safe_load((ROOT / "conf/base/parameters_recommendation.yml").read_text())["recommendation"]


def typed(raw: dict, block: str, **overrides):
    return BLOCKS[block](**{**raw[block], **overrides})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments-index", default=str(ROOT / "data/04_feature/payments_index.parquet"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    raw = shipped()
    payments = pd.read_parquet(args.payments_index)
    companies = pd.DataFrame({"company_code": sorted(payments["company_code"].dropna().unique())})
    usable = nodes.check_payments(*nodes.select_payments_window(payments, typed(raw, "window")), companies)[0]
    index = typed(raw, "index")
    columns: dict[str, dict[str, str]] = {}
    for by in ("days", "last"):
        holdout_params = {**raw["evaluation"]["holdout"], "by": by}
        eval_params = typed(raw, "evaluation", holdout=holdout_params)
        holdout = evaluation.split_holdout(usable, eval_params)
        matrix = typed(raw, "matrix")
        results = {
            "implicit CosineRecommender": evaluation.evaluate_cosine_recommender(holdout, matrix, index, eval_params),
            "implicit BM25Recommender": evaluation.evaluate_bm25_recommender(holdout, matrix, index, eval_params),
            "popularity": evaluation.evaluate_popularity_recommender(holdout, eval_params),
        }
        for label, matrix_overrides, vector_overrides in CONFIGS:
            config_matrix = typed(raw, "matrix", **matrix_overrides)
            vectors = typed(raw, "vectors", **vector_overrides)
            evaluate = (evaluation.evaluate_svd_recommender if vectors.method == "svd"
                        else evaluation.evaluate_als_recommender)
            results[f"Annoy, {label}"] = evaluate(holdout, config_matrix, vectors, index, eval_params)
        baseline = results["implicit CosineRecommender"]["precision"]
        key = f"holdout {by} ({holdout.summary['clients_evaluated']} clients)"
        columns[key] = {name: f"{result['precision']:.3f} ({result['precision'] / baseline:.2f}x)"
                        for name, result in results.items()}
    table = pd.DataFrame(columns)
    print(f"payments: {len(usable)} used of {len(payments)}, {usable['external_client_id'].nunique()} clients, "
          f"{usable['company_code'].nunique()} companies; precision@{raw['evaluation']['k']} (vs CosineRecommender)\n")
    print("| recommender | " + " | ".join(table.columns) + " |")
    print("|---|" + "---:|" * len(table.columns))
    for name, row in table.iterrows():
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
