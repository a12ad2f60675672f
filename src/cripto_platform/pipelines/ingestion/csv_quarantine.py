"""Raw CSV to typed Arrow batches: schema drift checks, malformed lines quarantined with line numbers.

The file is read in chunks of whole lines (``csv_lines``), so memory stays bounded whatever its size.
The fast path for a chunk is the multithreaded ``pyarrow.csv.read_csv`` with explicit column types.
Only when a line has the wrong number of fields, a value does not parse, a byte is not valid in the
declared encoding or a line is too long does that chunk fall back to a line-aware read (bad bytes and
overlong lines blanked, then a serial read of strings, where pyarrow knows each skipped line's number,
followed by vectorised conversions); rows that fail are returned in the quarantine frame with their
physical line number (the header is line 1), never dropped.
"""

from __future__ import annotations

import io
import queue
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cripto_platform.pipelines.ingestion.csv_lines import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    PYARROW_BLOCK_BYTES,
    BadLine,
    LongLine,
    blank_long_lines,
    decode_lines,
    first_line,
    header_names,
    line_chunks,
    long_line_error,
    normalise_encoding,
    open_binary,
)

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


def read_header(source: bytes | str, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """The column names on the first line of ``source`` (bytes or a local path), decoded in ``encoding``."""
    encoding = normalise_encoding(encoding, str(source)[:60] if isinstance(source, str) else "csv")
    with open_binary(source) as handle:
        return header_names(first_line(handle, DEFAULT_MAX_LINE_BYTES, "csv"), encoding, delimiter, "csv")


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


def _as_input(source: bytes) -> pa.BufferReader:
    return pa.BufferReader(source)


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


def _fast_read(chunk, first, types, present, delimiter, date_format, line_numbers=False, block_size=None):
    """One chunk (whole lines, no header) with the multithreaded reader and explicit types."""
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
        _as_input(chunk),
        read_options=pacsv.ReadOptions(use_threads=True, column_names=present, block_size=block_size),
        # With line numbers wanted, blank lines are read as all-null rows so row i is line first + i.
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
        lines = pa.array(np.arange(first, first + table.num_rows, dtype="int64"))
        blank = pc.is_null(table.column(0))
        for column in table.columns[1:]:
            blank = pc.and_(blank, pc.is_null(column))
        table = table.append_column(LINE_COLUMN, lines).filter(pc.invert(blank))
    return table, invalid


INT64_OUT_OF_RANGE = " (out of int64 range)"


def coerce_text(values: pd.Series, kind: str, date_format: str | None) -> tuple[pd.Series, pd.Series, pd.Series | str]:
    """Vectorised conversion of a string column (CSV fields, JSON values as text); returns (converted,
    unparseable mask, note per bad value). Blank values are missing, not unparseable."""
    present = values.notna() & values.str.strip().ne("")
    note: pd.Series | str = ""
    if kind in ("int64", "float64"):
        stripped = values.str.strip()
        converted = pd.to_numeric(stripped, errors="coerce")
        bad = present & converted.isna()
        if kind == "int64":
            # Integer text is parsed exactly (float64 would round beyond 2**53) after a range check on
            # its digits; other numeric text ("3.0") must be integral and within range as a float.
            text = stripped.fillna("")
            digits = text.str.fullmatch(r"[+-]?\d+")
            magnitude = text.str.lstrip("+-").str.lstrip("0")
            limit = pd.Series(np.where(text.str.startswith("-"), "9223372036854775808", "9223372036854775807"), index=values.index)
            as_float = converted.astype("float64")
            overflow = present & ~bad & (
                (digits & ((magnitude.str.len() > 19) | ((magnitude.str.len() == 19) & (magnitude > limit))))
                | (~digits & ((as_float >= 2.0**63) | (as_float < -(2.0**63))))
            )
            bad |= present & ~digits & converted.notna() & (as_float % 1 != 0)
            bad |= overflow
            note = pd.Series(np.where(overflow, INT64_OUT_OF_RANGE, ""), index=values.index)
            exact = digits & present & ~bad
            result = np.zeros(len(values), dtype="int64")
            if exact.any():
                parsed = pc.cast(pa.array(text[exact].str.lstrip("+").to_numpy(dtype=object), type=pa.string()), pa.int64())
                result[exact.to_numpy()] = parsed.to_numpy()
            inexact = (present & ~bad & ~digits).to_numpy()
            if inexact.any():
                result[inexact] = as_float.to_numpy()[inexact].astype("int64")
            converted = pd.Series(pd.arrays.IntegerArray(result, ~(present & ~bad).to_numpy()), index=values.index)
    elif kind in ("date", "timestamp"):
        converted = pd.to_datetime(values, format=date_format, errors="coerce")
        bad = present & converted.isna()
    elif kind == "bool":
        lowered = values.str.strip().str.lower()
        converted = lowered.map({"true": True, "false": False, "1": True, "0": False}).astype("boolean")
        bad = present & converted.isna()
    else:
        return values.where(present), pd.Series(False, index=values.index), note
    return converted, bad, note


def _slow_read(chunk, first, types, present, delimiter, date_format, dataset, line_numbers=False, block_size=None):
    """One chunk read serially as text (pyarrow then gives each skipped line's number), then converted."""
    invalid: list[tuple[int, str, int]] = []

    def handler(row) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        _as_input(chunk),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=present, block_size=block_size),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=handler, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in present}, strings_can_be_null=False
        ),
    )
    frame = table.to_pandas()
    # Physical line numbers of the rows kept: every line of the chunk except the skipped ones
    # (pyarrow numbers the chunk's lines from 1).
    skipped = np.array([first - 1 + number for number, _, _ in invalid], dtype="int64")
    all_lines = np.arange(first, first + len(frame) + len(skipped), dtype="int64")
    kept_lines = np.setdiff1d(all_lines, skipped, assume_unique=True)

    reasons = pd.Series("", index=frame.index, dtype="object")
    converted = {}
    for name in present:
        kind = types.get(name, "string")
        values, bad, note = coerce_text(frame[name], kind, date_format if kind in ("date", "timestamp") else None)
        converted[name] = values
        if bad.any():  # only the failing rows are touched, with vectorised string operations
            detail = f"column '{name}': cannot parse '" + frame.loc[bad, name].astype(str) + f"' as {kind}"
            if not isinstance(note, str):
                detail = detail + note[bad]
            current = reasons.loc[bad]
            reasons.loc[bad] = current.where(current == "", current + "; ") + detail
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
    quarantine = pd.concat([frame for frame in (field_errors, value_errors) if len(frame)] or [field_errors], ignore_index=True)
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


def _quarantine_frame(dataset: str, bad: list[BadLine]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": dataset,
            "line_number": np.array([entry.line_number for entry in bad], dtype="int64"),
            "reason": [entry.reason for entry in bad],
            "raw_line": [entry.raw_line for entry in bad],
        },
        columns=QUARANTINE_COLUMNS,
    )


READ_AHEAD_CHUNKS = 2
_END = object()


class TypedCsvStream:
    """A raw CSV read chunk by chunk as typed record batches, its quarantine filled in as it goes.

    Iterate it (once) for ``pa.RecordBatch`` es of ``schema``, or hand ``reader()`` to a writer such as
    ``pyarrow.dataset.write_dataset``: memory holds one chunk of whole lines (``chunk_bytes``) and its
    batches, whatever the file size. After the iteration, ``rows`` is the number of rows yielded and
    ``quarantine`` every rejected line (``QUARANTINE_COLUMNS``, by physical line number).

    Each chunk goes through the multithreaded ``pyarrow.csv.read_csv`` with explicit types. Only a
    chunk where that fails is looked at line by line: lines that are not valid in ``encoding`` or
    longer than ``max_line_bytes`` are quarantined (and blanked), then the serial text reader finds
    lines with the wrong number of fields and values that do not parse.

    In a Kedro run the stream is a node output: ``{version: stream}`` saved to a ``LakeTableDataset``
    (which reads it through ``__arrow_c_stream__`` while writing the parquet), and the same object handed
    on in memory to a node that reads ``quarantine`` once the table is written. It is one handle on one
    file, so copying it (Kedro's ``MemoryDataset`` deep-copies) returns the same object, and it pickles
    (to travel between Dask workers) only once read to the end, when its quarantine is complete.
    ``shape`` is (rows read so far, columns), as a frame's (the run summary counts the rows written).
    """

    def __init__(
        self,
        source: bytes | str | IO[bytes] | Any,
        columns: dict[str, str],
        dataset: str,
        delimiter: str = ",",
        date_format: str | None = None,
        tolerated_drift: Iterable[str] = (),
        line_numbers: bool = False,
        encoding: str | None = "utf-8",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        unknown = {kind for kind in columns.values() if kind not in ARROW_TYPES}
        if unknown:
            raise ValueError(f"dataset '{dataset}': unknown column type(s) {sorted(unknown)}; use {sorted(ARROW_TYPES)}")
        self.dataset, self.columns, self.delimiter, self.date_format = dataset, columns, delimiter, date_format
        self.line_numbers, self.max_line_bytes, self.chunk_bytes = line_numbers, int(max_line_bytes), int(chunk_bytes)
        self.encoding = normalise_encoding(encoding, dataset)
        self._opened = open_binary(source)
        self._handle = self._opened.__enter__()
        try:
            self.header = header_names(first_line(self._handle, self.max_line_bytes, dataset), self.encoding, delimiter, dataset)
            if not self.header:
                raise ValueError(f"dataset '{dataset}': the file is empty (no header line)")
            self.missing, _ = check_schema(self.header, columns, dataset, tolerated_drift)
        except BaseException:
            self.close()
            raise
        fields = [pa.field(snake_case(name), ARROW_TYPES[columns.get(name, "string")]) for name in self.header + self.missing]
        if line_numbers:
            fields.append(pa.field(LINE_COLUMN, pa.int64()))
        self.schema = pa.schema(fields)
        self.rows = 0
        self.finished = False  # read to the end: rows and quarantine are complete
        self._parts: list[pd.DataFrame] = []
        self._started = False

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow C stream interface: writers (``pa.RecordBatchReader.from_stream``) read the batches."""
        return self.reader().__arrow_c_stream__(requested_schema)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows read so far, columns): the table's shape once the stream is read to the end."""
        return self.rows, len(self.schema)

    def __copy__(self) -> TypedCsvStream:
        return self

    def __deepcopy__(self, memo: dict) -> TypedCsvStream:
        return self

    def __getstate__(self) -> dict[str, Any]:
        if not self.finished:
            raise TypeError(
                f"dataset '{self.dataset}': a CSV stream can be pickled only once read to the end (save its table first)"
            )
        return {**self.__dict__, "_opened": None, "_handle": None}

    def __repr__(self) -> str:
        state = f"{self.rows:,} rows, {sum(map(len, self._parts)):,} quarantined" if self._started else "not read"
        return f"TypedCsvStream({self.dataset!r}, {state}{', finished' if self.finished else ''})"

    def close(self) -> None:
        """Close the source file (done at the end of the iteration)."""
        if self._opened is not None:
            opened, self._opened = self._opened, None
            opened.__exit__(None, None, None)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise RuntimeError(f"dataset '{self.dataset}': a CSV stream can be read once")
        self._started = True
        # The chunks are parsed one or two ahead in a thread (pyarrow releases the GIL), so parsing
        # overlaps with whatever consumes the batches (the parquet writer) as pyarrow's own
        # streaming reader does; the queue bounds how many parsed chunks wait in memory.
        ready: queue.Queue = queue.Queue(maxsize=READ_AHEAD_CHUNKS)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for table in self._tables():
                    if not put(table):
                        return
                put(_END)
            except BaseException as error:  # handed to the consumer, raised there
                put(error)
            finally:
                self.close()

        worker = threading.Thread(target=produce, name=f"csv-read-{self.dataset}", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    self.finished = True
                    break
                if isinstance(item, BaseException):
                    raise item
                self.rows += item.num_rows
                yield from item.to_batches()
        finally:
            stop.set()
            worker.join()

    def _tables(self) -> Iterator[pa.Table]:
        for first, chunk in line_chunks(self._handle, 2, self.chunk_bytes, self.max_line_bytes):
            if isinstance(chunk, LongLine):
                self._reject([long_line_error(first, chunk, self.max_line_bytes, self.header, self.delimiter, self.encoding)])
                continue
            yield self._read_chunk(first, chunk)

    def reader(self) -> pa.RecordBatchReader:
        """The typed batches as a ``RecordBatchReader`` (for ``pyarrow.dataset.write_dataset``)."""
        return pa.RecordBatchReader.from_batches(self.schema, iter(self))

    def read_all(self) -> pa.Table:
        """Every typed row as one table (materialised: use ``reader()`` to stream)."""
        return pa.Table.from_batches(list(self), schema=self.schema)

    @property
    def quarantine(self) -> pd.DataFrame:
        """The lines rejected so far, in line order."""
        if not self._parts:
            return empty_quarantine()
        frame = pd.concat(self._parts, ignore_index=True) if len(self._parts) > 1 else self._parts[0]
        return frame.sort_values("line_number", kind="stable").reset_index(drop=True)

    def _reject(self, bad: list[BadLine] | pd.DataFrame) -> None:
        frame = bad if isinstance(bad, pd.DataFrame) else _quarantine_frame(self.dataset, bad)
        if len(frame):
            self._parts.append(frame)

    def _read_chunk(self, first: int, chunk: bytes) -> pa.Table:
        args = (self.columns, self.header, self.delimiter, self.date_format)
        if self.encoding != "utf-8":
            chunk, undecodable = decode_lines(chunk, self.encoding, first, self.header, self.delimiter)
            self._reject(undecodable)
        try:
            table, invalid = _fast_read(chunk, first, *args, self.line_numbers)
            if not invalid:
                return _finish(table, self.columns, self.missing)
        except pa.ArrowInvalid:
            pass  # a value that does not parse, invalid UTF-8 or a row longer than pyarrow's block
        # Lines that no reader can take (bad bytes, too long) are quarantined and blanked first.
        changed = False
        if self.encoding == "utf-8":
            chunk, undecodable = decode_lines(chunk, "utf-8", first, self.header, self.delimiter)
            self._reject(undecodable)
            changed = bool(undecodable)
        chunk, too_long, longest = blank_long_lines(chunk, first, self.max_line_bytes, self.header, self.delimiter, self.encoding)
        self._reject(too_long)
        block_size = max(PYARROW_BLOCK_BYTES, longest + 4096) if longest >= PYARROW_BLOCK_BYTES else None
        if changed or too_long or block_size:
            try:
                table, invalid = _fast_read(chunk, first, *args, self.line_numbers, block_size)
                if not invalid:
                    return _finish(table, self.columns, self.missing)
            except pa.ArrowInvalid:
                pass
        table, quarantine = _slow_read(chunk, first, *args, self.dataset, self.line_numbers, block_size)
        self._reject(quarantine)
        return _finish(table, self.columns, self.missing)


def typed_csv_stream(source: bytes | str | IO[bytes] | Any, columns: dict[str, str], dataset: str, **options: Any) -> TypedCsvStream:
    """A ``TypedCsvStream`` over ``source`` (bytes, a local path or a binary file); see ``read_typed_csv``."""
    return TypedCsvStream(source, columns, dataset, **options)


def read_typed_csv(
    source: bytes | str | IO[bytes],
    columns: dict[str, str],
    dataset: str,
    delimiter: str = ",",
    date_format: str | None = None,
    tolerated_drift: Iterable[str] = (),
    line_numbers: bool = False,
    encoding: str | None = "utf-8",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[pa.Table, pd.DataFrame]:
    """Typed, snake_case Arrow table from a raw CSV (bytes or path), and the quarantined lines.

    ``columns`` maps each raw column name to one of ``ARROW_TYPES``; ``date_format`` (strptime) is
    used for ``date``/``timestamp`` columns (ISO when omitted). ``line_numbers`` adds a
    ``line_number`` column with each kept row's physical line in the file (lineage). ``encoding`` is
    the file's (a Python codec name); a line that does not decode in it, or is longer than
    ``max_line_bytes``, is quarantined with its line number. The file is read ``chunk_bytes`` at a
    time; ``convert_csv_to_parquet`` writes the chunks as they come instead of returning one table.
    """
    stream = TypedCsvStream(
        source, columns, dataset, delimiter, date_format, tolerated_drift, line_numbers, encoding, max_line_bytes, chunk_bytes
    )
    table = stream.read_all()
    return table, stream.quarantine


def convert_csv_to_parquet(
    source: bytes | str | IO[bytes],
    path: str,
    columns: dict[str, str],
    dataset: str,
    partition_cols: list[str] | None = None,
    compression: str = "zstd",
    fs: Any = None,
    **options: Any,
) -> tuple[int, pd.DataFrame]:
    """Raw CSV to partitioned parquet under ``path`` in bounded memory; returns (rows written, quarantine).

    The typed batches go straight from the reader into ``lake.write_partitioned`` (staged, then swapped
    in), so peak memory is a chunk and the writer's buffers, not the table; ``options`` are
    ``read_typed_csv``'s.
    """
    from cripto_platform.datasets.lake import write_partitioned

    stream = TypedCsvStream(source, columns, dataset, **options)
    write_partitioned(stream.reader(), path, partition_cols, compression, fs)
    return stream.rows, stream.quarantine


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


def csv_options(params: dict[str, Any], file_key: str | None = None) -> dict[str, Any]:
    """``read_typed_csv`` keyword arguments from a source's parameters: ``encoding`` and ``max_line_bytes``.

    ``encoding`` is a codec name for every file of the source, or ``{file key: codec, default: codec}``
    (e.g. a Latin-1 product catalog beside UTF-8 sales files).
    """
    encoding = params["encoding"]
    if isinstance(encoding, dict):
        encoding = encoding.get(file_key, encoding["default"])
    return {"encoding": encoding, "max_line_bytes": int(params["max_line_bytes"])}
