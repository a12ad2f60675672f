"""Sales nodes (seed 001): raw files, typed catalogs and facts, warehouse tables, monthly features."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from cripto_platform.pipelines.ingestion.common import log_quarantine, of_version
from cripto_platform.pipelines.ingestion.csv_quarantine import (
    QUARANTINE_COLUMNS,
    check_schema,
    csv_options,
    read_typed_csv,
    snake_case,
)
from cripto_platform.sources.sales import generate_sales_files

logger = logging.getLogger(__name__)

WAREHOUSE_COLUMNS = {
    "zone_catalog": ["id_zona", "zona", "region"],
    "product_catalog": ["id_producto", "nombre_producto", "sabor", "categoria", "precio_lista"],
    "point_of_sale_catalog": ["id_punto_venta", "nombre", "id_zona", "tipo", "fecha_alta"],
    "sales_fact": ["id_venta", "fecha", "id_punto_venta", "id_producto", "unidades", "monto", "archivo_origen", "linea_origen"],
}


def collect_sales_files(params: dict[str, Any], version: str, lake: dict[str, Any]) -> dict[str, bytes]:
    """Raw sales files as received, keyed ``{version}/{file}``: copied from ``source_uri`` or generated."""
    source_uri = params.get("source_uri")
    if source_uri:
        fs, root = fsspec.core.url_to_fs(source_uri)
        found = fs.find(root)
        files = {path[len(root.rstrip("/")) + 1 :]: fs.cat_file(path) for path in found}
        required = [params["files"]["products"], params["files"]["zones"], params["files"]["points_of_sale"]]
        missing = [name for name in required if name not in files]
        if missing or not any(name.startswith(params["files"]["sales_prefix"]) for name in files):
            raise FileNotFoundError(
                f"sales source '{source_uri}' is incomplete: missing {missing or 'sales files'}; "
                "the previous processed version is kept"
            )
        origin = source_uri
    else:
        files = generate_sales_files(**params["sample"])
        origin = "generator"
    logger.info("sales raw %s from %s: %d files, %s bytes", version, origin, len(files), f"{sum(map(len, files.values())):,}")
    return {f"{version}/{name}": data for name, data in files.items()}


def _load(raw: dict[str, Callable[[], bytes]], key: str) -> bytes:
    if key not in raw:
        raise FileNotFoundError(f"raw sales file '{key}' not found (have {sorted(raw)[:10]})")
    return raw[key]() if callable(raw[key]) else raw[key]


def _foreign_key_quarantine(frame: pd.DataFrame, column: str, known: pd.Series, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose ``column`` is not in ``known`` moved to quarantine with a reason."""
    orphan = ~frame[column].isin(known)
    bad = frame[orphan]
    quarantine = pd.DataFrame(
        {
            "dataset": bad.get("archivo_origen", pd.Series(dataset, index=bad.index)),
            # -1 for rows that do not come from a CSV line (the points-of-sale JSON)
            "line_number": bad.get("linea_origen", pd.Series(-1, index=bad.index)).astype("int64"),
            "reason": f"unknown {column} " + bad[column].astype(str),
            "raw_line": bad.drop(columns=["linea_origen", "archivo_origen"], errors="ignore").astype(str).agg(",".join, axis=1) if len(bad) else pd.Series(dtype="str"),
        },
        columns=QUARANTINE_COLUMNS,
    )
    return frame[~orphan], quarantine


def process_sales(
    raw: dict[str, Callable[[], bytes]], version: str, params: dict[str, Any]
) -> tuple[dict, dict, dict, dict, pd.DataFrame]:
    """Typed snake_case zones, products, points of sale and sales of ``version``, and every rejected line."""
    files = params["files"]
    columns = params["columns"]
    tolerated = params.get("tolerated_drift") or []
    quarantines = []

    def read_csv(name: str, spec_key: str, delimiter: str = ",", line_numbers: bool = False) -> pd.DataFrame:
        key = f"{version}/{name}"
        table, quarantine = read_typed_csv(
            _load(raw, key), columns[spec_key], key, delimiter, params.get("date_format"), tolerated, line_numbers,
            **csv_options(params, spec_key),
        )
        log_quarantine(f"sales/{key}", table.num_rows, quarantine)
        quarantines.append(quarantine)
        return table.to_pandas()

    products = read_csv(files["products"], "products")
    zones = read_csv(files["zones"], "zones", delimiter=";")
    points_key = f"{version}/{files['points_of_sale']}"
    points = pd.read_json(io.BytesIO(_load(raw, points_key)), orient="records", dtype=False)
    check_schema(list(points.columns), columns["points_of_sale"], points_key, tolerated)
    points.columns = [snake_case(c) for c in points.columns]
    points["fecha_alta"] = pd.to_datetime(points["fecha_alta"], format=params.get("date_format"), errors="coerce").dt.date

    sale_keys = sorted(key for key in raw if key.startswith(f"{version}/{files['sales_prefix']}"))
    if not sale_keys:
        raise FileNotFoundError(f"no raw sales files under '{version}/{files['sales_prefix']}'")
    sales = pd.concat(
        [
            read_csv(key.split("/", 1)[1], "sales", line_numbers=True).assign(archivo_origen=key)
            for key in sale_keys
        ],
        ignore_index=True,
    ).rename(columns={"line_number": "linea_origen"})
    points, orphan_points = _foreign_key_quarantine(points, "id_zona", zones["id_zona"], points_key)
    sales, orphan_products = _foreign_key_quarantine(sales, "id_producto", products["id_producto"], "sales")
    sales, orphan_points_of_sale = _foreign_key_quarantine(sales, "id_punto_venta", points["id_punto_venta"], "sales")
    sales = sales.sort_values(["fecha", "archivo_origen", "linea_origen"], kind="stable").reset_index(drop=True)
    sales.insert(0, "id_venta", np.arange(1, len(sales) + 1, dtype="int64"))
    sales["anio"] = pd.to_datetime(sales["fecha"]).dt.year.astype("int64")
    quarantine = pd.concat(
        [q for q in (*quarantines, orphan_points, orphan_products, orphan_points_of_sale) if not q.empty]
        or [pd.DataFrame(columns=QUARANTINE_COLUMNS)],
        ignore_index=True,
    )
    logger.info(
        "sales %s: %d zones, %d products, %d points of sale, %d sales; %d lines quarantined",
        version, len(zones), len(products), len(points), len(sales), len(quarantine),
    )
    return {version: zones}, {version: products}, {version: points}, {version: sales}, quarantine


def build_sales_warehouse(
    zones: pd.DataFrame | dict, products: pd.DataFrame | dict, points: pd.DataFrame | dict, sales: pd.DataFrame | dict,
    version: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The four warehouse tables of ``version``, columns in DDL order (``warehouse/sql/sales_schema.sql``)."""
    zones, products, points, sales = (of_version(t, version) for t in (zones, products, points, sales))
    frames = {
        "zone_catalog": zones,
        "product_catalog": products,
        "point_of_sale_catalog": points,
        "sales_fact": sales.assign(fecha=pd.to_datetime(sales["fecha"]).dt.date),
    }
    return {table: frames[table][columns].reset_index(drop=True) for table, columns in WAREHOUSE_COLUMNS.items()}


def build_monthly_sales_features(
    sales: pd.DataFrame, points: pd.DataFrame, products: pd.DataFrame, version: str
) -> dict[str, pd.DataFrame]:
    """Per product, point of sale and month: units, revenue, price, lags, 3-month mean, next-month target."""
    sales, points, products = (of_version(t, version) for t in (sales, points, products))
    frame = sales.assign(mes=pd.to_datetime(sales["fecha"]).dt.to_period("M").dt.to_timestamp())
    monthly = (
        frame.groupby(["id_producto", "id_punto_venta", "mes"], observed=True)
        .agg(unidades=("unidades", "sum"), monto=("monto", "sum"), n_ventas=("id_venta", "size"))
        .reset_index()
    )
    # A full month grid per product and point of sale, so months without sales count as zero.
    months = pd.date_range(monthly["mes"].min(), monthly["mes"].max(), freq="MS")
    pairs = monthly[["id_producto", "id_punto_venta"]].drop_duplicates()
    grid = pairs.merge(pd.DataFrame({"mes": months}), how="cross")
    monthly = grid.merge(monthly, on=["id_producto", "id_punto_venta", "mes"], how="left")
    monthly[["unidades", "monto", "n_ventas"]] = monthly[["unidades", "monto", "n_ventas"]].fillna(0)
    monthly = monthly.sort_values(["id_producto", "id_punto_venta", "mes"], ignore_index=True)
    grouped = monthly.groupby(["id_producto", "id_punto_venta"], sort=False)
    monthly["precio_promedio"] = (monthly["monto"] / monthly["unidades"]).where(monthly["unidades"] > 0)
    monthly["unidades_mes_anterior"] = grouped["unidades"].shift(1)
    monthly["unidades_media_3m"] = grouped["unidades"].transform(lambda s: s.shift(1).rolling(3, min_periods=3).mean())
    monthly["unidades_mes_siguiente"] = grouped["unidades"].shift(-1)
    monthly = monthly.merge(points[["id_punto_venta", "id_zona", "tipo"]], on="id_punto_venta", how="left")
    monthly = monthly.merge(products[["id_producto", "categoria", "precio_lista"]], on="id_producto", how="left")
    monthly["anio"] = monthly["mes"].dt.year.astype("int64")
    monthly["mes"] = monthly["mes"].dt.date
    monthly = monthly.astype({"unidades": "int64", "n_ventas": "int64"})
    logger.info("sales features: %d rows (%d product x point-of-sale pairs, %d months)", len(monthly), len(pairs), len(months))
    return {version: monthly}
