"""Issue 12 item 5: a line of several MB is quarantined (or read) by line number; the rest of the file loads."""

from cripto_platform.pipelines.ingestion.csv_quarantine import read_typed_csv

COLUMNS = {"Name": "string", "Age": "int64", "Note": "string"}
HUGE = 3 * 1024 * 1024


def _file(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(
        b"Name,Age,Note\n"
        b"ann,3,short\n"                            # line 2
        + b"bob,4," + b"x" * HUGE + b"\n"           # line 3: about 3 MiB
        + b"cid,5,also short\n"                     # line 4
        + b"dan,6,fine\n"                           # line 5
    )
    return str(path)


def test_a_line_longer_than_max_line_bytes_is_quarantined_naming_line_and_column(tmp_path):
    table, quarantine = read_typed_csv(
        _file(tmp_path), COLUMNS, "long.csv", line_numbers=True, max_line_bytes=1024 * 1024, chunk_bytes=256 * 1024
    )
    assert table.column("name").to_pylist() == ["ann", "cid", "dan"]
    assert table.column("line_number").to_pylist() == [2, 4, 5]
    assert quarantine["line_number"].tolist() == [3]
    reason = quarantine["reason"].item()
    assert "max_line_bytes" in reason and "column 'Note'" in reason and f"{HUGE + 6:,}" in reason
    assert quarantine["raw_line"].item().startswith("bob,4,xxx") and len(quarantine["raw_line"].item()) < 10_000


def test_a_line_longer_than_pyarrows_block_but_within_the_limit_is_read(tmp_path):
    table, quarantine = read_typed_csv(_file(tmp_path), COLUMNS, "long.csv", max_line_bytes=8 * 1024 * 1024)
    assert quarantine.empty
    assert table.column("age").to_pylist() == [3, 4, 5, 6]
    assert len(table.column("note")[1].as_py()) == HUGE


def test_a_long_line_in_bytes_input_with_the_default_limit(tmp_path):
    data = b"Name,Age,Note\nann,3,a\n" + b"bob,x," + b"y" * HUGE + b"\ncid,5,c\n"
    table, quarantine = read_typed_csv(data, COLUMNS, "long.csv")
    # read fine, then the value error (Age 'x') quarantines it by its line, not by block
    assert table.column("name").to_pylist() == ["ann", "cid"]
    assert quarantine["line_number"].tolist() == [3] and "column 'Age'" in quarantine["reason"].item()
