"""Lake tables written from a stream get row groups of many batches, so memory does not grow with the file."""

import pyarrow as pa
import pyarrow.parquet as pq

from cripto_platform.datasets.lake import MIN_ROWS_PER_GROUP, write_partitioned


def _stream(n_batches: int, rows_per_batch: int) -> pa.RecordBatchReader:
    schema = pa.schema([("symbol", pa.string()), ("trade_id", pa.int64())])

    def batches():
        for i in range(n_batches):
            ids = pa.array(range(i * rows_per_batch, (i + 1) * rows_per_batch), pa.int64())
            symbols = pa.array(["BTC", "ETH"] * (rows_per_batch // 2))
            yield pa.record_batch([symbols, ids], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def test_a_stream_of_small_batches_is_written_in_few_large_row_groups(tmp_path):
    # 300 batches of 1,000 rows split over two partitions: 150,000 rows per file.
    write_partitioned(_stream(300, 1_000), str(tmp_path / "trades"), ["symbol"])
    files = sorted((tmp_path / "trades").rglob("*.parquet"))
    assert len(files) == 2
    for file in files:
        metadata = pq.ParquetFile(file).metadata
        assert metadata.num_rows == 150_000
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        # one row group per incoming batch (300 of 500 rows) before; now whole groups of the minimum size
        assert metadata.num_row_groups <= 150_000 // MIN_ROWS_PER_GROUP + 1, sizes
        assert all(size >= MIN_ROWS_PER_GROUP for size in sizes[:-1]), sizes
    table = pq.read_table(tmp_path / "trades")
    assert table.num_rows == 300_000 and pa.compute.sum(table["trade_id"]).as_py() == sum(range(300_000))
