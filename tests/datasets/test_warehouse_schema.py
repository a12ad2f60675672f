"""WarehouseSchemaDataset: related tables with primary and foreign keys, written in one transaction."""

import pandas as pd
import pytest
import sqlalchemy as sa
from kedro.io import DatasetError

from cripto_platform.datasets import WarehouseSchemaDataset


def test_schema_dataset_declares_keys_and_rolls_back(warehouse_url, warehouse_engine):
    dataset = WarehouseSchemaDataset(
        ddl_file="sales_schema.sql",
        tables=["zone_catalog", "product_catalog", "point_of_sale_catalog", "sales_fact"],
        credentials={"url": warehouse_url},
    )
    zones = pd.DataFrame({"id_zona": ["Z1"], "zona": ["Zona 1"], "region": ["Sur"]})
    products = pd.DataFrame({"id_producto": ["P1"], "nombre_producto": ["Tamal"], "sabor": ["mole"], "categoria": ["tamal"], "precio_lista": [20.0]})
    points = pd.DataFrame({"id_punto_venta": ["PV1"], "nombre": ["Punto"], "id_zona": ["Z1"], "tipo": ["tienda"], "fecha_alta": pd.to_datetime(["2020-01-01"]).date})
    sales = pd.DataFrame({"id_venta": [1], "fecha": pd.to_datetime(["2024-01-01"]).date, "id_punto_venta": ["PV1"], "id_producto": ["P1"], "unidades": [2], "monto": [40.0], "archivo_origen": ["v.csv"]})
    good = {"zone_catalog": zones, "product_catalog": products, "point_of_sale_catalog": points, "sales_fact": sales}
    dataset.save(good)
    assert dataset.load()["sales_fact"]["monto"].tolist() == [40.0]
    orphan = {**good, "sales_fact": sales.assign(id_producto="P404", id_venta=2)}
    with pytest.raises(DatasetError, match="foreign key"):
        dataset.save(orphan)
    with warehouse_engine.connect() as connection:  # rolled back: the previous tables are intact
        assert connection.execute(sa.text("select id_venta from sales_fact")).scalars().all() == [1]
