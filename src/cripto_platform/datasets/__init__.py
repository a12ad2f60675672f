"""Custom Kedro datasets where kedro-datasets has none."""

from cripto_platform.datasets.payments import (
    CompaniesDimensionDataset,
    EtlWatermarkDataset,
    LandingBucketDataset,
    PaymentsSCD2Dataset,
)
from cripto_platform.datasets.warehouse import WarehouseQueryDataset, WarehouseTableDataset

__all__ = [
    "CompaniesDimensionDataset",
    "EtlWatermarkDataset",
    "LandingBucketDataset",
    "PaymentsSCD2Dataset",
    "WarehouseQueryDataset",
    "WarehouseTableDataset",
]
