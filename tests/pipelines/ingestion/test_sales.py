"""Sales (seed 001): typed catalogs and facts with foreign-key quarantine, monthly features."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from cripto_platform.pipelines.ingestion import sales_nodes
from cripto_platform.pipelines.ingestion.csv_quarantine import SchemaDriftError
from cripto_platform.sources.sales import generate_sales_files
from tests.conftest import PROJECT_ROOT

PARAMS = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_ingestion.yml").read_text())["ingestion"]["sales"]


def _raw(files: dict[str, bytes], version: str = "20240105") -> dict:
    return {f"{version}/{name}": (lambda data=data: data) for name, data in files.items()}


def test_sales_are_typed_and_orphans_quarantined():
    files = generate_sales_files(n_products=4, n_zones=2, n_points_of_sale=5, n_sales_per_month=50, months=2, malformed_rows=2, unknown_product_rows=1)
    zones, products, points, sales, quarantine = sales_nodes.process_sales(_raw(files), "20240105", PARAMS)
    sales = sales["20240105"]
    assert list(zones["20240105"].columns) == ["id_zona", "zona", "region"]
    assert list(products["20240105"].columns) == ["id_producto", "nombre_producto", "sabor", "categoria", "precio_lista"]
    assert len(sales) + len(quarantine) == 2 * 50
    reasons = quarantine["reason"]
    assert reasons.str.contains("expected 5 fields").sum() == 2  # one truncated line per month
    assert reasons.str.contains("column 'Fecha'").sum() == 2  # 31/02 per month
    assert reasons.str.contains("unknown id_producto P999").sum() == 2
    orphans = quarantine[reasons.str.contains("unknown id_producto")]
    for file, line in zip(orphans["dataset"], orphans["line_number"]):  # the line really holds P999
        assert b"P999" in files[file.split("/", 1)[1]].splitlines()[line - 1]
    assert (sales["linea_origen"] >= 2).all()
    assert sales["id_venta"].is_unique and sales["id_producto"].isin(products["20240105"]["id_producto"]).all()
    assert str(pd.Series(sales["fecha"]).map(type).iloc[0].__name__) == "date"
    assert sales["unidades"].dtype == "int64"


def test_sales_schema_drift_names_the_column():
    files = generate_sales_files(n_products=2, n_zones=1, n_points_of_sale=2, n_sales_per_month=5, months=1)
    files["catalogo_productos.csv"] = files["catalogo_productos.csv"].replace("Precio Lista".encode(), b"Precio")
    with pytest.raises(SchemaDriftError, match=r"20240105/catalogo_productos.csv': missing column 'Precio Lista'"):
        sales_nodes.process_sales(_raw(files), "20240105", PARAMS)


def test_warehouse_tables_follow_the_ddl_columns():
    files = generate_sales_files(n_products=3, n_zones=2, n_points_of_sale=3, n_sales_per_month=20, months=1)
    zones, products, points, sales, _ = sales_nodes.process_sales(_raw(files), "20240105", PARAMS)
    tables = sales_nodes.build_sales_warehouse(zones["20240105"], products["20240105"], points["20240105"], sales["20240105"])
    assert {name: list(frame.columns) for name, frame in tables.items()} == sales_nodes.WAREHOUSE_COLUMNS
    ddl = (Path(sales_nodes.__file__).parents[2] / "warehouse/sql/sales_schema.sql").read_text()
    for table, columns in sales_nodes.WAREHOUSE_COLUMNS.items():
        assert f"CREATE TABLE {table}" in ddl
        assert all(column in ddl for column in columns)


def test_monthly_features_hand_example():
    sales = pd.DataFrame(
        {
            "id_venta": [1, 2, 3, 4, 5],
            "fecha": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-11", "2024-04-02", "2024-04-09"]).date,
            "id_punto_venta": "PV1",
            "id_producto": "P1",
            "unidades": [2, 3, 4, 1, 1],
            "monto": [20.0, 30.0, 44.0, 10.0, 12.0],
        }
    )
    points = pd.DataFrame({"id_punto_venta": ["PV1"], "id_zona": ["Z1"], "tipo": ["tienda"]})
    products = pd.DataFrame({"id_producto": ["P1"], "categoria": ["tamal"], "precio_lista": [10.0]})
    features = sales_nodes.build_monthly_sales_features(sales, points, products, "20240501")["20240501"]
    assert [str(m) for m in features["mes"]] == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    assert features["unidades"].tolist() == [5, 4, 0, 2]  # March has no sales: zero, not missing
    assert features["n_ventas"].tolist() == [2, 1, 0, 2]
    assert features["precio_promedio"].round(2).tolist()[:2] == [10.0, 11.0]
    assert pd.isna(features["precio_promedio"].iloc[2])
    assert features["unidades_mes_anterior"].tolist()[1:] == [5, 4, 0]
    assert features["unidades_media_3m"].iloc[3] == pytest.approx(3.0)  # mean of Jan..Mar
    assert features["unidades_mes_siguiente"].tolist()[:3] == [4, 0, 2]
    assert (features["id_zona"] == "Z1").all() and (features["anio"] == 2024).all()


def _sales_source(path):
    """``sales_source`` as the catalog declares it, at ``path`` (None: not configured)."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    runtime = {} if path is None else {"ingestion": {"sales": {"source_uri": str(path)}}}
    config = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base",
                               runtime_params=runtime)["catalog"]
    return DataCatalog.from_config({"sales_source": config["sales_source"]})["sales_source"]


def test_raw_files_are_copied_from_a_source_folder(tmp_path):
    """sales_source (a catalog dataset, --params ingestion.sales.source_uri) hands the folder's files to the
    node unread; the raw zone stores them byte for byte."""
    from cripto_platform.datasets.lake import RawVersionsDataset

    files = generate_sales_files(n_products=2, n_zones=1, n_points_of_sale=2, n_sales_per_month=5, months=2)
    source_dir = tmp_path / "source"
    for name, data in files.items():
        (source_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (source_dir / name).write_bytes(data)
    raw = sales_nodes.collect_sales_files(_sales_source(f"file://{source_dir}").load(), PARAMS, "20240105")
    assert sorted(raw) == sorted(f"20240105/{name}" for name in files)
    assert all(callable(value) for value in raw.values())  # not read by the node
    zone = RawVersionsDataset(path=str(tmp_path / "raw"), dataset="cripto_platform.datasets.BytesDataset")
    zone.save(raw)
    assert {key: load() for key, load in zone.load().items()} == {f"20240105/{n}": d for n, d in files.items()}
    (source_dir / "puntos_venta.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"'sales_source' is incomplete: missing \['puntos_venta.json'\]"):
        sales_nodes.collect_sales_files(_sales_source(source_dir).load(), PARAMS, "20240105")


def test_without_a_source_folder_the_generator_writes_the_files():
    source = _sales_source(None)
    assert source.load() == {}
    raw = sales_nodes.collect_sales_files(source.load(), PARAMS, "20240105")
    expected = generate_sales_files(**PARAMS["sample"])
    assert raw == {f"20240105/{name}": data for name, data in expected.items()}
