"""Table profiling: the project's bounded-memory profiler vs bare pandas / polars passes vs ydata-profiling.

    flock /tmp/cripto_bench.lock python benchmarks/profiling.py            # 1M rows + the 20M-row table
    flock /tmp/cripto_bench.lock python benchmarks/profiling.py --quick    # smoke run: small, no ydata (< 1 min)

Generates seeded parquet files of 30 mixed columns (floats and integers with nulls, ids, categories, free
text, naive/zoned timestamps and dates, a few duplicate rows) under ``--workdir``, written one row group
at a time with ``pyarrow.parquet.ParquetWriter`` (the generator holds one batch, never the table); each
smaller size is the first rows of the larger ones. Each tool runs in its own subprocess, so its peak
RSS (``ru_maxrss`` of that child, from ``os.wait4``) is its own; the time is reading + computing
(imports excluded, reported apart):

- ``profiler``: ``cripto_platform.profiling.profile_parquet(path, options)`` with ``options`` the
  ``profiling.profile`` block of ``conf/base/parameters_profiling.yml`` (the full profile: quantiles,
  histograms, top values, correlations, duplicates, ...);
- ``pandas``: ``read_parquet`` + ``describe(include="all")``, ``isna().sum()``, ``nunique()``,
  ``duplicated().sum()`` (the floor for touching every value once in pandas);
- ``polars``: ``read_parquet`` + ``describe()``, ``n_unique()`` per column, ``is_duplicated().sum()``;
- ``ydata``: ``pandas.read_parquet`` + ``ProfileReport(df, minimal=True).to_json()`` in its own
  virtual environment (``--ydata-venv``, created on first use with ``pip install ydata-profiling
  "pandas<3" pyarrow``: ydata-profiling needs pandas < 3, which this project does not use).

Then the large table (``--large-rows``, default 20M): the profiler alone, and pandas at
``--pandas-rows`` (default 1M and 5M) to extrapolate its growth, or at the large size too with
``--pandas-large``. Prints the timings, an agreement table (min, max, mean, missing, distinct of a
few columns, every tool against pandas) and the targets met or missed; ``--json`` saves everything.
Files are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "conf/base/parameters_profiling.yml"
DEFAULT_VENV = ROOT / "benchmarks/.venvs/ydata"
YDATA_REQUIREMENTS = ["ydata-profiling", "pandas<3", "pyarrow"]
# Columns whose figures are compared across tools (one of each kind).
COMPARED = ["amount", "quantity", "customer_id", "country", "comment", "created_at", "updated_at"]
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------- data


def _words(rng, count: int, low: int = 3, high: int = 10):
    import numpy as np

    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(low, high + 1, count)
    return sorted({"".join(rng.choice(letters, n)) for n in lengths})


def make_batch(start: int, n: int, seed: int):
    """Rows ``start .. start+n`` of the table (30 columns), seeded by ``(seed, start)``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    vocab_rng = np.random.default_rng(seed)  # same vocabularies in every batch
    words = pa.array(_words(vocab_rng, 3000))
    cities = pa.array(_words(vocab_rng, 600, 5, 12))
    countries = pa.array([f"C{i:02d}" for i in range(48)])
    domains = pa.array([f"{w}.com" for w in _words(vocab_rng, 40)])
    rng = np.random.default_rng([seed, start])

    def nulls(share: float):
        return rng.random(n) < share if share else None

    def floats(values, share):
        return pa.array(values, mask=nulls(share))

    def pick(pool, share, weights=None):
        if weights is not None:
            idx = rng.choice(len(pool), n, p=np.asarray(weights) / np.sum(weights))
        else:
            idx = rng.integers(0, len(pool), n)
        out = pool.take(pa.array(idx))
        mask = nulls(share)
        return out if mask is None else pc.if_else(pa.array(mask), pa.nulls(n, pa.string()), out)

    def sentence(k, share):
        parts = [words.take(pa.array(rng.integers(0, len(words), n))) for _ in range(k)]
        out = pc.binary_join_element_wise(*parts, " ")
        mask = nulls(share)
        return out if mask is None else pc.if_else(pa.array(mask), pa.nulls(n, pa.string()), out)

    base = np.datetime64("2022-01-01T00:00:00", "us").astype("int64")
    year_us = 365 * 86_400 * 1_000_000
    created = base + rng.integers(0, 3 * year_us, n)
    columns = {
        "order_id": pa.array(np.arange(start, start + n, dtype="int64")),
        "customer_id": pa.array(rng.integers(0, 100_000, n), mask=nulls(0.01)),
        "price": floats(np.round(rng.lognormal(4, 1.2, n), 2), 0.02),
        "amount": floats(rng.normal(250, 80, n), 0.10),
        "fee": floats(np.round(rng.exponential(1.5, n), 4), 0.05),
        "ratio": floats(rng.random(n), 0.0),
        "score": floats(rng.normal(0, 1, n), 0.20),
        "temperature": floats(np.round(rng.normal(21, 6, n), 1), 0.03),
        "latitude": floats(rng.uniform(-60, 70, n), 0.01),
        "longitude": floats(rng.uniform(-180, 180, n), 0.01),
        "quantity": pa.array(rng.integers(1, 50, n), mask=nulls(0.05)),
        "age": pa.array(rng.integers(18, 90, n).astype("int32"), mask=nulls(0.15)),
        "items": pa.array(rng.poisson(3, n).astype("int16"), mask=nulls(0.0)),
        "rating": pa.array(rng.integers(1, 6, n).astype("int8"), mask=nulls(0.30)),
        "country": pick(countries, 0.02, weights=np.arange(48, 0, -1)),
        "city": pick(cities, 0.05),
        "channel": pick(pa.array(["web", "app", "store", "phone", "partner"]), 0.0, weights=[50, 30, 12, 5, 3]),
        "status": pick(pa.array(["paid", "pending", "refunded", "failed"]), 0.01, weights=[80, 12, 5, 3]),
        "segment": pick(pa.array([f"seg_{i}" for i in range(10)]), 0.08),
        "currency": pick(pa.array(["USD", "EUR", "COP", "MXN", "BRL", "ARS", "CLP", "PEN", "GBP", "JPY"]), 0.0),
        "comment": sentence(8, 0.30),
        "title": sentence(3, 0.05),
        "address": pc.binary_join_element_wise(
            pc.cast(pa.array(rng.integers(1, 9999, n)), pa.string()),
            words.take(pa.array(rng.integers(0, len(words), n))), pa.scalar("street"), " "),
        "email": pc.binary_join_element_wise(
            words.take(pa.array(rng.integers(0, len(words), n))),
            pc.binary_join_element_wise(
                pc.cast(pa.array(rng.integers(0, 1000, n)), pa.string()),
                domains.take(pa.array(rng.integers(0, len(domains), n))), "@"), "."),
        "sku": pc.binary_join_element_wise(
            pa.scalar("SKU"), pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 200_000, n)), pa.string()), 6, "0"),
            "-"),
        "created_at": pa.array(created, type=pa.int64()).cast(pa.timestamp("us")),
        "updated_at": pa.array(created + rng.integers(0, 30 * 86_400_000_000, n), mask=nulls(0.10))
        .cast(pa.timestamp("us", tz="UTC")),
        "shipped_at": pa.array((created // 1000 + rng.integers(0, 10 * 86_400_000, n)), mask=nulls(0.40))
        .cast(pa.timestamp("ms")),
        "birth_date": pa.array(rng.integers(-20_000, 2_000, n).astype("int32"), mask=nulls(0.10))
        .cast(pa.date32()),
        "last_login": pa.array(base + rng.integers(0, 4 * year_us, n), mask=nulls(0.25))
        .cast(pa.timestamp("us")),
    }
    table = pa.table(columns)
    # About 0.2% of rows are exact copies of an earlier row of the same batch (found by duplicate counts).
    copies = max(n // 500, 1) if n >= 4 else 0
    take = np.arange(n)
    if copies:
        targets = rng.choice(np.arange(n // 2, n), copies, replace=False)
        take[targets] = rng.integers(0, n // 2, copies)
        table = table.take(pa.array(take))
        # order_id stays a copy too (whole-row duplicates); keep the schema's column order
    return table


def generate(path: Path, rows: int, batch_rows: int, seed: int) -> float:
    """Write ``rows`` rows to ``path`` one row group per batch; returns seconds."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    writer = None
    for start in range(0, rows, batch_rows):
        table = make_batch(start, min(batch_rows, rows - start), seed)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=batch_rows)
        del table
    writer.close()
    os.replace(tmp, path)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- tools (children)


def _rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _iso(value) -> str | None:
    """A timestamp-like value as ISO 8601 (UTC, naive) with microseconds, for comparisons."""
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.isoformat(timespec="microseconds")


def _num(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def run_profiler(path: str, columns: list[str]) -> tuple[dict, dict]:
    import yaml

    from cripto_platform.profiling import profile_parquet

    options = yaml.safe_load(PARAMS.read_text())["profiling"]["profile"]
    profile = profile_parquet(path, options)
    figures = {}
    for col in profile["columns"]:
        if col["name"] not in columns:
            continue
        entry = {"missing": col["missing"], "distinct": col["distinct"], "distinct_exact": col["distinct_exact"]}
        if col["numeric"]:
            entry.update(min=col["numeric"]["min"], max=col["numeric"]["max"], mean=col["numeric"]["mean"])
        if col["temporal"]:
            entry.update(min=_iso(col["temporal"]["min"]), max=_iso(col["temporal"]["max"]))
        figures[col["name"]] = entry
    bounds = {note["figure"]: note["bound"] for note in profile["approximations"]}
    extra = {"duplicate_rows": profile["table_stats"]["duplicate_rows"],
             "duplicate_rows_exact": profile["table_stats"]["duplicate_rows_exact"],
             "rows": profile["table_stats"]["rows"], "bounds": bounds,
             "approximate_distinct": [c["name"] for c in profile["columns"] if not c["distinct_exact"]]}
    return figures, extra


def run_pandas(path: str, columns: list[str]) -> tuple[dict, dict]:
    import pandas as pd

    df = pd.read_parquet(path)
    described = df.describe(include="all")
    missing = df.isna().sum()
    distinct = df.nunique()
    duplicates = int(df.duplicated().sum())
    figures = {}
    for name in columns:
        entry = {"missing": int(missing[name]), "distinct": int(distinct[name])}
        if pd.api.types.is_numeric_dtype(df[name]):
            entry.update({k: _num(described.at[k, name]) for k in ("min", "max", "mean")})
        elif pd.api.types.is_datetime64_any_dtype(df[name]):
            entry.update(min=_iso(described.at["min", name]), max=_iso(described.at["max", name]))
        figures[name] = entry
    return figures, {"duplicate_rows": duplicates, "rows": len(df)}


def run_polars(path: str, columns: list[str]) -> tuple[dict, dict]:
    import polars as pl

    df = pl.read_parquet(path)
    described = df.describe()
    distinct = df.select(pl.all().n_unique()).row(0, named=True)
    duplicated = int(df.is_duplicated().sum())
    stats = {row["statistic"]: row for row in described.iter_rows(named=True)}
    figures = {}
    for name in columns:
        dtype = df.schema[name]
        nulls = int(float(stats["null_count"][name]))
        # n_unique counts null as one more value; the others count distinct present values.
        entry = {"missing": nulls, "distinct": int(distinct[name]) - (1 if nulls else 0)}
        if dtype.is_numeric():
            entry.update({k: _num(stats[k][name]) for k in ("min", "max", "mean")})
        elif dtype.is_temporal():
            entry.update(min=_iso(stats["min"][name]), max=_iso(stats["max"][name]))
        figures[name] = entry
    # is_duplicated marks every copy of a repeated row (pandas' duplicated marks all but the first)
    return figures, {"is_duplicated": duplicated, "rows": df.height}


def run_ydata(path: str, columns: list[str]) -> tuple[dict, dict]:
    import pandas as pd
    from ydata_profiling import ProfileReport

    df = pd.read_parquet(path)
    report = json.loads(ProfileReport(df, minimal=True, progress_bar=False).to_json())
    figures = {}
    for name in columns:
        var = report["variables"][name]
        entry = {"missing": var.get("n_missing"), "distinct": var.get("n_distinct"), "type": var.get("type")}
        if var.get("type") == "Numeric":
            entry.update({k: _num(var.get(k)) for k in ("min", "max", "mean")})
        elif var.get("type") == "DateTime":
            entry.update(min=_iso(var.get("min")), max=_iso(var.get("max")))
        figures[name] = entry
    table = report.get("table", {})
    return figures, {"duplicate_rows": table.get("n_duplicates"), "rows": table.get("n")}


TOOLS = {"profiler": run_profiler, "pandas": run_pandas, "polars": run_polars, "ydata": run_ydata}


def child_main(tool: str, path: str, out: str) -> None:
    """Run one tool on ``path`` and write its time, RSS and figures to ``out`` (JSON)."""
    import warnings

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    # Import the tool's libraries first: the timed part is reading + computing.
    if tool == "profiler":
        import cripto_platform.profiling  # noqa: F401
        import yaml  # noqa: F401
    elif tool == "pandas":
        import pandas  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    elif tool == "polars":
        import polars  # noqa: F401
    elif tool == "ydata":
        import pandas  # noqa: F401
        import ydata_profiling  # noqa: F401
    imported = time.perf_counter()
    baseline = _rss_mib()
    figures, extra = TOOLS[tool](path, COMPARED)
    seconds = time.perf_counter() - imported
    result = {"tool": tool, "seconds": seconds, "import_seconds": imported - started,
              "baseline_rss_mib": baseline, "figures": figures, "extra": extra}
    if tool == "ydata":
        import ydata_profiling

        result["version"] = ydata_profiling.__version__
    Path(out).write_text(json.dumps(result, default=str))


# ---------------------------------------------------------------------------------------------- parent


def ensure_ydata_venv(venv: Path) -> Path:
    """The ydata-profiling environment's python: reused when it imports ydata_profiling, else created."""
    python = venv / "bin/python"
    if python.exists() and subprocess.run([python, "-c", "import ydata_profiling"],
                                          capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} (pip install {' '.join(YDATA_REQUIREMENTS)}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *YDATA_REQUIREMENTS], check=True)
    return python


def run_tool(tool: str, path: Path, workdir: Path, python: str = sys.executable) -> dict:
    """Run ``tool`` in a fresh subprocess; its peak RSS is that child's ``ru_maxrss`` (os.wait4)."""
    out = workdir / f"{tool}-{path.stem}.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    if tool == "ydata":  # the ydata venv must not see this project's packages
        env.pop("PYTHONPATH", None)
    process = subprocess.Popen([python, str(Path(__file__).resolve()), "--child", tool, str(path), str(out)],
                               env=env, cwd=str(ROOT))
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{tool} on {path} failed with exit code {process.returncode}")
    result = json.loads(out.read_text())
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # kB on Linux
    result["rows"] = result["extra"].get("rows")
    return result


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.10g}"
    return str(value)


def _bound_share(bound: str) -> float | None:
    """'within +/-0.67% (3 standard errors)' -> 0.0067."""
    if "+/-" not in bound:
        return None
    return float(bound.split("+/-", 1)[1].split("%", 1)[0]) / 100


def agreement(results: dict[str, dict]) -> list[dict]:
    """Each compared figure of each tool against pandas: equal, or within the profiler's stated bound."""
    reference = results["pandas"]["figures"]
    profiler_extra = results["profiler"]["extra"]
    rows = []
    for name in COMPARED:
        for figure in ("min", "max", "mean", "missing", "distinct"):
            ref = reference[name].get(figure)
            if ref is None and figure != "distinct":
                continue
            values = {tool: results[tool]["figures"].get(name, {}).get(figure) for tool in results}
            verdicts = []
            for tool, value in values.items():
                if tool == "pandas" or value is None:
                    continue
                if value == ref:
                    continue
                if isinstance(ref, float) and isinstance(value, float) and math.isclose(value, ref, rel_tol=1e-9):
                    continue
                if tool == "profiler" and figure == "distinct" and not results["profiler"]["figures"][name]["distinct_exact"]:
                    share = _bound_share(profiler_extra["bounds"].get(f"{name}.distinct", ""))
                    off = abs(value - ref) / ref if ref else float("inf")
                    if share is not None and off <= share:
                        verdicts.append(f"profiler within its stated ±{share:.2%} (KMV; off {off:.3%})")
                        continue
                    verdicts.append(f"profiler OUTSIDE its stated ±{share:.2%} (off {off:.3%})")
                    continue
                if isinstance(ref, float) and isinstance(value, (int, float)):
                    verdicts.append(f"{tool} differs by {abs(value - ref) / max(abs(ref), 1e-300):.1e} (relative)")
                else:
                    verdicts.append(f"{tool} differs")
            rows.append({"column": name, "figure": figure, "values": values,
                         "verdict": "; ".join(verdicts) if verdicts else "equal"})
    return rows


def print_results(runs: list[dict], agree: list[dict] | None, duplicates: dict | None) -> None:
    print("\n| table rows | tool | best s (read + compute) | median s | import s | peak RSS MiB | RSS after imports MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for run in runs:
        median = f"{run['median_seconds']:.2f}" if "median_seconds" in run else "—"
        print(f"| {run['rows']:,} | {run['tool']} | {run['seconds']:.2f} | {median} | {run['import_seconds']:.2f} | "
              f"{run['peak_rss_mib']:.0f} | {run['baseline_rss_mib']:.0f} |")
    if agree:
        tools = list(agree[0]["values"])
        print("\n| column | figure | " + " | ".join(tools) + " | agreement |")
        print("|---|---|" + "---:|" * len(tools) + "---|")
        for row in agree:
            print(f"| {row['column']} | {row['figure']} | "
                  + " | ".join(_fmt(row["values"][t]) for t in tools) + f" | {row['verdict']} |")
    if duplicates:
        print("\nduplicate rows:", ", ".join(f"{k} {v}" for k, v in duplicates.items()))


def _machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) / 1024 / 1024
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at the start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the comparison table (all tools)")
    parser.add_argument("--large-rows", type=int, default=20_000_000, help="rows of the large table (0: skip)")
    parser.add_argument("--pandas-rows", type=int, nargs="*", default=[1_000_000, 5_000_000],
                        help="table sizes pandas runs at to show its growth (besides --rows)")
    parser.add_argument("--pandas-large", action="store_true", help="run pandas on the large table too")
    parser.add_argument("--batch-rows", type=int, default=500_000, help="rows per generated batch / row group")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of profiler/pandas/polars on --rows")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cripto_profiling_bench"))
    parser.add_argument("--ydata-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--skip-ydata", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100k rows, large table 400k, pandas at 200k, no ydata")
    parser.add_argument("--keep", action="store_true", help="keep the generated parquet files")
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    if args.quick:
        args.rows, args.large_rows, args.pandas_rows, args.batch_rows = 100_000, 400_000, [200_000], 50_000
        args.skip_ydata, args.repeat = True, 1

    print(_machine(), flush=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = sorted({args.rows, *args.pandas_rows, *([args.large_rows] if args.large_rows else [])})
    paths = {rows: args.workdir / f"table_{rows}.parquet" for rows in sizes}
    for rows, path in paths.items():
        if not path.exists():
            seconds = generate(path, rows, args.batch_rows, args.seed)
            print(f"generated {path} ({rows:,} rows, {path.stat().st_size / MIB:,.0f} MiB) in {seconds:.1f} s",
                  flush=True)

    runs: list[dict] = []
    results: dict[str, dict] = {}
    tools = ["profiler", "pandas", "polars"]
    ydata_python = None if args.skip_ydata else ensure_ydata_venv(args.ydata_venv)
    timings: dict[str, list[dict]] = {tool: [] for tool in tools}
    for _ in range(args.repeat):  # interleaved rounds; the best run of each tool is reported, median beside it
        for tool in tools:
            run = run_tool(tool, paths[args.rows], args.workdir)
            print(f"{tool} at {args.rows:,} rows: {run['seconds']:.2f} s, peak {run['peak_rss_mib']:.0f} MiB",
                  flush=True)
            timings[tool].append(run)
    for tool in tools:
        best = min(timings[tool], key=lambda r: r["seconds"])
        best["median_seconds"] = sorted(r["seconds"] for r in timings[tool])[len(timings[tool]) // 2]
        best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in timings[tool])
        runs.append(best)
        results[tool] = best
    if ydata_python:
        run = run_tool("ydata", paths[args.rows], args.workdir, ydata_python)
        print(f"ydata at {args.rows:,} rows: {run['seconds']:.2f} s, peak {run['peak_rss_mib']:.0f} MiB", flush=True)
        runs.append(run)
        results["ydata"] = run
    agree = agreement(results)
    duplicates = {"pandas duplicated()": results["pandas"]["extra"]["duplicate_rows"],
                  "profiler duplicate_rows": results["profiler"]["extra"]["duplicate_rows"],
                  "polars is_duplicated() (every copy)": results["polars"]["extra"]["is_duplicated"]}
    if "ydata" in results:
        duplicates["ydata n_duplicates"] = results["ydata"]["extra"]["duplicate_rows"]

    growth: list[dict] = []
    for rows in sizes:
        if rows == args.rows:
            continue
        if rows == args.large_rows:
            run = run_tool("profiler", paths[rows], args.workdir)
            print(f"profiler at {rows:,} rows: {run['seconds']:.2f} s, peak {run['peak_rss_mib']:.0f} MiB", flush=True)
            runs.append(run)
            growth.append(run)
        if rows != args.large_rows or args.pandas_large:
            run = run_tool("pandas", paths[rows], args.workdir)
            print(f"pandas at {rows:,} rows: {run['seconds']:.2f} s, peak {run['peak_rss_mib']:.0f} MiB", flush=True)
            runs.append(run)
            growth.append(run)
        if rows in args.pandas_rows and rows != args.large_rows:
            run = run_tool("profiler", paths[rows], args.workdir)
            print(f"profiler at {rows:,} rows: {run['seconds']:.2f} s, peak {run['peak_rss_mib']:.0f} MiB", flush=True)
            runs.append(run)

    runs.sort(key=lambda r: (r["rows"], ["profiler", "pandas", "polars", "ydata"].index(r["tool"])))
    print_results(runs, agree, duplicates)

    # Targets
    prof, pand, pol = results["profiler"], results["pandas"], results["polars"]
    print("\nTargets:")
    print(f"- profile time <= bare pandas pass: {prof['seconds']:.2f} s vs {pand['seconds']:.2f} s -> "
          f"{'met' if prof['seconds'] <= pand['seconds'] else 'MISSED'} ({prof['seconds'] / pand['seconds']:.2f}x)")
    print(f"- profile time <= 2x bare polars pass: {prof['seconds']:.2f} s vs 2 x {pol['seconds']:.2f} s -> "
          f"{'met' if prof['seconds'] <= 2 * pol['seconds'] else 'MISSED'} ({prof['seconds'] / pol['seconds']:.2f}x)")
    if "ydata" in results:
        speedup = results["ydata"]["seconds"] / prof["seconds"]
        print(f"- >= 30x faster than ydata-profiling minimal: {results['ydata']['seconds']:.2f} s / "
              f"{prof['seconds']:.2f} s = {speedup:.1f}x -> {'met' if speedup >= 30 else 'MISSED'}")
    large = [r for r in runs if r["tool"] == "profiler" and r["rows"] == args.large_rows]
    if large:
        peak = large[0]["peak_rss_mib"]
        print(f"- profiler peak RSS on {args.large_rows:,} rows < 1024 MiB: {peak:.0f} MiB -> "
              f"{'met' if peak < 1024 else 'MISSED'}")
    pandas_runs = sorted((r for r in runs if r["tool"] == "pandas"), key=lambda r: r["rows"])
    if args.large_rows and len(pandas_runs) >= 2 and pandas_runs[-1]["rows"] < args.large_rows:
        a, b = pandas_runs[-2], pandas_runs[-1]
        slope = (b["peak_rss_mib"] - a["peak_rss_mib"]) / (b["rows"] - a["rows"])
        estimate = b["peak_rss_mib"] + slope * (args.large_rows - b["rows"])
        print(f"- pandas at {args.large_rows:,} rows (not run; linear from {a['rows']:,} and {b['rows']:,}): "
              f"~{estimate / 1024:.1f} GiB peak, ~{b['seconds'] / b['rows'] * args.large_rows:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": _machine(), "runs": runs, "agreement": agree,
                                         "duplicates": duplicates}, indent=1, default=str))
    if not args.keep:
        for path in paths.values():
            path.unlink(missing_ok=True)
        for leftover in args.workdir.glob("*.json"):
            leftover.unlink()
        shutil.rmtree(args.workdir, ignore_errors=True) if not any(args.workdir.iterdir()) else None


if __name__ == "__main__":
    main()
