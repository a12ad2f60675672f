"""Raw CSV to a typed Arrow table: schema drift checks, malformed lines quarantined with line numbers.

The fast path is one multithreaded ``pyarrow.csv.read_csv`` with explicit column types. Only when a
line has the wrong number of fields or a value does not parse does it fall back to a serial read of
strings (pyarrow then knows each skipped line's number) followed by vectorised conversions; rows
that fail are returned in the quarantine frame with their physical line number, never dropped.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("s"),
}
QUARANTINE_COLUMNS = ["dataset", "line_number", "reason", "raw_line"]
LINE_COLUMN = "line_number"


class SchemaDriftError(ValueError):
    """A raw file's header has a missing or unexpected column that no parameter tolerates."""


def snake_case(name: str) -> str:
    """``'Precio Lista (MXN)'`` -> ``'precio_lista_mxn'``; accents dropped, camelCase split."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", ascii_name).strip("_").lower()


def read_header(source: bytes | str, delimiter: str = ",") -> list[str]:
    """The column names on the first line of ``source`` (bytes or a local path)."""
    if isinstance(source, (bytes, bytearray)):
        first = bytes(source[: max(source.find(b"\n"), 0) or len(source)])
    else:
        with open(source, "rb") as handle:
            first = handle.readline()
    text = first.decode("utf-8-sig").rstrip("\r\n")
    return next(csv.reader([text], delimiter=delimiter)) if text else []


def check_schema(
    header: list[str], expected: Iterable[str], dataset: str, tolerated: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """Raise ``SchemaDriftError`` naming the column unless tolerated; return (missing, unexpected)."""
    expected = list(expected)
    tolerated_names = {snake_case(name) for name in tolerated}
    missing = [column for column in expected if column not in header]
    unexpected = [column for column in header if column not in expected]
    for kind, columns in (("missing", missing), ("unexpected", unexpected)):
        for column in columns:
            if snake_case(column) not in tolerated_names:
                raise SchemaDriftError(
                    f"dataset '{dataset}': {kind} column '{column}' "
                    f"(expected columns: {', '.join(expected)}; found: {', '.join(header)}). "
                    f"Add '{column}' to the dataset's tolerated_drift parameter to accept it."
                )
    return missing, unexpected


def _read_options(threads: bool) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(use_threads=threads)


def _as_input(source: bytes | str):
    return pa.BufferReader(source) if isinstance(source, (bytes, bytearray)) else source


def _finish(table: pa.Table, types: dict[str, str], missing: list[str]) -> pa.Table:
    """Dates cast from timestamps, tolerated missing columns added as nulls, snake_case names."""
    columns, names = [], []
    for name in list(table.column_names) + missing:
        if name == LINE_COLUMN and name not in types:
            columns.append(table.column(name))
            names.append(name)
            continue
        kind = types.get(name, "string")
        target = ARROW_TYPES[kind]
        if name in missing:
            column = pa.nulls(table.num_rows, type=target)
        else:
            column = table.column(name)
            if column.type != target:
                column = column.cast(target)
        columns.append(column)
        names.append(snake_case(name))
    return pa.Table.from_arrays(columns, names=names)


def _fast_read(source, types, present, delimiter, date_format, line_numbers=False):
    invalid: list[str] = []

    def handler(row) -> str:
        invalid.append(row.text)
        return "skip"

    # ISO dates parse straight to date32; other formats go through a timestamp parser and a cast.
    custom_dates = date_format not in (None, "%Y-%m-%d")
    column_types = {
        name: (pa.timestamp("s") if types.get(name) == "date" and custom_dates else ARROW_TYPES[types.get(name, "string")])
        for name in present
    }
    table = pacsv.read_csv(
        _as_input(source),
        read_options=_read_options(True),
        # With line numbers wanted, blank lines are read as all-null rows so row i is line i + 2.
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=handler, ignore_empty_lines=not line_numbers
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types,
            timestamp_parsers=[date_format] if custom_dates else None,
            # Only an empty field is missing (as in the serial path); "NA"/"null" in a number column
            # is a value that does not parse, so the line is quarantined rather than silently nulled.
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    if line_numbers and not invalid:
        lines = pa.array(np.arange(2, 2 + table.num_rows, dtype="int64"))
        blank = pc.is_null(table.column(0))
        for column in table.columns[1:]:
            blank = pc.and_(blank, pc.is_null(column))
        table = table.append_column(LINE_COLUMN, lines).filter(pc.invert(blank))
    return table, invalid


def _coerce(values: pd.Series, kind: str, date_format: str | None) -> tuple[pd.Series, pd.Series]:
    """Vectorised conversion of a string column; returns (converted, unparseable mask)."""
    present = values.notna() & values.str.strip().ne("")
    if kind in ("int64", "float64"):
        converted = pd.to_numeric(values.str.strip(), errors="coerce")
        bad = present & converted.isna()
        if kind == "int64":
            bad |= present & converted.notna() & (converted % 1 != 0)
            converted = converted.where(~bad).astype("Int64")
    elif kind in ("date", "timestamp"):
        converted = pd.to_datetime(values, format=date_format, errors="coerce")
        bad = present & converted.isna()
    elif kind == "bool":
        lowered = values.str.strip().str.lower()
        converted = lowered.map({"true": True, "false": False, "1": True, "0": False}).astype("boolean")
        bad = present & converted.isna()
    else:
        return values.where(present), pd.Series(False, index=values.index)
    return converted, bad


def _slow_read(source, types, present, delimiter, date_format, dataset, line_numbers=False):
    invalid: list[tuple[int, str, int]] = []

    def handler(row) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        _as_input(source),
        read_options=_read_options(False),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=handler, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in present}, strings_can_be_null=False
        ),
    )
    frame = table.to_pandas()
    # Physical line numbers of the rows kept: every line after the header except the skipped ones.
    skipped = np.array([number for number, _, _ in invalid], dtype="int64")
    all_lines = np.arange(2, 2 + len(frame) + len(skipped), dtype="int64")
    kept_lines = np.setdiff1d(all_lines, skipped, assume_unique=True)

    reasons = pd.Series("", index=frame.index, dtype="object")
    converted = {}
    for name in present:
        kind = types.get(name, "string")
        values, bad = _coerce(frame[name], kind, date_format if kind in ("date", "timestamp") else None)
        converted[name] = values
        if bad.any():  # only the failing rows are touched, with vectorised string operations
            note = f"column '{name}': cannot parse '" + frame.loc[bad, name].astype(str) + f"' as {kind}"
            current = reasons.loc[bad]
            reasons.loc[bad] = current.where(current == "", current + "; ") + note
    bad_rows = (reasons != "").to_numpy().copy()
    # Blank lines are not rows (the fast path skips them too); they only count for line numbers.
    blank = frame[present].fillna("").eq("").all(axis=1).to_numpy() if present else np.zeros(len(frame), bool)
    bad_rows &= ~blank
    raw_lines = frame[present[0]].fillna("") if present else pd.Series("", index=frame.index)
    for name in present[1:]:
        raw_lines = raw_lines.str.cat(frame[name].fillna(""), sep=delimiter)
    value_errors = pd.DataFrame(
        {
            "dataset": dataset,
            "line_number": kept_lines[bad_rows],
            "reason": reasons[bad_rows].to_numpy(),
            "raw_line": raw_lines[bad_rows].to_numpy(),
        }
    )
    field_errors = pd.DataFrame(
        {
            "dataset": dataset,
            "line_number": skipped,
            "reason": [f"expected {len(present)} fields, found {found}" for _, _, found in invalid],
            "raw_line": [text for _, text, _ in invalid],
        }
    )
    quarantine = pd.concat([field_errors, value_errors], ignore_index=True)
    quarantine = quarantine.sort_values("line_number", kind="stable").reset_index(drop=True)
    keep = ~bad_rows & ~blank
    good = pd.DataFrame({name: converted[name][keep] for name in present})
    arrays = []
    for name in present:
        kind = types.get(name, "string")
        arrow_type = pa.timestamp("ns") if kind in ("date", "timestamp") else ARROW_TYPES[kind]
        arrays.append(pa.array(good[name], type=arrow_type, from_pandas=True))
    table = pa.Table.from_arrays(arrays, names=present)
    if line_numbers:
        table = table.append_column(LINE_COLUMN, pa.array(kept_lines[keep], type=pa.int64()))
    return table, quarantine


def read_typed_csv(
    source: bytes | str,
    columns: dict[str, str],
    dataset: str,
    delimiter: str = ",",
    date_format: str | None = None,
    tolerated_drift: Iterable[str] = (),
    line_numbers: bool = False,
) -> tuple[pa.Table, pd.DataFrame]:
    """Typed, snake_case Arrow table from a raw CSV (bytes or path), and the quarantined lines.

    ``columns`` maps each raw column name to one of ``ARROW_TYPES``; ``date_format`` (strptime) is
    used for ``date``/``timestamp`` columns (ISO when omitted). ``line_numbers`` adds a
    ``line_number`` column with each kept row's physical line in the file (lineage).
    """
    unknown = {kind for kind in columns.values() if kind not in ARROW_TYPES}
    if unknown:
        raise ValueError(f"dataset '{dataset}': unknown column type(s) {sorted(unknown)}; use {sorted(ARROW_TYPES)}")
    header = read_header(source, delimiter)
    if not header:
        raise ValueError(f"dataset '{dataset}': the file is empty (no header line)")
    missing, _ = check_schema(header, columns, dataset, tolerated_drift)
    present = header
    try:
        table, invalid = _fast_read(source, columns, present, delimiter, date_format, line_numbers)
        if not invalid:
            return _finish(table, columns, missing), pd.DataFrame(columns=QUARANTINE_COLUMNS)
    except pa.ArrowInvalid:
        pass  # a value that does not parse: find which lines with the serial reader
    table, quarantine = _slow_read(source, columns, present, delimiter, date_format, dataset, line_numbers)
    return _finish(table, columns, missing), quarantine


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame with no rows and the standard columns."""
    return pd.DataFrame({column: pd.Series(dtype="int64" if column == "line_number" else "str") for column in QUARANTINE_COLUMNS})


def describe_quarantine(quarantine: pd.DataFrame) -> dict[str, Any]:
    """Counts of quarantined lines per dataset, for the log."""
    if quarantine.empty:
        return {}
    return quarantine.groupby("dataset").size().to_dict()


def csv_bytes(frame: pd.DataFrame, delimiter: str = ",") -> bytes:
    """``frame`` as CSV bytes (used by the sample generators)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, sep=delimiter)
    return buffer.getvalue().encode("utf-8")
