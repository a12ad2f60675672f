"""Ingestion pipeline: Kaggle datasets, crypto candles (bronze/silver/gold) and sales into lake and warehouse."""

from cripto_platform.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
