"""Profiling pipeline: a bounded-memory profile, drift check and page per table, and a run index."""

from cripto_platform.pipelines.profiling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
