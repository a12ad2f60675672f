"""Custom Kedro datasets where kedro-datasets has none."""

from cripto_platform.datasets.warehouse import WarehouseQueryDataset, WarehouseTableDataset

__all__ = ["WarehouseQueryDataset", "WarehouseTableDataset"]
