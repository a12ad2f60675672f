"""Issue 12 item 6: an integer beyond int64 is quarantined with its line; the int64 extremes are kept exactly."""

from cripto_platform.pipelines.ingestion.csv_quarantine import read_typed_csv

COLUMNS = {"Product": "string", "Units": "int64"}


def test_integer_beyond_int64_is_quarantined_naming_the_column():
    data = (
        b"Product,Units\n"
        b"a,9223372036854775807\n"      # line 2: int64 max, kept exactly
        b"b,99999999999999999999\n"     # line 3: beyond int64
        b"c,-9223372036854775808\n"     # line 4: int64 min, kept exactly
        b"d,9223372036854775808\n"      # line 5: int64 max + 1
        b"e,9007199254740993\n"         # line 6: not representable as float64, kept exactly
        b"f,7\n"                        # line 7
    )
    table, quarantine = read_typed_csv(data, COLUMNS, "sales.csv")
    assert table.column("product").to_pylist() == ["a", "c", "e", "f"]
    assert table.column("units").to_pylist() == [9223372036854775807, -9223372036854775808, 9007199254740993, 7]
    assert quarantine["line_number"].tolist() == [3, 5]
    assert quarantine["reason"].tolist() == [
        "column 'Units': cannot parse '99999999999999999999' as int64 (out of int64 range)",
        "column 'Units': cannot parse '9223372036854775808' as int64 (out of int64 range)",
    ]


def test_overflow_next_to_another_bad_line_keeps_both_reasons():
    data = b"Product,Units\na,1\nb,-99999999999999999999\nc,2.5\nd,3.0\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "sales.csv")
    assert table.column("units").to_pylist() == [1, 3]
    assert quarantine["line_number"].tolist() == [3, 4]
    assert "out of int64 range" in quarantine["reason"][0] and "'2.5' as int64" in quarantine["reason"][1]
