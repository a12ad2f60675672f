"""Profile a warehouse table with SQL aggregates inside PostgreSQL: no table is read into Python.

Every figure is exact (PostgreSQL computes distinct counts, quantiles, histograms, duplicates and
correlations); Spearman correlations are ranked in SQL only up to ``spearman_max_rows`` rows.
Quality rules, which need rows, read the table in ``batch_rows`` chunks through a server-side cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from psycopg2 import sql

from cripto_platform.profiling.figures import QUANTILES, bin_edges, epoch_iso, iso_instant, number
from cripto_platform.profiling.sources import WarehouseSource
from cripto_platform.warehouse import get_engine, transaction

_NUMERIC = {"smallint", "integer", "bigint", "real", "double precision", "numeric"}
_FLOATS = {"real", "double precision", "numeric"}
_TEXT = {"text", "character varying", "character"}


def _kind(data_type: str) -> str:
    if data_type in _NUMERIC:
        return "numeric"
    if data_type == "boolean":
        return "boolean"
    if data_type in _TEXT:
        return "text"
    if data_type.startswith("timestamp"):
        return "datetime"
    if data_type == "date":
        return "date"
    return "other"


def table_columns(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [(name, data_type) for name, data_type in cursor.fetchall()]


def table_exists(source: WarehouseSource) -> bool:
    from cripto_platform.datasets._preview import table_exists as exists  # one to_regclass check

    return exists(source.url, source.location)  # schema-qualified when the source names a schema


def _value(name: str, data_type: str) -> sql.Composable:
    """The column as profiled: numbers as float8 with NaN as NULL, times as they are."""
    column = sql.Identifier(name)
    if data_type in _FLOATS:
        return sql.SQL("NULLIF({}::float8, 'NaN'::float8)").format(column)
    if data_type in _NUMERIC:
        return sql.SQL("{}::float8").format(column)
    return column


def _aggregates(name: str, data_type: str, kind: str) -> list[tuple[str, sql.Composable]]:
    v = _value(name, data_type)
    parts = [("present", sql.SQL("count({})").format(v)),
             ("distinct", sql.SQL("count(DISTINCT {})").format(v) if kind != "other"
              else sql.SQL("count(DISTINCT {}::text)").format(v))]
    if kind == "numeric":
        levels = sql.SQL(", ").join(sql.Literal(q) for q in QUANTILES.values())
        parts += [
            ("min", sql.SQL("min({})").format(v)),
            ("max", sql.SQL("max({})").format(v)),
            ("mean", sql.SQL("avg({})").format(v)),
            ("std", sql.SQL("stddev_samp({})").format(v)),
            ("quantiles", sql.SQL("percentile_cont(ARRAY[{}]) WITHIN GROUP (ORDER BY {})").format(levels, v)),
            ("zeros", sql.SQL("count(*) FILTER (WHERE {} = 0)").format(v)),
            ("negatives", sql.SQL("count(*) FILTER (WHERE {} < 0)").format(v)),
        ]
    elif kind in ("datetime", "date"):
        parts += [("min", sql.SQL("min({})").format(v)), ("max", sql.SQL("max({})").format(v)),
                  ("epoch_min", sql.SQL("extract(epoch FROM min({}))::float8").format(v)),
                  ("epoch_max", sql.SQL("extract(epoch FROM max({}))::float8").format(v))]
    elif kind == "text":
        length = sql.SQL("char_length({})").format(v)
        parts += [("length_min", sql.SQL("min({})").format(length)),
                  ("length_max", sql.SQL("max({})").format(length)),
                  ("length_mean", sql.SQL("avg({})::float8").format(length)),
                  ("length_std", sql.SQL("stddev_samp({})::float8").format(length)),
                  ("empty", sql.SQL("count(*) FILTER (WHERE {} = '')").format(v))]
    elif kind == "boolean":
        parts += [("true", sql.SQL("count(*) FILTER (WHERE {})").format(v)),
                  ("false", sql.SQL("count(*) FILTER (WHERE NOT {})").format(v))]
    return parts


def _histogram(cursor, table: sql.Identifier, expression: sql.Composable, lo: float, hi: float, bins: int) -> list[int]:
    """The same binning as ``figures.bin_counts``, evaluated in PostgreSQL."""
    if hi <= lo:
        cursor.execute(sql.SQL("SELECT count({}) FROM {}").format(expression, table))
        return [int(cursor.fetchone()[0])]
    cursor.execute(
        sql.SQL(
            "SELECT least(greatest(floor(({e} - %(lo)s::float8) / (%(hi)s::float8 - %(lo)s::float8) * %(bins)s), 0),"
            " %(bins)s - 1)::int AS bin, count(*) FROM {t} WHERE {e} IS NOT NULL GROUP BY 1"
        ).format(e=expression, t=table),
        {"lo": lo, "hi": hi, "bins": bins},
    )
    counts = [0] * bins
    for index, count in cursor.fetchall():
        counts[index] = int(count)
    return counts


def _spearman(cursor, table: sql.Identifier, x: sql.Composable, y: sql.Composable) -> float | None:
    cursor.execute(
        sql.SQL(
            "WITH p AS (SELECT {x} AS x, {y} AS y FROM {t} WHERE {x} IS NOT NULL AND {y} IS NOT NULL),"
            " r AS (SELECT rank() OVER (ORDER BY x) + (count(*) OVER (PARTITION BY x) - 1) / 2.0 AS rx,"
            "              rank() OVER (ORDER BY y) + (count(*) OVER (PARTITION BY y) - 1) / 2.0 AS ry FROM p)"
            " SELECT corr(rx::float8, ry::float8) FROM r"
        ).format(x=x, y=y, t=table)
    )
    return number(cursor.fetchone()[0])


def profile_table(
    source: WarehouseSource,
    options: Mapping[str, Any],
    rules: Callable[[pd.DataFrame], list[dict]] | None = None,
    merge_rules: Callable[[list[dict], list[dict]], list[dict]] | None = None,
) -> dict:
    """The profile of a warehouse table, computed by PostgreSQL (same shape as the parquet profile)."""
    started = time.perf_counter()
    table = sql.Identifier(source.table)
    bins = options["histogram_bins"]
    with transaction(source.url, f"profiling table '{source.table}'") as cursor:
        cursor.execute("SET TRANSACTION READ ONLY")
        columns = table_columns(cursor, source.table)
        kinds = {name: _kind(data_type) for name, data_type in columns}
        selected: list[tuple[str, str, sql.Composable]] = [("rows", "", sql.SQL("count(*)"))]
        for name, data_type in columns:
            selected += [(name, key, expr) for key, expr in _aggregates(name, data_type, kinds[name])]
        # One scan for every column's aggregates and the rows' in-memory size.
        selected.append(("", "in_memory", sql.SQL("coalesce(sum(pg_column_size(profiled_row.*)), 0)")))
        aggregates = sql.SQL(", ").join(e for _, _, e in selected)
        cursor.execute(sql.SQL("SELECT {} FROM {} AS profiled_row").format(aggregates, table))
        values = cursor.fetchone()
        figures: dict[str, dict[str, Any]] = {name: {} for name, _ in columns}
        for (name, key, _), value in zip(selected[1:-1], values[1:-1], strict=True):
            figures[name][key] = value
        rows, in_memory = int(values[0]), int(values[-1])
        cursor.execute(sql.SQL("SELECT count(*) FROM (SELECT DISTINCT * FROM {}) AS d").format(table))
        distinct_rows = int(cursor.fetchone()[0])
        cursor.execute("SELECT pg_total_relation_size(%s::regclass)", (source.table,))
        on_disk = int(cursor.fetchone()[0])
        reports = []
        for name, data_type in columns:
            f, kind = figures[name], kinds[name]
            present = int(f["present"])
            report = {"name": name, "kind": kind, "physical_type": data_type, "count": present,
                      "missing": rows - present, "missing_share": (rows - present) / rows if rows else 0.0,
                      "distinct": int(f["distinct"]), "distinct_exact": True,
                      "numeric": None, "text": None, "temporal": None, "boolean": None}
            if kind == "numeric":
                lo, hi = number(f["min"]), number(f["max"])
                counts = _histogram(cursor, table, _value(name, data_type), lo, hi, bins) if present else []
                report["numeric"] = {
                    "min": lo, "max": hi, "mean": number(f["mean"]), "std": number(f["std"]),
                    "quantiles": dict(zip(QUANTILES, [number(q) for q in (f["quantiles"] or [None] * 5)], strict=True)),
                    "quantiles_exact": True, "zeros": int(f["zeros"]), "negatives": int(f["negatives"]),
                    "histogram": {"edges": bin_edges(lo, hi, bins) if counts else [], "counts": counts, "exact": True},
                }
            elif kind in ("datetime", "date"):
                aware = data_type == "timestamp with time zone"
                counts, edges = [], []
                if present:
                    lo, hi = f["epoch_min"], f["epoch_max"]
                    epoch = sql.SQL("extract(epoch FROM {})::float8").format(sql.Identifier(name))
                    counts = _histogram(cursor, table, epoch, lo, hi, bins)
                    edges = [epoch_iso(edge, kind, aware) for edge in bin_edges(lo, hi, bins)]
                report["temporal"] = {"min": iso_instant(f["min"], kind), "max": iso_instant(f["max"], kind),
                                      "timezone": "UTC" if aware else None,
                                      "histogram": {"edges": edges, "counts": counts, "exact": True}}
            elif kind == "text":
                cursor.execute(
                    sql.SQL("SELECT {c}, count(*) FROM {t} WHERE {c} IS NOT NULL GROUP BY {c} "
                            "ORDER BY count(*) DESC, {c} COLLATE \"C\" LIMIT %s").format(c=sql.Identifier(name), t=table),
                    (options["top_values"],),
                )
                report["text"] = {
                    "top_values": [{"value": v, "count": int(c)} for v, c in cursor.fetchall()],
                    "top_values_exact": True, "top_values_max_undercount": 0, "empty": int(f["empty"]),
                    "length": {"min": f["length_min"], "max": f["length_max"],
                               "mean": number(f["length_mean"]), "std": number(f["length_std"])},
                }
            elif kind == "boolean":
                report["boolean"] = {"true": int(f["true"]), "false": int(f["false"])}
            reports.append(report)
        numeric = [(n, d) for n, d in columns if kinds[n] == "numeric"][: options["max_correlation_columns"]]
        pearson = [[None] * len(numeric) for _ in numeric]
        spearman_ok = rows <= options["spearman_max_rows"]
        spearman = [[None] * len(numeric) for _ in numeric] if spearman_ok else None
        pairs = [(i, j) for i in range(len(numeric)) for j in range(i, len(numeric))]
        expressions = {i: _value(*numeric[i]) for i in range(len(numeric))}
        if pairs:  # every Pearson pair in one scan (Spearman ranks each pair in a query of its own)
            cursor.execute(sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.SQL("corr({}, {})").format(expressions[i], expressions[j]) for i, j in pairs),
                table,
            ))
            for (i, j), value in zip(pairs, cursor.fetchone(), strict=True):
                pearson[i][j] = pearson[j][i] = number(value)
        if spearman_ok:
            for i, j in pairs:
                spearman[i][j] = spearman[j][i] = _spearman(cursor, table, expressions[i], expressions[j])
        for i in range(len(numeric)):  # a column with itself: 1 unless constant/empty (as pandas)
            pearson[i][i] = 1.0 if pearson[i][i] is not None else None
            if spearman is not None:
                spearman[i][i] = 1.0 if spearman[i][i] is not None else None
    rule_results = _rules(source, options, rules, merge_rules) if rules is not None else None
    approximations = [] if spearman_ok or not numeric else [{
        "figure": "spearman", "method": "not computed",
        "bound": f"the table has more than spearman_max_rows={options['spearman_max_rows']} rows"}]
    return {
        "table_stats": {"rows": rows, "columns": len(columns), "duplicate_rows": rows - distinct_rows,
                        "duplicate_rows_exact": True, "size_in_memory_bytes": in_memory,
                        "size_on_disk_bytes": on_disk, "batches": 1},
        "columns": reports,
        "correlations": {"columns": [n for n, _ in numeric], "pearson": pearson, "spearman": spearman,
                         "spearman_exact": spearman_ok},
        "approximations": approximations,
        "rules": rule_results,
        "duration_seconds": time.perf_counter() - started,
    }


def _rules(source, options, rules, merge_rules) -> list[dict]:
    """Quality rules over the table read ``batch_rows`` rows at a time (server-side cursor)."""
    results: list[dict] = []
    engine = get_engine(source.url)
    with engine.connect().execution_options(stream_results=True) as connection:
        chunks = pd.read_sql_query(sql.SQL("SELECT * FROM {}").format(sql.Identifier(source.table)).as_string(
            connection.connection.dbapi_connection), connection, chunksize=options["batch_rows"])
        for chunk in chunks:
            results = merge_rules(results, rules(chunk))
    return results
