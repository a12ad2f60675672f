"""Bad input files: errors name the file, the line or record and the column; unusable rows are quarantined."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cripto_platform.pipelines.ingestion import kaggle_nodes, sales_nodes
from cripto_platform.sources.kaggle import generate_citesum_json
from cripto_platform.sources.sales import generate_sales_files

CONF = Path(__file__).resolve().parents[3] / "conf/base/parameters_ingestion.yml"
PARAMS = yaml.safe_load(CONF.read_text())["ingestion"]
SALES = PARAMS["sales"]
CITESUM = PARAMS["kaggle"]["datasets"]["citesum"]
V = "20240105"


def _raw(files: dict[str, bytes], prefix: str = V) -> dict:
    return {f"{prefix}/{name}": (lambda data=data: data) for name, data in files.items()}


def _sales_files(**sample) -> dict[str, bytes]:
    return generate_sales_files(**{"n_products": 3, "n_zones": 2, "n_points_of_sale": 4, "n_sales_per_month": 30, "months": 1, **sample})


def _citesum() -> dict[str, bytes]:
    return generate_citesum_json(30)


# --- item 7: truncated JSON, records without their key -------------------------------------------------


def test_a_truncated_citesum_file_names_the_file_and_line():
    files = _citesum()
    lines = files["train.json"].splitlines()
    files["train.json"] = b"\n".join(lines[:3]) + b"\n" + lines[3][: len(lines[3]) // 2]  # cut in the 4th record
    with pytest.raises(ValueError, match=r"citesum/20240105/train.json: line 4 is not valid JSON"):
        kaggle_nodes.process_citesum(_raw(files, "citesum/" + V), V, CITESUM)


def test_citesum_records_without_a_paper_id_are_quarantined_by_file_and_line():
    files = _citesum()
    lines = files["train.json"].splitlines()
    null_key = json.loads(lines[1]) | {"paper_id": None}
    no_key = {k: v for k, v in json.loads(lines[4]).items() if k != "paper_id"}
    lines[1], lines[4] = json.dumps(null_key).encode(), json.dumps(no_key).encode()
    files["train.json"] = b"\n".join(lines) + b"\n"
    papers, summaries, _, quarantine = kaggle_nodes.process_citesum(_raw(files, "citesum/" + V), V, CITESUM)
    missing = quarantine[quarantine["reason"].str.contains("paper_id")]
    assert missing[["dataset", "line_number"]].values.tolist() == [["citesum/20240105/train.json", 2], ["citesum/20240105/train.json", 5]]
    assert len(papers[V]) == 30 - 2 and papers[V]["paper_id"].notna().all()


def test_a_truncated_points_of_sale_file_names_the_file_and_line():
    files = _sales_files()
    files["puntos_venta.json"] = files["puntos_venta.json"][:-40]
    with pytest.raises(ValueError, match=r"20240105/puntos_venta.json: not valid JSON at line \d+"):
        sales_nodes.process_sales(_raw(files), V, SALES)


def test_points_of_sale_without_their_key_are_quarantined_by_record():
    files = _sales_files()
    points = json.loads(files["puntos_venta.json"])
    points[1]["id_punto_venta"] = None
    del points[2]["id_punto_venta"]
    files["puntos_venta.json"] = json.dumps(points, indent=1).encode()
    _, _, kept, _, quarantine = sales_nodes.process_sales(_raw(files), V, SALES)
    rows = quarantine[quarantine["reason"].str.contains("id_punto_venta is missing")]
    assert rows["dataset"].tolist() == ["20240105/puntos_venta.json"] * 2
    assert rows["reason"].str.contains("record 2").sum() == 1 and rows["reason"].str.contains("record 3").sum() == 1
    text = files["puntos_venta.json"].decode().splitlines()
    assert all(text[line - 1].strip() == "{" for line in rows["line_number"])  # the line where the record starts
    assert len(kept[V]) == 2


# --- item 8: duplicate catalog keys ------------------------------------------------------------------------


def _duplicate_product(files: dict[str, bytes]) -> dict[str, bytes]:
    lines = files["catalogo_productos.csv"].decode().splitlines()
    lines.append(lines[2].replace(lines[2].split(",")[1], "Otro nombre"))  # P002 again
    return {**files, "catalogo_productos.csv": ("\n".join(lines) + "\n").encode()}


def test_a_duplicate_product_key_fails_naming_the_key_before_anything_is_written():
    files = _duplicate_product(_sales_files())
    with pytest.raises(ValueError, match=r"20240105/catalogo_productos.csv: duplicate id_producto P002 \(lines 3, 5\)"):
        sales_nodes.process_sales(_raw(files), V, {**SALES, "on_duplicate_key": "fail"})


def test_the_default_is_to_fail_and_quarantine_is_a_parameter():
    assert SALES["on_duplicate_key"] == "fail"
    files = _duplicate_product(_sales_files())
    _, products, _, _, quarantine = sales_nodes.process_sales(_raw(files), V, {**SALES, "on_duplicate_key": "quarantine"})
    assert products[V]["id_producto"].is_unique and len(products[V]) == 3
    row = quarantine[quarantine["reason"].str.contains("duplicate id_producto")]
    assert row[["dataset", "line_number"]].values.tolist() == [["20240105/catalogo_productos.csv", 5]]
    assert "Otro nombre" in row["raw_line"].item()


# --- item 9: rows outside their monthly file's month --------------------------------------------------------


def _swap_day_month(data: bytes, rows: slice | None = None) -> bytes:
    lines = data.decode().split("\n")
    selected = range(1, len(lines))[rows] if rows else range(1, len(lines))
    for i in selected:
        if lines[i]:
            day, month, year = lines[i].split(",", 1)[0].split("/")
            lines[i] = f"{month}/{day}/{year}," + lines[i].split(",", 1)[1]
    return "\n".join(lines).encode()


def test_sales_rows_outside_the_files_month_are_quarantined_with_the_reason():
    files = _sales_files(n_sales_per_month=60)
    name = "ventas/ventas_202401.csv"
    lines = files[name].decode().split("\n")
    lines[5] = "03/02/2024," + lines[5].split(",", 1)[1]  # a February date in January's file
    files[name] = "\n".join(lines).encode()
    _, _, _, sales, quarantine = sales_nodes.process_sales(_raw(files), V, SALES)
    outside = quarantine[quarantine["reason"].str.contains("outside")]
    assert outside[["dataset", "line_number"]].values.tolist() == [[f"{V}/{name}", 6]]
    assert "2024-02-03" in outside["reason"].item() and "2024-01" in outside["reason"].item()
    assert (pd.to_datetime(sales[V]["fecha"]).dt.month == 1).all()


def test_a_monthly_file_in_month_first_format_fails_naming_the_file_and_expected_format():
    files = _sales_files(n_sales_per_month=100)
    files["ventas/ventas_202401.csv"] = _swap_day_month(files["ventas/ventas_202401.csv"])
    with pytest.raises(ValueError, match=r"20240105/ventas/ventas_202401.csv: .*date format looks wrong.*%d/%m/%Y"):
        sales_nodes.process_sales(_raw(files), V, SALES)


# --- item 10: values that do not parse are never nulled silently ----------------------------------------------


def test_unparseable_fecha_alta_is_reported_not_nulled_silently():
    files = _sales_files()
    points = json.loads(files["puntos_venta.json"])
    points[0]["fecha_alta"], points[1]["fecha_alta"] = "2020-12-31", "31/02/2021"
    files["puntos_venta.json"] = json.dumps(points, indent=1).encode()
    _, _, kept, _, quarantine = sales_nodes.process_sales(_raw(files), V, SALES)
    rows = quarantine[quarantine["reason"].str.contains("fecha_alta")]
    assert len(rows) == 2
    assert rows["reason"].str.contains("'2020-12-31'").sum() == 1 and rows["reason"].str.contains("'31/02/2021'").sum() == 1
    assert rows["reason"].str.contains("%d/%m/%Y").all()
    assert (rows["dataset"] == "20240105/puntos_venta.json").all()


def test_citesum_values_that_do_not_parse_are_quarantined_not_nulled():
    files = _citesum()
    lines = files["train.json"].splitlines()
    records = [json.loads(line) for line in lines]
    bad = {
        2: records[2] | {"published": "31/02/2021"},
        3: records[3] | {"n_citations": "many"},
        6: records[6] | {"n_citations": 99999999999999999999},
        7: records[7] | {"n_citations": 2.5},
    }
    for index, record in bad.items():
        lines[index] = json.dumps(record).encode()
    files["train.json"] = b"\n".join(lines) + b"\n"
    papers, _, _, quarantine = kaggle_nodes.process_citesum(_raw(files, "citesum/" + V), V, CITESUM)
    assert quarantine[["dataset", "line_number"]].values.tolist() == [
        ["citesum/20240105/train.json", index + 1] for index in sorted(bad)
    ]
    assert quarantine["reason"].tolist() == [
        "published 31/02/2021 is not a yyyy-mm-dd date",
        "n_citations many is not a whole number in int64",
        "n_citations 99999999999999999999 is not a whole number in int64",
        "n_citations 2.5 is not a whole number in int64",
    ]
    stored = papers[V]
    assert len(stored) == 30 - len(bad) and not set(stored["paper_id"]) & {records[i]["paper_id"] for i in bad}
    assert stored["published"].notna().all() and stored["n_citations"].notna().all()
    assert str(stored["n_citations"].dtype) == "Int64"
