"""CSV to partitioned parquet: the ingestion pipeline's streaming conversion vs plain pyarrow vs pandas.

    flock /tmp/cripto_bench.lock python benchmarks/csv_to_parquet.py             # 0.5, 2 and 4 GiB
    python benchmarks/csv_to_parquet.py --sizes-gb 0.1 0.4 --repeat 1 --keep    # smaller, keep files

Generates a trades CSV (dates, timestamps, strings, integers, floats) of the largest of ``--sizes-gb``
under ``--workdir`` (default /tmp); each smaller size is its first lines. Every size is converted each
way, each run in a fresh subprocess so peak RSS (``VmHWM``) is that method's alone:

- ``pipeline``: ``cripto_platform.pipelines.ingestion.csv_quarantine.convert_csv_to_parquet``
  (whole-line chunks through the typed reader with explicit types and the malformed-line quarantine,
  batches streamed into ``cripto_platform.datasets.lake.write_partitioned``);
- ``pipeline_table`` (not run by default): ``read_typed_csv`` (the same reader, materialised as one
  table) + ``write_partitioned``;
- ``pyarrow``: ``pyarrow.csv.read_csv`` + ``pyarrow.dataset.write_dataset`` (the whole table);
- ``pyarrow_stream``: ``pyarrow.csv.open_csv`` (a RecordBatchReader) + ``write_dataset``;
- ``pandas``: ``pandas.read_csv`` + ``DataFrame.to_parquet(partition_cols=...)``.

All write zstd parquet partitioned by ``symbol`` with the same Arrow schema (date32, timestamp[s],
int64, double, string); the script checks the schemas and value checksums match. The CSVs and
outputs are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

COLUMNS = {
    "trade_date": "date",
    "traded_at": "timestamp",
    "symbol": "string",
    "trade_id": "int64",
    "side": "string",
    "price": "float64",
    "quantity": "float64",
    "fee": "float64",
}
SCHEMA = pa.schema(
    [
        ("trade_date", pa.date32()),
        ("traded_at", pa.timestamp("s")),
        ("symbol", pa.string()),
        ("trade_id", pa.int64()),
        ("side", pa.string()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("fee", pa.float64()),
    ]
)
PARTITION = ["symbol"]
SYMBOLS = np.array([f"SYM{i:02d}USDT" for i in range(16)])


def generate(path: Path, size_bytes: int, seed: int = 7) -> int:
    """Write the trades CSV in 1M-row chunks until it reaches ``size_bytes``; returns rows."""
    rng = np.random.default_rng(seed)
    rows, start = 0, np.datetime64("2024-01-01T00:00:00", "s")
    with open(path, "wb") as handle:
        first = True
        while handle.tell() < size_bytes:
            n = 1_000_000
            seconds = np.sort(rng.integers(0, 365 * 86_400, n))
            stamps = start + seconds.astype("timedelta64[s]")
            table = pa.table(
                {
                    "trade_date": pa.array(stamps.astype("datetime64[D]").astype(str)),
                    "traded_at": pa.array(np.char.replace(stamps.astype(str), "T", " ")),
                    "symbol": pa.array(SYMBOLS[rng.integers(0, len(SYMBOLS), n)]),
                    "trade_id": pa.array(np.arange(rows, rows + n, dtype="int64")),
                    "side": pa.array(np.where(rng.random(n) < 0.5, "buy", "sell")),
                    "price": pa.array(np.round(rng.lognormal(6, 1.5, n), 6)),
                    "quantity": pa.array(np.round(rng.exponential(3, n), 8)),
                    "fee": pa.array(np.round(rng.random(n) * 0.01, 8)),
                }
            )
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=first, quoting_style="none"))
            first = False
            rows += n
    return rows


def convert_pipeline(src: str, dst: str) -> None:
    from cripto_platform.pipelines.ingestion.csv_quarantine import convert_csv_to_parquet

    rows, quarantine = convert_csv_to_parquet(src, dst, COLUMNS, "bench", PARTITION, "zstd", date_format=None)
    assert quarantine.empty and rows > 0


def convert_pipeline_table(src: str, dst: str) -> None:
    from cripto_platform.datasets.lake import write_partitioned
    from cripto_platform.pipelines.ingestion.csv_quarantine import read_typed_csv

    table, quarantine = read_typed_csv(src, COLUMNS, "bench", date_format=None)
    assert quarantine.empty
    write_partitioned(table, dst, PARTITION, "zstd")


def _write(data, dst: str) -> None:
    fmt = ds.ParquetFileFormat()
    ds.write_dataset(
        data, dst, format=fmt, partitioning=PARTITION, partitioning_flavor="hive",
        file_options=fmt.make_write_options(compression="zstd"), existing_data_behavior="delete_matching",
    )


def convert_pyarrow(src: str, dst: str) -> None:
    _write(pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(column_types=SCHEMA)), dst)


def convert_pyarrow_stream(src: str, dst: str) -> None:
    _write(pacsv.open_csv(src, convert_options=pacsv.ConvertOptions(column_types=SCHEMA)), dst)


def convert_pandas(src: str, dst: str) -> None:
    import pandas as pd

    frame = pd.read_csv(
        src,
        dtype={"symbol": "string", "trade_id": "int64", "side": "string", "price": "float64", "quantity": "float64", "fee": "float64"},
        parse_dates=["trade_date", "traded_at"],
        date_format={"trade_date": "%Y-%m-%d", "traded_at": "%Y-%m-%d %H:%M:%S"},
    )
    frame.to_parquet(dst, engine="pyarrow", compression="zstd", partition_cols=PARTITION, schema=SCHEMA, index=False)


METHODS = {
    "pipeline": convert_pipeline,
    "pipeline_table": convert_pipeline_table,
    "pyarrow": convert_pyarrow,
    "pyarrow_stream": convert_pyarrow_stream,
    "pandas": convert_pandas,
}
DEFAULT_METHODS = ["pipeline", "pyarrow", "pyarrow_stream", "pandas"]


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would include the parent's peak, kept across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(method: str, src: str, dst: str) -> None:
    """Child process: convert, print elapsed seconds and peak RSS as JSON (imports are not timed)."""
    import pandas  # noqa: F401

    from cripto_platform.datasets.lake import write_partitioned  # noqa: F401
    from cripto_platform.pipelines.ingestion.csv_quarantine import read_typed_csv  # noqa: F401

    before_mb = _peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    METHODS[method](src, dst)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    peak_mb = _peak_rss_mb()
    print(json.dumps({"method": method, "seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mb": peak_mb,
                      "imports_rss_mb": before_mb}), flush=True)
    # Skip interpreter teardown: Arrow's thread pools occasionally abort at exit ("terminate called
    # without an active exception") after pandas' parquet writer; the result is already printed.
    os._exit(0)


def summarise(dst: str) -> dict:
    """Schema and checksums of one output, for the same-output check."""
    dataset = ds.dataset(dst, format="parquet", partitioning=ds.partitioning(pa.schema([("symbol", pa.string())]), flavor="hive"))
    table = dataset.to_table()
    schema = pa.schema([table.schema.field(name).remove_metadata() for name in SCHEMA.names])
    return {
        "schema": str(schema),
        "rows": table.num_rows,
        # in integer milli-units: a float sum depends on the order the files are read in
        "price_milli_sum": pc.sum(pc.cast(pc.round(pc.multiply(table["price"], 1000)), pa.int64())).as_py(),
        "trade_id_sum": pc.sum(table["trade_id"]).as_py(),
        "dates": [str(pc.min(table["trade_date"])), str(pc.max(table["trade_date"]))],
        "last_ts": str(pc.max(table["traded_at"])),
        "symbols": pc.count_distinct(table["symbol"]).as_py(),
        "buys": pc.sum(pc.equal(table["side"], "buy")).as_py(),
    }


def prefix_copy(src: Path, dst: Path, size_bytes: int) -> int:
    """The first whole lines of ``src`` up to about ``size_bytes`` into ``dst`` (a smaller file of the same data)."""
    with open(src, "rb") as source, open(dst, "wb") as target:
        copied = 0
        while copied < size_bytes:
            block = source.read(min(64 << 20, size_bytes - copied))
            if not block:
                break
            target.write(block)
            copied += len(block)
        target.write(source.readline())  # finish the last line
    with open(dst, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(64 << 20), b"")) - 1


def bench_size(args, work: Path, src: Path, rows: int) -> list[dict]:
    """Every method on ``src`` ``args.repeat`` times; one result row per method."""
    size = src.stat().st_size
    runs: dict[str, list[dict]] = {method: [] for method in args.methods}
    summaries = {}
    for attempt in range(args.repeat):
        # Methods interleaved and rotated (each starts a round in turn), and dirty
        # pages flushed before each run, so neither background load nor the previous method's
        # write-back lands on one method only.
        order = args.methods[attempt % len(args.methods):] + args.methods[: attempt % len(args.methods)]
        for method in order:
            dst = work / f"out_{method}"
            shutil.rmtree(dst, ignore_errors=True)
            os.sync()
            out = subprocess.run(
                [sys.executable, __file__, "--run-method", method, "--src", str(src), "--dst", str(dst)],
                capture_output=True, text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"{method} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            runs[method].append(result)
            print(f"{size / 1024**2:,.0f} MiB run {attempt + 1} {method:14s} {result['seconds']:7.1f} s  "
                  f"CPU {result['cpu_seconds']:6.1f} s  "
                  f"peak RSS {result['peak_rss_mb']:7.0f} MiB", flush=True)
            if attempt == args.repeat - 1:
                summaries[method] = summarise(str(dst))
                shutil.rmtree(dst, ignore_errors=True)
    reference = next(iter(summaries.values()))
    for method, summary in summaries.items():
        if summary != reference:
            raise SystemExit(f"outputs differ: {method}: {summary} vs {reference}")
    print(f"same typed output from every method: {reference['rows']:,} rows, schema {reference['schema']!r}", flush=True)
    results = []
    for method, method_runs in runs.items():
        seconds = sorted(r["seconds"] for r in method_runs)
        results.append(
            {
                "size_mib": size / 1024**2,
                "rows": rows,
                "method": method,
                "seconds": seconds[0],
                "median": seconds[len(seconds) // 2],
                "cpu": min(r["cpu_seconds"] for r in method_runs),
                "mb_per_s": size / 1024**2 / seconds[0],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in method_runs),
                "extra_mb": max(r["peak_rss_mb"] - r["imports_rss_mb"] for r in method_runs),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[0.5, 2.0, 4.0],
                        help="CSV sizes; the largest is generated, smaller ones are its first lines")
    parser.add_argument("--workdir", default="/tmp/cripto_csv_bench")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    parser.add_argument("--repeat", type=int, default=2, help="runs per method and size, interleaved (best and median reported)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--run-method", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--dst", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_method:
        return run_one(args.run_method, args.src, args.dst)

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.sizes_gb)
    largest = work / "trades.csv"
    try:
        started = time.perf_counter()
        rows = generate(largest, int(sizes[-1] * 1024**3))
        print(f"generated {largest}: {largest.stat().st_size / 1024**2:,.0f} MiB, {rows:,} rows in "
              f"{time.perf_counter() - started:.0f}s", flush=True)
        results = []
        for size_gb in sizes:
            if size_gb == sizes[-1]:
                src, size_rows = largest, rows
            else:
                src = work / f"trades_{size_gb:g}.csv"
                size_rows = prefix_copy(largest, src, int(size_gb * 1024**3))
            results += bench_size(args, work, src, size_rows)
            if src != largest:
                src.unlink()
        print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}, pyarrow {pa.__version__}")
        print(f"| CSV MiB | rows | method | best s | median s | CPU s (least) | MiB/s (best) | peak RSS MiB | RSS growth MiB |  "
              f"({args.repeat} runs each)\n|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['size_mib']:,.0f} | {r['rows']:,} | {r['method']} | {r['seconds']:.1f} | {r['median']:.1f} | {r['cpu']:.1f} | "
                  f"{r['mb_per_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['extra_mb']:.0f} |")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
