"""The last node of every pipeline: fail the run when a deliverable is missing or empty, or when too
much of a source went to quarantine.

A pipeline can finish green and still deliver nothing: an upstream filter that drops every row, a
report that draws no points, a source that went to quarantine whole. ``check_deliverables`` (a node
named ``check_deliverables`` in the pipeline's namespace, ``outputs=None``) takes each dataset the
pipeline delivers as a keyword argument and its rules from ``params:<pipeline>.deliverables``
(``DeliverablesParams``), and raises one ``DeliverableCheckError`` listing every failure, each naming
the dataset and the figure, so one run shows everything that is wrong.

``parts`` sizes a deliverable by what its dataset loads without reading its rows: lake tables through
their parquet footers, warehouse tables through ``count(*)`` in PostgreSQL, partitions by their number
(not loaded), figures by the points they draw. A kind it does not know raises ``TypeError``: a new
kind of deliverable must be taught here rather than pass unchecked.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from plotly.basedatatypes import BaseFigure
from psycopg2 import sql
from pydantic import BaseModel, ConfigDict, Field

from cripto_platform.profiling.sources import ParquetSource, WarehouseSource
from cripto_platform.warehouse import transaction

logger = logging.getLogger(__name__)

_ROWS, _SOME_ROWS, _PARTITIONS, _POINTS, _CHARACTERS, _BYTES, _ENTRIES = (
    "rows", "rows (at least)", "partitions", "data points", "characters", "bytes", "entries")
_EMPTY = {_ROWS: "holds no rows", _SOME_ROWS: "holds no rows", _PARTITIONS: "holds no partitions",
          _POINTS: "draws no data points", _CHARACTERS: "is empty", _BYTES: "is empty", _ENTRIES: "holds nothing"}
_TABLES = (ParquetSource, WarehouseSource, pd.DataFrame, pa.Table)
# The data arrays of a trace; a trace draws as many points as its longest one (open/high/low/close and
# locations too: a candlestick or a map can draw without x or lat/lon).
_TRACE_ARRAYS = ("x", "y", "z", "values", "labels", "r", "theta", "lat", "lon",
                 "open", "high", "low", "close", "locations")


class DeliverablesParams(BaseModel):
    """``params:<pipeline>.deliverables``; Kedro validates it before the run (defaults live in the YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: list[str]  # deliverables that must hold data
    # quarantine dataset -> the dataset(s) holding that source's kept rows (a source of several tables: all of them)
    quarantine_of: dict[str, str | list[str]]
    max_quarantine_share: float = Field(ge=0, le=1)


class DeliverableCheckError(RuntimeError):
    """A deliverable is missing or empty, or a source's quarantine share is above the limit."""


# --- sizes -------------------------------------------------------------------------------------------

def _typed_array_shape(array: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of plotly's typed array ``{"dtype", "bdata"[, "shape"]}``: how plotly >= 6 writes numpy
    arrays to JSON, and what ``plotly.io.from_json`` (kedro's ``plotly.JSONDataset``) leaves in a trace."""
    if "shape" in array:
        return tuple(int(n) for n in str(array["shape"]).split(","))
    return (len(base64.b64decode(array["bdata"])) // np.dtype(array["dtype"]).itemsize,)


def _shape(array: Any) -> tuple[int, ...]:
    if array is None or isinstance(array, (str, bytes)):  # a scalar attribute, not a data array
        return (0,)
    if isinstance(array, Mapping):
        return _typed_array_shape(array) if "bdata" in array else (0,)
    if isinstance(array, np.ndarray):
        return array.shape or (0,)
    return (len(array),) if hasattr(array, "__len__") else (0,)


def _length(array: Any) -> int:
    shape = _shape(array)
    return shape[0] if all(shape) else 0  # 3 empty rows of a heatmap draw nothing


def _table_rows(values: Any) -> int:
    """Rows of a table trace: ``cells.values`` is a list of columns (or one 2-D array, columns first)."""
    if isinstance(values, (list, tuple)):
        return max((_length(column) if hasattr(column, "__len__") and not isinstance(column, str) else 1
                    for column in values), default=0)
    shape = _shape(values)
    if not all(shape):
        return 0
    return shape[1] if len(shape) > 1 else 1  # a flat array: one row, one column per value


def _points(traces: list) -> int:
    total = 0
    for trace in traces:
        trace = trace.to_plotly_json() if hasattr(trace, "to_plotly_json") else trace
        drawn = max((_length(trace.get(key)) for key in _TRACE_ARRAYS), default=0)
        if trace.get("type") == "table":
            drawn = max(drawn, _table_rows((trace.get("cells") or {}).get("values")))
        total += drawn
    return total


def _warehouse_rows(source: WarehouseSource, exact: bool = True) -> int | None:
    """``count(*)``; not ``exact``: 1 if the table has a row, else 0 (one row read, not the table: a table that
    keeps every run's rows grows with the runs, and "holds data" needs no count)."""
    table = sql.Identifier(source.schema, source.table) if source.schema else sql.Identifier(source.table)
    query = "SELECT count(*) FROM {}" if exact else "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1) AS probe"
    with transaction(source.url, f"counting the rows of '{source.location}'") as cursor:  # one transaction
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (source.location,))
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(sql.SQL(query).format(table))
        return int(cursor.fetchone()[0])


def _table_size(table: Any, exact: bool = True) -> int | None:
    if isinstance(table, ParquetSource):
        # Counts from the parquet footers: no row is read.
        return table.dataset().count_rows() if table.exists else None
    if isinstance(table, WarehouseSource):
        return _warehouse_rows(table, exact)
    if isinstance(table, pa.Table):
        return table.num_rows
    return len(table)


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _measure(name: str, value: Any, exact: bool = True) -> dict[str, tuple[int | None, str]]:
    """``{part: (size, unit)}`` of one deliverable (the unit words the failure messages); not ``exact``, a
    warehouse table is only probed for a row (its size is then 1 or 0, unit ``_SOME_ROWS``)."""
    warehouse_unit = _ROWS if exact else _SOME_ROWS
    if value is None:
        return {name: (None, _ROWS)}
    if isinstance(value, WarehouseSource):
        return {name: (_table_size(value, exact), warehouse_unit)}
    if isinstance(value, _TABLES):
        return {name: (_table_size(value), _ROWS)}
    if isinstance(value, BaseFigure):
        return {name: (_points(list(value.data)), _POINTS)}
    if isinstance(value, str):
        return {name: (len(value), _CHARACTERS)}
    if isinstance(value, (bytes, bytearray)):
        return {name: (len(value), _BYTES)}
    if isinstance(value, Mapping):
        if isinstance(value.get("data"), list):  # a figure as a JSON dict
            return {name: (_points(value["data"]), _POINTS)}
        if not value:
            return {name: (0, _ENTRIES)}
        if all(isinstance(table, _TABLES) for table in value.values()):
            return {f"{name}.{key}": (_table_size(table, exact),
                                      warehouse_unit if isinstance(table, WarehouseSource) else _ROWS)
                    for key, table in value.items()}
        if all(callable(load) for load in value.values()):
            return {name: (len(value), _PARTITIONS)}  # a PartitionedDataset: partitions are not loaded
        if all(isinstance(text, (str, bytes, bytearray)) for text in value.values()):
            # a run report ({run version: page}, RunReportDataset loads the newest): its characters
            return {name: (sum(len(text) for text in value.values()), _CHARACTERS)}
        kinds = sorted({_type_name(item) for item in value.values()})
        raise TypeError(f"deliverable '{name}': cannot size a dict of {', '.join(kinds)} (teach "
                        f"cripto_platform.quality.deliverables.parts this kind of deliverable)")
    raise TypeError(f"deliverable '{name}': cannot size a {_type_name(value)} (teach "
                    f"cripto_platform.quality.deliverables.parts this kind of deliverable)")


def parts(name: str, value: Any) -> dict[str, int | None]:
    """Size of the deliverable ``name`` that loaded as ``value``, ``None`` when it is not written yet.

    ``{name: size}``; a dict of tables gives one part per table, ``{"<name>.<key>": rows}``. Rows of a
    table, partitions of a partitioned dataset, data points of a figure, characters of a text.
    """
    return {part: size for part, (size, _) in _measure(name, value).items()}


# --- checks ------------------------------------------------------------------------------------------

def _percent(share: float, limit: float) -> tuple[str, str]:
    """Both as percentages, with enough decimals that a share just above the limit does not read equal."""
    for decimals in range(1, 8):
        shown = f"{share:.{decimals}%}", f"{limit:.{decimals}%}"
        if shown[0] != shown[1]:
            return shown
    return shown


def _kept(kept: str | list[str]) -> list[str]:
    return [kept] if isinstance(kept, str) else list(kept)


def check_deliverables(rules: DeliverablesParams, run_version: str | None = None, **deliverables: Any) -> None:
    """Raise ``DeliverableCheckError`` listing every deliverable missing or empty and every quarantine
    above ``max_quarantine_share``; log each deliverable's size when all pass.

    ``rules`` may be a dict (validated here). A rule naming a dataset the node does not take is a
    configuration error: ``ValueError``, before anything is measured. ``run_version``: the lake version the run
    wrote; lake tables are measured at that version (a backfill writes an older one than the newest).
    """
    if not isinstance(rules, DeliverablesParams):
        rules = DeliverablesParams.model_validate(rules)
    kept_names = [name for kept in rules.quarantine_of.values() for name in _kept(kept)]
    named = {*rules.required, *rules.quarantine_of, *kept_names}
    unknown = sorted({name for name in named if name not in deliverables})
    if unknown:
        raise ValueError(f"deliverables rules name {unknown}, which check_deliverables does not take; "
                         f"its deliverables: {sorted(deliverables)}")
    if run_version is not None:
        deliverables = {name: value.at_version(str(run_version)) if isinstance(value, ParquetSource) else value
                        for name, value in deliverables.items()}

    # Only what a rule names is measured: the other inputs are read so the check runs after their writers (and
    # loading them already fails if one was not written), measuring them again would be work for nothing (the
    # ingestion record would recount every lake table). Exact sizes only where a share needs them; a warehouse
    # table that must only hold data is probed for a row.
    shared = {*rules.quarantine_of, *kept_names}
    measured = {name: _measure(name, value, exact=name in shared)
                for name, value in deliverables.items() if name in named}
    failures = []
    for name in rules.required:
        for part, (size, unit) in measured[name].items():
            if size is None:
                failures.append(f"{part}: not written (required)")
            elif size <= 0:
                failures.append(f"{part}: {_EMPTY[unit]} (required)")
    shares = []
    for quarantine, kept in rules.quarantine_of.items():
        q = sum(size or 0 for size, _ in measured[quarantine].values())
        k = sum(size or 0 for name in _kept(kept) for size, _ in measured[name].values())
        if q + k == 0:
            continue
        shares.append((q / (q + k), quarantine))
        if q / (q + k) > rules.max_quarantine_share:
            unit = next(iter(measured[quarantine].values()))[1]
            share, limit = _percent(q / (q + k), rules.max_quarantine_share)
            failures.append(f"{quarantine}: {q} of {q + k} {unit} quarantined ({share}) against "
                            f"{' + '.join(_kept(kept))}, above max_quarantine_share {limit}")
    if failures:
        raise DeliverableCheckError("deliverable checks failed:\n" + "\n".join(f"- {f}" for f in failures))

    # One short INFO line for the run's log (each size at DEBUG): a long one wraps over many lines in the console.
    top = max(shares, default=None)
    logger.info("%d deliverable%s checked: %d required hold data%s", len(deliverables),
                "" if len(deliverables) == 1 else "s", len(rules.required),
                f", highest quarantine share {top[0]:.1%} ({top[1]})" if top else "")
    unmeasured = sorted(set(deliverables) - set(measured))
    logger.debug("deliverable sizes: %s%s", ", ".join(
        f"{part} {'not written' if size is None else ('>=' if unit == _SOME_ROWS else '') + str(size)}"
        for found in measured.values() for part, (size, unit) in found.items()),
        f"; read, no rule: {', '.join(unmeasured)}" if unmeasured else "")


def check_deliverables_node(pipeline: str, *names: str, run_version: str | None = None, **views: str):
    """The ``check_deliverables`` node of ``pipeline``: rules from ``params:<pipeline>.deliverables``; each of
    ``names`` is read under its own name (big ones load lazily: a handle that reads no rows), each ``views`` entry
    (``deliverable="dataset@view"``) through another view of the same data; ``run_version``, the dataset
    holding the lake version the run writes. Read every output of the pipeline that no later node of it reads, so
    the check runs last (and kedro-viz draws those outputs inside the pipeline's group)."""
    from kedro.pipeline import Node

    return Node(
        func=check_deliverables,
        inputs={"rules": f"params:{pipeline}.deliverables", **({"run_version": run_version} if run_version else {}),
                **{name: name for name in names}, **views},
        outputs=None,
        name="check_deliverables",
    )
