"""Custom Kedro datasets where kedro-datasets has none: thin classes, one concern per module.

Each hands the work to a library or to ``cripto_platform.warehouse`` (the SCD2 merge is
``warehouse.scd2``; ``payments_scd2.PaymentsSCD2Dataset`` only opens its transaction). Catalog
entries name them as ``cripto_platform.datasets.<Class>``.
"""

from cripto_platform.datasets.annoy_index import AnnoyIndexDataset
from cripto_platform.datasets.atomic_parquet import AtomicParquetDataset
from cripto_platform.datasets.committed_partitions import CommittedPartitionedDataset
from cripto_platform.datasets.companies import CompaniesDimensionDataset
from cripto_platform.datasets.lake import BytesDataset, LakeRootDataset, LakeTableDataset
from cripto_platform.datasets.landing_bucket import LandingBucketDataset
from cripto_platform.datasets.payments_api import PaymentsApiDataset
from cripto_platform.datasets.payments_scd2 import PaymentsSCD2Dataset
from cripto_platform.datasets.source_folder import SourceFolderDataset
from cripto_platform.datasets.warehouse import WarehouseQueryDataset, WarehouseTableDataset
from cripto_platform.datasets.warehouse_schema import WarehouseSchemaDataset
from cripto_platform.datasets.watermark import EtlWatermarkDataset

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
    "SourceFolderDataset",
    "WarehouseQueryDataset",
    "WarehouseTableDataset",
]
