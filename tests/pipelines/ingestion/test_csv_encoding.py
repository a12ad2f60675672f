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
