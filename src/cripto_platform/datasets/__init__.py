"""Custom Kedro datasets where kedro-datasets has none."""

from cripto_platform.datasets.annoy_index import AnnoyIndexDataset
from cripto_platform.datasets.atomic_parquet import AtomicParquetDataset
from cripto_platform.datasets.committed_partitions import CommittedPartitionedDataset
from cripto_platform.datasets.lake import BytesDataset, LakeRootDataset, LakeTableDataset
from cripto_platform.datasets.payments import (
    CompaniesDimensionDataset,
    EtlWatermarkDataset,
    LandingBucketDataset,
    PaymentsApiDataset,
    PaymentsSCD2Dataset,
)
from cripto_platform.datasets.warehouse import WarehouseQueryDataset, WarehouseTableDataset
from cripto_platform.datasets.warehouse_schema import WarehouseSchemaDataset

__all__ = [
    "AnnoyIndexDataset",
    "AtomicParquetDataset",
    "CommittedPartitionedDataset",
    "BytesDataset",
    "LakeRootDataset",
    "LakeTableDataset",
    "WarehouseSchemaDataset",
    "CompaniesDimensionDataset",
    "EtlWatermarkDataset",
    "LandingBucketDataset",
    "PaymentsApiDataset",
    "PaymentsSCD2Dataset",
    "WarehouseQueryDataset",
    "WarehouseTableDataset",
]
