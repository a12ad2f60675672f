"""Issue 12 item 12: CSV to partitioned parquet in bounded memory, the quarantine collected as it goes."""

import io
import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.dataset as ds

from cripto_platform.datasets.lake import write_partitioned
from cripto_platform.pipelines.ingestion.csv_quarantine import convert_csv_to_parquet, read_typed_csv, typed_csv_stream

COLUMNS = {"Day": "date", "Symbol": "string", "Id": "int64", "Price": "float64"}


def _lines(n: int, bad_every: int = 0) -> bytes:
    out = [b"Day,Symbol,Id,Price"]
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            out.append(b"2024-01-01,S%d,notanumber,1.0" % (i % 3))
        else:
            out.append(b"2024-01-%02d,S%d,%d,%d.25" % (i % 28 + 1, i % 3, i, i))
    return b"\n".join(out) + b"\n"


class CountingReader(io.BytesIO):
    """A binary file that records how many bytes were read from it."""

    def read(self, size=-1):
        data = super().read(size)
        self.consumed = getattr(self, "consumed", 0) + len(data)
        return data


def test_batches_come_out_before_the_file_is_read_to_the_end():
    data = _lines(20_000)
    source = CountingReader(data)
    stream = typed_csv_stream(source, COLUMNS, "trades.csv", chunk_bytes=64 * 1024)
    first = next(iter(stream))
    assert first.num_rows > 0
    assert source.consumed <= 3 * 64 * 1024 < len(data)


def test_quarantine_across_chunks_keeps_physical_line_numbers():
    data = _lines(5_000, bad_every=997).replace(b"\n2024-01-05,S1,", b"\n\n2024-01-05,S1,", 3)
    small, small_q = read_typed_csv(data, COLUMNS, "t.csv", line_numbers=True, chunk_bytes=4096)
    whole, whole_q = read_typed_csv(data, COLUMNS, "t.csv", line_numbers=True, chunk_bytes=1 << 30)
    assert small.equals(whole)
    assert small_q["line_number"].tolist() == whole_q["line_number"].tolist()
    assert len(small_q) == 5 and small.num_rows + len(small_q) == 5_000
    # every quarantined line is the file's line holding 'notanumber'
    physical = data.split(b"\n")
    assert all(b"notanumber" in physical[n - 1] for n in small_q["line_number"])
    assert all(b"notanumber" not in physical[n - 1] for n in small.column("line_number").to_pylist())


def test_convert_writes_the_same_parquet_as_the_table_path(tmp_path):
    data = _lines(30_000, bad_every=4_001)
    source = tmp_path / "trades.csv"
    source.write_bytes(data)
    rows, quarantine = convert_csv_to_parquet(
        str(source), str(tmp_path / "streamed"), COLUMNS, "trades.csv", ["symbol"], chunk_bytes=32 * 1024
    )
    table, expected_q = read_typed_csv(data, COLUMNS, "trades.csv")
    write_partitioned(table, str(tmp_path / "whole"), ["symbol"])
    assert rows == table.num_rows == 30_000 - 7
    assert quarantine.equals(expected_q)

    def load(name):
        loaded = ds.dataset(str(tmp_path / name), format="parquet", partitioning="hive").to_table()
        return loaded.sort_by("id").select(["day", "symbol", "id", "price"])

    streamed, whole = load("streamed"), load("whole")
    assert streamed.schema.field("day").type == pa.date32() and streamed.equals(whole)


def test_peak_arrow_memory_stays_far_below_the_file_size(tmp_path):
    source = tmp_path / "big.csv"
    with open(source, "wb") as handle:
        handle.write(_lines(0))
        body = _lines(100_000).split(b"\n", 1)[1]
        for _ in range(36):
            handle.write(body)
    size = source.stat().st_size
    script = textwrap.dedent(
        f"""
        import json, pyarrow as pa
        from cripto_platform.pipelines.ingestion.csv_quarantine import convert_csv_to_parquet
        rows, q = convert_csv_to_parquet({str(source)!r}, {str(tmp_path / "out")!r}, {COLUMNS!r}, "big.csv",
                                         ["symbol"], chunk_bytes=1 << 20)
        print(json.dumps({{"rows": rows, "quarantined": len(q), "peak": pa.default_memory_pool().max_memory()}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == 3_600_000 and result["quarantined"] == 0
    # Materialising the table takes more Arrow memory than the file itself (about 1.5x here);
    # streaming holds a few 1 MiB chunks (two parsed ahead) and each partition's rows until they make
    # a row group (lake.MIN_ROWS_PER_GROUP): about 35 MB whatever the file's size.
    assert size > 90 * 1024 * 1024 and result["peak"] < size / 2, (result, size)


class FailingReader(io.BytesIO):
    """A binary file whose disk fails after ``good`` bytes."""

    def __init__(self, data: bytes, good: int):
        super().__init__(data)
        self.good = good

    def read(self, size=-1):
        if self.tell() >= self.good:
            raise OSError("disk read error")
        return super().read(size)


def test_a_read_error_in_the_read_ahead_thread_reaches_the_consumer():
    import threading

    import pytest

    before = threading.active_count()
    stream = typed_csv_stream(FailingReader(_lines(20_000), 100_000), COLUMNS, "trades.csv", chunk_bytes=16 * 1024)
    with pytest.raises(OSError, match="disk read error"):
        for _ in stream:
            pass
    assert threading.active_count() == before


def test_a_consumer_that_stops_early_ends_the_read_ahead_thread():
    import threading

    before = threading.active_count()
    batches = iter(typed_csv_stream(_lines(20_000), COLUMNS, "trades.csv", chunk_bytes=16 * 1024))
    next(batches)
    batches.close()
    assert threading.active_count() == before
