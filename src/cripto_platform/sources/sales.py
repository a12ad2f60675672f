"""Seeded raw sales files shaped like seed 001's (tamales): catalogs and monthly sales, Spanish headers.

Files, in their raw formats:

- ``catalogo_productos.csv``: ``ID Producto, Nombre Producto, Sabor, Categoría, Precio Lista``
- ``catalogo_zonas.csv`` (``;``-separated): ``ID Zona; Zona; Región``
- ``puntos_venta.json``: a JSON array of ``{id_punto_venta, nombre, id_zona, tipo, fecha_alta (dd/mm/yyyy)}``
- ``ventas/ventas_<yyyymm>.csv``: ``Fecha (dd/mm/yyyy), ID Punto Venta, ID Producto, Unidades, Monto``
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

FLAVORS = np.array(["verde", "rojo", "mole", "rajas", "dulce", "frijol"])
CATEGORIES = np.array(["tamal", "tamal", "tamal", "bebida", "combo"])
REGIONS = np.array(["Norte", "Centro", "Sur", "Bajío"])
POS_TYPES = np.array(["tienda", "supermercado", "cafetería", "puesto"])


def _csv(frame: pd.DataFrame, sep: str = ",") -> bytes:
    return frame.to_csv(index=False, sep=sep, float_format="%.2f").encode("utf-8")


def generate_sales_files(
    n_products: int = 12,
    n_zones: int = 5,
    n_points_of_sale: int = 40,
    n_sales_per_month: int = 2000,
    start_month: str = "2024-01",
    months: int = 12,
    seed: int = 1,
    malformed_rows: int = 0,
    unknown_product_rows: int = 0,
) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every raw sales file.

    ``malformed_rows`` sales lines per month lose fields or get an unparseable date, and
    ``unknown_product_rows`` reference a product missing from the catalog, to exercise quarantine.
    """
    rng = np.random.default_rng(seed)
    product_ids = np.char.add("P", np.char.zfill(np.arange(1, n_products + 1).astype(str), 3))
    flavors = rng.choice(FLAVORS, n_products)
    categories = rng.choice(CATEGORIES, n_products)
    prices = np.round(rng.uniform(15, 60, n_products), 2)
    products = pd.DataFrame(
        {
            "ID Producto": product_ids,
            "Nombre Producto": pd.Series(categories).str.capitalize() + " de " + flavors,
            "Sabor": flavors,
            "Categoría": categories,
            "Precio Lista": prices,
        }
    )
    zone_ids = np.char.add("Z", np.char.zfill(np.arange(1, n_zones + 1).astype(str), 2))
    zones = pd.DataFrame(
        {"ID Zona": zone_ids, "Zona": np.char.add("Zona ", np.arange(1, n_zones + 1).astype(str)), "Región": rng.choice(REGIONS, n_zones)}
    )
    pos_ids = np.char.add("PV", np.char.zfill(np.arange(1, n_points_of_sale + 1).astype(str), 4))
    opened = pd.Timestamp(f"{start_month}-01") - pd.to_timedelta(rng.integers(30, 2000, n_points_of_sale), unit="D")
    points = pd.DataFrame(
        {
            "id_punto_venta": pos_ids,
            "nombre": np.char.add("Punto ", np.arange(1, n_points_of_sale + 1).astype(str)),
            "id_zona": rng.choice(zone_ids, n_points_of_sale),
            "tipo": rng.choice(POS_TYPES, n_points_of_sale),
            "fecha_alta": opened.strftime("%d/%m/%Y"),
        }
    )
    files = {
        "catalogo_productos.csv": _csv(products),
        "catalogo_zonas.csv": _csv(zones, sep=";"),
        "puntos_venta.json": json.dumps(points.to_dict(orient="records"), ensure_ascii=False, indent=1).encode("utf-8"),
    }
    pos_weight = rng.dirichlet(np.ones(n_points_of_sale))
    product_weight = rng.dirichlet(np.ones(n_products) * 2)
    for month in pd.period_range(start_month, periods=months, freq="M"):
        n = int(n_sales_per_month)
        day = rng.integers(0, month.days_in_month, n)
        dates = (month.start_time + pd.to_timedelta(day, unit="D")).strftime("%d/%m/%Y")
        product_index = rng.choice(n_products, n, p=product_weight)
        units = rng.poisson(3 + 2 * np.sin(month.month / 12 * 2 * np.pi) ** 2, n) + 1
        sales = pd.DataFrame(
            {
                "Fecha": dates,
                "ID Punto Venta": rng.choice(pos_ids, n, p=pos_weight),
                "ID Producto": product_ids[product_index],
                "Unidades": units,
                "Monto": np.round(units * prices[product_index] * rng.uniform(0.9, 1.0, n), 2),
            }
        ).sort_values("Fecha", kind="stable")
        if unknown_product_rows:
            sales.iloc[-int(unknown_product_rows) :, sales.columns.get_loc("ID Producto")] = "P999"
        lines = _csv(sales).decode().split("\n")
        for i in range(min(int(malformed_rows), len(lines) - 2)):  # a handful of lines per month
            position = 1 + (i * 7919) % (len(lines) - 2)
            fields = lines[position].split(",")
            lines[position] = ",".join(fields[:3]) if i % 2 == 0 else ",".join(["31/02/" + fields[0][-4:]] + fields[1:])
        files[f"ventas/ventas_{month.strftime('%Y%m')}.csv"] = "\n".join(lines).encode("utf-8")
    return files
