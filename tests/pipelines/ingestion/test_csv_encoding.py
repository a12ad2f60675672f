"""Issue 12 item 4: bytes that do not decode are quarantined with file, line and column; declared encodings."""

import pyarrow as pa

from cripto_platform.pipelines.ingestion.csv_quarantine import read_typed_csv

COLUMNS = {"Name": "string", "Age": "int64", "City": "string"}


def test_invalid_utf8_byte_is_quarantined_with_its_line_and_column():
    data = (
        b"Name,Age,City\n"
        b"ann,3,Lima\n"            # line 2
        b"bob,4,Le\xf3n\n"         # line 3: a Latin-1 byte in a UTF-8 file
        b"\n"                      # line 4: blank
        b"cid,5,Quito\n"           # line 5
    )
    table, quarantine = read_typed_csv(data, COLUMNS, "raw/demo.csv", line_numbers=True)
    assert table.column("name").to_pylist() == ["ann", "cid"]
    assert table.column("line_number").to_pylist() == [2, 5]
    assert quarantine["line_number"].tolist() == [3]
    assert quarantine["dataset"].tolist() == ["raw/demo.csv"]
    reason = quarantine["reason"].item()
    assert "column 'City'" in reason and "0xf3" in reason and "utf-8" in reason
    assert quarantine["raw_line"].item().startswith("bob,4,Le")


def test_latin1_source_declared_as_such_loads_with_its_accents():
    data = "Categoría;Precio\nLimón;12.5\nPiña;9\n".encode("latin-1")
    table, quarantine = read_typed_csv(
        data, {"Categoría": "string", "Precio": "float64"}, "catalogo.csv", delimiter=";", encoding="latin-1"
    )
    assert table.column_names == ["categoria", "precio"]
    assert table.column("categoria").to_pylist() == ["Limón", "Piña"]
    assert table.column("precio").type == pa.float64()
    assert quarantine.empty


def test_undecodable_line_in_a_declared_encoding_is_quarantined_and_the_rest_loads(tmp_path):
    # 0x81 is undefined in cp1252: that line cannot be decoded, the others can.
    path = tmp_path / "catalog.csv"
    path.write_bytes("Name,Age,City\nJosé,3,Bogotá\n".encode("cp1252") + b"x\x81y,4,Cali\n" + "Zoë,5,Cúcuta\n".encode("cp1252"))
    table, quarantine = read_typed_csv(str(path), COLUMNS, "catalog.csv", encoding="cp1252")
    assert table.column("name").to_pylist() == ["José", "Zoë"]
    assert table.column("city").to_pylist() == ["Bogotá", "Cúcuta"]
    assert quarantine["line_number"].tolist() == [3]
    assert "column 'Name'" in quarantine["reason"].item() and "cp1252" in quarantine["reason"].item()


def test_utf8_byte_order_mark_is_not_part_of_the_first_column_name():
    data = "\ufeffName,Age,City\nann,3,Lima\n".encode("utf-8")
    table, quarantine = read_typed_csv(data, COLUMNS, "bom.csv")
    assert table.column_names == ["name", "age", "city"] and table.num_rows == 1 and quarantine.empty


def test_a_latin1_header_read_as_utf8_fails_naming_the_file_and_the_parameter():
    import pytest

    data = "Categoría,Precio\nLimón,1\n".encode("latin-1")
    with pytest.raises(ValueError, match=r"dataset 'catalogo.csv': the header \(line 1\) is not valid utf-8: byte 0xed.*encoding parameter"):
        read_typed_csv(data, {"Categoría": "string", "Precio": "float64"}, "catalogo.csv")


def test_kaggle_node_reads_the_encoding_declared_for_the_dataset():
    from pathlib import Path

    import yaml

    from cripto_platform.pipelines.ingestion import kaggle_nodes

    conf = Path(__file__).resolve().parents[3] / "conf/base/parameters_ingestion.yml"
    spec = yaml.safe_load(conf.read_text())["ingestion"]["kaggle"]["datasets"]["credit_risk"]
    assert spec["encoding"] == "utf-8"
    header = ",".join(spec["columns"])
    row = "22,59000,ALQUILER,1.0,EDUCACIÓN,A,1000,10.5,0,0.1,N,3"
    data = f"{header}\n{row}\n".encode("latin-1")
    key = f"credit_risk/20240105/{spec['file']}"
    processed, quarantine = kaggle_nodes.process_csv_table({key: lambda: data}, "20240105", {**spec, "encoding": "latin-1"})
    assert processed["20240105"].column("loan_intent").to_pylist() == ["EDUCACIÓN"] and quarantine.empty
    # declared utf-8 (the default), the same bytes are quarantined by line and column, not a crash
    processed, quarantine = kaggle_nodes.process_csv_table({key: lambda: data}, "20240105", spec)
    assert processed["20240105"].num_rows == 0
    assert quarantine["line_number"].tolist() == [2] and "column 'loan_intent'" in quarantine["reason"].item()


def test_sales_encoding_can_be_declared_per_file():
    from cripto_platform.pipelines.ingestion.csv_quarantine import csv_options

    params = {"encoding": {"products": "latin-1", "default": "utf-8"}, "max_line_bytes": 1024}
    assert csv_options(params, "products") == {"encoding": "latin-1", "max_line_bytes": 1024}
    assert csv_options(params, "sales")["encoding"] == "utf-8"
    assert csv_options({"encoding": "cp1252", "max_line_bytes": 5}, "zones")["encoding"] == "cp1252"
