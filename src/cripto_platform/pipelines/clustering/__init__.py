"""Clustering of hotel reservations (seed 000: Multicripto_Omega)."""

from cripto_platform.pipelines.clustering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
