"""Recommendation (seed 002): payment metrics, company co-occurrence, vectors, a validated Annoy index."""

from cripto_platform.pipelines.recommendation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
