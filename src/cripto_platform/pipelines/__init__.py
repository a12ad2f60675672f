"""Kedro pipelines, one package each (nodes.py + pipeline.py)."""
