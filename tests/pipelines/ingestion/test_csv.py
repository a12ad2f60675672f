"""Raw CSV to typed table: quarantine with line numbers, schema drift, tolerated drift."""

import pyarrow as pa
import pytest

from cripto_platform.pipelines.ingestion.csv_quarantine import SchemaDriftError, read_typed_csv, snake_case

COLUMNS = {"Name": "string", "Age": "int64", "When": "date", "Score": "float64"}


def test_clean_file_is_typed_and_snake_cased():
    data = b"Name,Age,When,Score\nann,3,2024-01-02,1.5\nbob,,2024-01-03,\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "demo")
    assert table.schema == pa.schema(
        [("name", pa.string()), ("age", pa.int64()), ("when", pa.date32()), ("score", pa.float64())]
    )
    assert table.column("age").to_pylist() == [3, None]
    assert quarantine.empty


def test_malformed_lines_are_quarantined_with_their_line_numbers():
    data = (
        b"Name,Age,When,Score\n"
        b"ann,3,2024-01-02,1.5\n"      # line 2 ok
        b"bob,4\n"                      # line 3: too few fields
        b"cid,x,2024-01-03,2\n"         # line 4: Age not an integer
        b"dan,5,2024-13-01,3\n"         # line 5: impossible date
        b"\n"                           # line 6: blank, not a row
        b"eve,6,2024-01-05,4,9\n"       # line 7: too many fields
        b"fay,7,2024-01-06,\n"          # line 8 ok
    )
    table, quarantine = read_typed_csv(data, COLUMNS, "demo.csv")
    assert table.column("name").to_pylist() == ["ann", "fay"]
    assert table.column("age").type == pa.int64()
    assert quarantine["line_number"].tolist() == [3, 4, 5, 7]
    assert set(quarantine["dataset"]) == {"demo.csv"}
    reasons = dict(zip(quarantine["line_number"], quarantine["reason"]))
    assert "expected 4 fields, found 2" in reasons[3]
    assert "column 'Age'" in reasons[4] and "'x'" in reasons[4]
    assert "column 'When'" in reasons[5]
    assert quarantine.loc[quarantine["line_number"] == 3, "raw_line"].item() == "bob,4"
    # nothing silently dropped: every data line is either kept or quarantined
    assert table.num_rows + len(quarantine) == 6


def test_custom_date_format_and_delimiter():
    data = "Fecha;Monto\n31/01/2024;1,5\n01/02/2024;2\n".encode()
    table, quarantine = read_typed_csv(data, {"Fecha": "date", "Monto": "string"}, "d", ";", "%d/%m/%Y")
    assert [d.isoformat() for d in table.column("fecha").to_pylist()] == ["2024-01-31", "2024-02-01"]
    assert quarantine.empty


def test_missing_column_fails_naming_it():
    with pytest.raises(SchemaDriftError, match=r"dataset 'loans.csv': missing column 'Score'"):
        read_typed_csv(b"Name,Age,When\nann,3,2024-01-02\n", COLUMNS, "loans.csv")


def test_unexpected_column_fails_naming_it():
    with pytest.raises(SchemaDriftError, match=r"unexpected column 'Extra'"):
        read_typed_csv(b"Name,Age,When,Score,Extra\nann,3,2024-01-02,1,x\n", COLUMNS, "loans.csv")


def test_tolerated_drift_keeps_going():
    data = b"Name,Age,When,Extra\nann,3,2024-01-02,x\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "loans.csv", tolerated_drift=["Score", "extra"])
    assert table.column_names == ["name", "age", "when", "extra", "score"]
    assert table.column("score").type == pa.float64() and table.column("score").null_count == 1
    assert table.column("extra").to_pylist() == ["x"]


def test_snake_case():
    assert snake_case("Precio Lista (MXN)") == "precio_lista_mxn"
    assert snake_case("Categoría") == "categoria"
    assert snake_case("motorSpeed") == "motor_speed"


def test_every_bad_value_of_a_line_is_named():
    data = b"Name,Age,When,Score\nann,x,2024-01-02,oops\nbob,4,2024-01-03,2.5\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "demo.csv")
    assert table.column("name").to_pylist() == ["bob"]
    assert quarantine["reason"].tolist() == [
        "column 'Age': cannot parse 'x' as int64; column 'Score': cannot parse 'oops' as float64"
    ]
    assert quarantine["line_number"].tolist() == [2]


def test_na_tokens_in_number_columns_are_quarantined_not_nulled():
    data = b"Name,Age,When,Score\nann,NA,2024-01-02,1\nbob,4,2024-01-03,\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "demo.csv")
    assert table.column("name").to_pylist() == ["bob"] and table.column("score").to_pylist() == [None]
    assert quarantine["line_number"].tolist() == [2] and "'NA'" in quarantine["reason"].item()


@pytest.mark.parametrize("dirty", [False, True])
def test_line_numbers_follow_blank_and_rejected_lines(dirty):
    bad = b"bob,4\n" if dirty else b"\n"
    data = b"Name,Age,When,Score\nann,3,2024-01-02,1.5\n\n" + bad + b"cid,5,2024-01-03,\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "d", line_numbers=True)
    assert table.column("line_number").to_pylist() == [2, 5]
    assert quarantine["line_number"].tolist() == ([4] if dirty else [])
