"""Sales nodes (seed 001): raw files, typed catalogs and facts, warehouse tables, monthly features."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cripto_platform.pipelines.ingestion.common import log_quarantine, of_version
from cripto_platform.pipelines.ingestion.csv_quarantine import (
    QUARANTINE_COLUMNS,
    check_schema,
    csv_options,
    empty_quarantine,
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


def collect_sales_files(source: dict[str, Callable[[], bytes]], params: dict[str, Any], version: str) -> dict[str, Any]:
    """Raw sales files as received, keyed ``{version}/{file}``: the source folder's (``sales_source``, handed on
    unread) or, with no source configured, generated."""
    if source:
        files = dict(source)
        required = [params["files"]["products"], params["files"]["zones"], params["files"]["points_of_sale"]]
        missing = [name for name in required if name not in files]
        if missing or not any(name.startswith(params["files"]["sales_prefix"]) for name in files):
            raise FileNotFoundError(
                f"dataset 'sales_source' is incomplete: missing {missing or 'sales files'}; "
                "the previous processed version is kept"
            )
        origin = "sales_source"
    else:
        files = generate_sales_files(**params["sample"])
        origin = "the generator"
    logger.info("sales raw %s from %s: %d files", version, origin, len(files))
    return {f"{version}/{name}": data for name, data in files.items()}


def _load(raw: dict[str, Callable[[], bytes]], key: str) -> bytes:
    if key not in raw:
        raise FileNotFoundError(f"raw sales file '{key}' not found (have {sorted(raw)[:10]})")
    return raw[key]() if callable(raw[key]) else raw[key]


def _joined(rows: pd.DataFrame) -> pd.Series:
    """Each row's values joined by commas, missing values as empty fields."""
    if not len(rows):
        return pd.Series(dtype="str", index=rows.index)
    return rows.astype("string").fillna("").agg(",".join, axis=1)


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
            "raw_line": _joined(bad.drop(columns=["linea_origen", "archivo_origen"], errors="ignore")),
        },
        columns=QUARANTINE_COLUMNS,
    )
    return frame[~orphan], quarantine


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _json_records(data: bytes, key: str) -> tuple[list[Any], list[int]]:
    """The records of a JSON array and the line each starts on; a truncated or bad file fails naming the line."""
    text = data.decode("utf-8-sig")
    decoder = json.JSONDecoder()
    records, lines = [], []
    try:
        position = _WHITESPACE.match(text, 0).end()
        if text[position : position + 1] != "[":
            raise json.JSONDecodeError("expected a JSON array of records", text, position)
        position = _WHITESPACE.match(text, position + 1).end()
        line, counted = 1, 0
        if text[position : position + 1] == "]":
            return [], []
        while True:
            line += text.count("\n", counted, position)
            counted = position
            record, end = decoder.raw_decode(text, position)
            records.append(record)
            lines.append(line)
            position = _WHITESPACE.match(text, end).end()
            separator = text[position : position + 1]
            if separator == "]":
                break
            if separator != ",":
                raise json.JSONDecodeError("expected ',' or ']' after a record", text, position)
            position = _WHITESPACE.match(text, position + 1).end()
        if _WHITESPACE.match(text, position + 1).end() != len(text):
            raise json.JSONDecodeError("extra data after the array", text, position + 1)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{key}: not valid JSON at line {error.lineno}, column {error.colno} ({error.msg}; "
            f"{len(records)} records read before it); the file may be truncated"
        ) from None
    return records, lines


def _quarantine_rows(rows: pd.DataFrame, dataset: str, lines: pd.Series, reasons: pd.Series | str) -> pd.DataFrame:
    """Quarantine entries for ``rows`` of ``dataset``: their lines, reasons and values joined by commas."""
    values = rows.drop(columns=["line_number", "_line", "linea_origen", "archivo_origen"], errors="ignore")
    return pd.DataFrame(
        {
            "dataset": dataset,
            "line_number": pd.Series(lines, index=rows.index).astype("int64"),
            "reason": reasons,
            "raw_line": _joined(values),
        },
        index=rows.index,
        columns=QUARANTINE_COLUMNS,
    ).reset_index(drop=True)


def _duplicate_keys(frame: pd.DataFrame, key: str, lines: str, dataset: str, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fail naming every duplicated ``key`` value and its lines, or (``quarantine``) keep each key's first row."""
    repeated = frame[key].duplicated(keep=False)
    if not repeated.any():
        return frame, empty_quarantine()
    where = frame[repeated].groupby(key, sort=True)[lines].apply(lambda s: ", ".join(map(str, s)))
    named = ", ".join(f"{value} (lines {at})" for value, at in list(where.items())[:20])
    more = f" and {len(where) - 20} more" if len(where) > 20 else ""
    if mode == "fail":
        raise ValueError(
            f"{dataset}: duplicate {key} {named}{more}: a catalog key must appear once. Fix the file, or set "
            "parameter ingestion.sales.on_duplicate_key: quarantine to keep each key's first row"
        )
    later = frame[key].duplicated(keep="first")
    first = frame[~later].set_index(key)[lines]
    reasons = f"duplicate {key} " + frame.loc[later, key].astype(str) + " (first on line " + frame.loc[later, key].map(first).astype(str) + ")"
    logger.warning("%s: duplicate %s %s%s; later rows quarantined", dataset, key, named, more)
    return frame[~later], _quarantine_rows(frame[later], dataset, frame.loc[later, lines], reasons)


def _read_points(data: bytes, key: str, params: dict[str, Any], tolerated: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points of sale from the JSON array: records without an id and unparseable dates go to quarantine."""
    records, lines = _json_records(data, key)
    not_objects = [n for n, record in enumerate(records, start=1) if not isinstance(record, dict)]
    if not_objects:
        raise ValueError(f"{key}: record {not_objects[0]} (line {lines[not_objects[0] - 1]}) is not a JSON object")
    expected = params["columns"]["points_of_sale"]
    points = pd.DataFrame.from_records(records, columns=list(dict.fromkeys([*expected, *(k for r in records for k in r)])))
    check_schema(list(points.columns), expected, key, tolerated)
    points.columns = [snake_case(c) for c in points.columns]
    points["_line"] = np.array(lines, dtype="int64")
    points["_record"] = np.arange(1, len(points) + 1)
    quarantines = []
    ids = points["id_punto_venta"].astype("string").str.strip()
    no_id = ids.isna() | ids.eq("")
    if no_id.any():
        reasons = "record " + points.loc[no_id, "_record"].astype(str) + ": id_punto_venta is missing or null"
        quarantines.append(_quarantine_rows(points[no_id].drop(columns="_record"), key, points.loc[no_id, "_line"], reasons))
    points = points[~no_id]
    date_format = params["date_format"]
    text = points["fecha_alta"].astype("string").str.strip()
    parsed = pd.to_datetime(text, format=date_format, errors="coerce")
    bad = text.notna() & text.ne("") & parsed.isna()
    if bad.any():  # reported, not dropped: the point's sales stay usable; the date is NULL
        reasons = (
            "record " + points.loc[bad, "_record"].astype(str) + ": column 'fecha_alta': cannot parse '"
            + text[bad].astype(str) + f"' as a date in format {date_format or '%Y-%m-%d'} (record kept with fecha_alta NULL)"
        )
        quarantines.append(_quarantine_rows(points[bad].drop(columns="_record"), key, points.loc[bad, "_line"], reasons))
    points = points.assign(fecha_alta=parsed.dt.date.where(parsed.notna(), None))
    return points.drop(columns="_record"), pd.concat(quarantines or [empty_quarantine()], ignore_index=True)


def _file_month(name: str) -> pd.Period | None:
    """The month a monthly sales file holds, from its name (``ventas_202401.csv``), if it has one."""
    found = re.search(r"(\d{4})(\d{2})(?=\.[^./]*$)", name)
    return pd.Period(f"{found[1]}-{found[2]}", freq="M") if found and 1 <= int(found[2]) <= 12 else None


def _check_month(sales: pd.DataFrame, quarantine: pd.DataFrame, key: str, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of a monthly file dated outside its month are quarantined; a file where most dates fail is an error."""
    month = _file_month(key)
    if month is None:
        return sales, empty_quarantine()
    dates = pd.to_datetime(sales["fecha"])
    outside = dates.dt.to_period("M") != month
    date_columns = [name for name, kind in params["columns"]["sales"].items() if kind == "date"]
    unparsed = quarantine["reason"].str.contains("|".join(f"'{re.escape(c)}'" for c in date_columns)).sum() if len(quarantine) else 0
    total = len(sales) + len(quarantine)
    failing = int(outside.sum()) + int(unparsed)
    limit = params["max_bad_date_fraction"]
    date_format = params["date_format"] or "%Y-%m-%d"
    if total and failing / total > limit:
        example = month.start_time.replace(day=28).strftime(date_format)
        raise ValueError(
            f"{key}: {failing} of {total} rows have a date that does not parse or falls outside the file's month "
            f"{month}: the date format looks wrong (expected {date_format}, e.g. {example}; "
            f"parameter ingestion.sales.max_bad_date_fraction is {limit})"
        )
    reasons = "column 'fecha': " + dates[outside].dt.strftime("%Y-%m-%d") + f" is outside the file's month {month}"
    return sales[~outside], _quarantine_rows(sales[outside], key, sales.loc[outside, "line_number"], reasons)


def process_sales(
    raw: dict[str, Callable[[], bytes]], version: str, params: dict[str, Any]
) -> tuple[dict, dict, dict, dict, pd.DataFrame]:
    """Typed snake_case zones, products, points of sale and sales of ``version``, and every rejected line."""
    files = params["files"]
    columns = params["columns"]
    tolerated = params["tolerated_drift"]
    quarantines = []

    mode = params["on_duplicate_key"]
    if mode not in ("fail", "quarantine"):
        raise ValueError(f"parameter ingestion.sales.on_duplicate_key must be 'fail' or 'quarantine', got '{mode}'")

    def read_csv(name: str, spec_key: str, delimiter: str = ",", line_numbers: bool = False) -> pd.DataFrame:
        key = f"{version}/{name}"
        table, quarantine = read_typed_csv(
            _load(raw, key), columns[spec_key], key, delimiter, params["date_format"], tolerated, line_numbers,
            **csv_options(params, spec_key),
        )
        frame = table.to_pandas()
        if spec_key == "sales":
            frame, outside = _check_month(frame, quarantine, key, params)
            quarantine = pd.concat([q for q in (quarantine, outside) if not q.empty] or [quarantine], ignore_index=True)
        log_quarantine(f"sales/{key}", len(frame), quarantine)
        quarantines.append(quarantine)
        return frame

    def catalog(name: str, spec_key: str, key_column: str, delimiter: str = ",") -> pd.DataFrame:
        frame, duplicates = _duplicate_keys(
            read_csv(name, spec_key, delimiter, line_numbers=True), key_column, "line_number", f"{version}/{name}", mode
        )
        quarantines.append(duplicates)
        return frame.drop(columns="line_number").reset_index(drop=True)

    products = catalog(files["products"], "products", "id_producto")
    zones = catalog(files["zones"], "zones", "id_zona", delimiter=";")
    points_key = f"{version}/{files['points_of_sale']}"
    points, points_quarantine = _read_points(_load(raw, points_key), points_key, params, tolerated)
    points, duplicate_points = _duplicate_keys(points, "id_punto_venta", "_line", points_key, mode)
    quarantines += [points_quarantine, duplicate_points]
    points = points.drop(columns="_line").reset_index(drop=True)

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
        or [empty_quarantine()],
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


SALES_TABLES = ("sales_zones", "sales_products", "sales_points_of_sale", "sales_facts")


def store_sales_tables(
    zones: dict[str, pd.DataFrame], products: dict[str, pd.DataFrame],
    points: dict[str, pd.DataFrame], sales: dict[str, pd.DataFrame],
) -> tuple[Any, ...]:
    """This run's four ``{version: frame}`` tables unchanged, for the lake: the write is a node of its own because
    the warehouse and the features read the run's frames in memory (``sales_*_run``), not the lake."""
    return zones, products, points, sales
