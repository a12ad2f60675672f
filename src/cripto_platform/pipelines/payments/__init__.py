"""Payments (seed 002): companies dimension and payments as an SCD type 2 table."""

from cripto_platform.pipelines.payments.pipeline import create_pipeline

__all__ = ["create_pipeline"]
