"""PostgreSQL's binary COPY format, both ways, built and read vectorised with numpy: nothing to parse.

``copy_binary`` writes rows (``COPY ... FROM STDIN (FORMAT binary)``); ``copy_binary_chunks`` does
the same for chunks of rows, encoding the next chunk while the server takes the current one;
``copy_out_fixed`` reads the result of a query whose columns are all fixed-width and NOT NULL
(``COPY (query) TO STDOUT``).
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg2 import sql

_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
_TRAILER = b"\xff\xff"  # field count -1
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 (PostgreSQL's timestamp zero) in Unix microseconds

# Fixed-width kinds: big-endian record layout. numeric_cents is a numeric of scale 2 as 4 base-10000
# digits (up to 10^12 - 1 before the point, the range of numeric(14, 2)); the server drops leading zeros.
_FIXED = {
    "int8": ">i8",
    "bool": "u1",
    "timestamptz": ">i8",
    "numeric_cents": [("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">i2"), ("digits", ">i2", (4,))],
}
_SIZE = {"int8": 8, "bool": 1, "timestamptz": 8, "numeric_cents": 16}
_NUMERIC_NEGATIVE = 0x4000


def _field(kind: str, values, nulls: np.ndarray | None) -> tuple[np.ndarray, object]:
    """(byte length per row, -1 for NULL; the values in a form a structured array takes) of one column."""
    if kind == "text":
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if array.type != pa.string():  # e.g. the null type of an all-None list
            array = array.cast(pa.string())
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset: array.offset + len(array) + 1]
        chars = array.buffers()[2]
        data = np.frombuffer(chars, dtype=np.uint8) if chars is not None else np.zeros(0, np.uint8)
        lengths = np.diff(offsets).astype(np.int64)
        if array.null_count:
            lengths[np.asarray(array.is_null())] = -1
        return lengths, (offsets, data)
    if kind not in _FIXED:
        raise ValueError(f"copy_binary: unsupported column kind {kind!r} ({sorted([*_FIXED, 'text'])})")
    lengths = np.full(len(values), _SIZE[kind], dtype=np.int64)
    if nulls is not None:
        lengths[nulls] = -1
    values = np.asarray(values)
    if kind == "timestamptz":  # Unix microseconds in, PostgreSQL microseconds out
        return lengths, values.astype(np.int64) - _PG_EPOCH_US
    if kind == "numeric_cents":
        absolute = np.abs(values.astype(np.int64))
        whole = absolute // 100
        digits = np.stack([whole // 10**8 % 10**4, whole // 10**4 % 10**4, whole % 10**4, absolute % 100 * 100], axis=1)
        return lengths, (np.where(values < 0, _NUMERIC_NEGATIVE, 0), digits)
    return lengths, np.asarray(values, dtype=np.int64 if kind == "int8" else np.uint8)  # no copy if already so


def _fill(block: np.ndarray, name: str, kind: str, data, rows: np.ndarray, length: int) -> None:
    if kind == "text":
        offsets, chars = data
        block[name] = chars[offsets[rows][:, None] + np.arange(length)].view(f"S{length}").ravel()
    elif kind == "numeric_cents":
        sign, digits = data
        value = block[name]
        value["ndigits"], value["weight"], value["dscale"] = 4, 2, 2
        value["sign"] = sign[rows]
        value["digits"] = digits[rows]
    else:
        block[name] = data[rows]


def encode_binary(columns: list[tuple[str, str, object, np.ndarray | None]], *, header: bool = True,
                  trailer: bool = True) -> memoryview:
    """The rows of ``columns`` as binary COPY data (with the format's header and trailer unless told
    otherwise, so that chunks can be concatenated); see ``copy_binary``."""
    n = len(columns[0][2])
    fields = [(kind, *_field(kind, values, nulls)) for _, kind, values, nulls in columns]
    # Rows grouped by their combination of field lengths (NULLs, text lengths: a handful in practice);
    # each group is one structured array of fixed-size records. Columns whose length never varies
    # (fixed-width, no NULLs) do not split groups.
    varying = [lengths for _, lengths, _ in fields if n and lengths.min() != lengths.max()]
    group = np.zeros(n, dtype=np.int64)
    for lengths in varying:
        codes, uniques = pd.factorize(lengths)
        group = group * len(uniques) + codes
        if len(varying) > 1:
            group, _ = pd.factorize(group)  # renumber densely so the products stay small
    by_group = np.argsort(group, kind="stable") if varying else np.arange(n)
    bounds = np.flatnonzero(np.diff(group[by_group], prepend=-1, append=-1)) if n else np.zeros(1, np.int64)
    row_lengths = 2 + sum(4 + np.maximum(lengths, 0) for _, lengths, _ in fields) if n else np.zeros(0, np.int64)
    prefix, suffix = (_HEADER if header else b""), (_TRAILER if trailer else b"")
    out = np.empty(len(prefix) + int(np.sum(row_lengths)) + len(suffix), dtype=np.uint8)
    out[: len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    position = len(prefix)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        rows = by_group[start:stop]
        combo = [int(lengths[rows[0]]) for _, lengths, _ in fields]
        dtype: list = [("count", ">i2")]
        for index, ((kind, _, _), length) in enumerate(zip(fields, combo)):
            dtype.append((f"l{index}", ">i4"))
            if length > 0:
                dtype.append((f"v{index}", f"S{length}" if kind == "text" else _FIXED[kind]))
        record = np.dtype(dtype)
        # The group's records are written in place, in the one output buffer.
        block = out[position: position + record.itemsize * len(rows)].view(record)
        block["count"] = len(fields)
        for index, ((kind, _, data), length) in enumerate(zip(fields, combo)):
            block[f"l{index}"] = length
            if length > 0:
                _fill(block, f"v{index}", kind, data, rows, length)
        position += record.itemsize * len(rows)
    out[position:] = np.frombuffer(suffix, dtype=np.uint8)
    return out.data


def copy_binary(cursor, table: str, columns: list[tuple[str, str, object, np.ndarray | None]]) -> int:
    """COPY rows into ``table`` in PostgreSQL's binary format; returns the row count.

    ``columns``: (name, kind, values, null mask or None). Kinds: ``int8`` (int64), ``bool``,
    ``timestamptz`` (int64 Unix microseconds), ``numeric_cents`` (int64 cents into a numeric of
    scale 2, up to 10^12 - 0.01) and ``text`` (an Arrow string array, nulls in the array). Row order
    inside the table carries no meaning: rows are written grouped by their field lengths.
    """
    copy_encoded(cursor, table, [name for name, *_ in columns], encode_binary(columns))
    return len(columns[0][2])


def copy_encoded(cursor, table: str, names: list[str], payload) -> int:
    """COPY binary data made by ``encode_binary`` into ``names`` of ``table``; returns the row count."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)))
    cursor.copy_expert(statement.as_string(cursor), io.BytesIO(payload), size=1 << 20)
    return cursor.rowcount


class _QueueReader:
    """The file ``copy_expert`` reads: payloads from a queue, handed out in pieces of ``size`` bytes."""

    def __init__(self, payloads: queue.Queue) -> None:
        self._payloads = payloads
        self._current = memoryview(b"")
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._current and not self._done:
            payload = self._payloads.get()
            if isinstance(payload, BaseException):
                raise payload  # psycopg2 then ends the COPY with an error: nothing of it stays
            if payload is None:
                self._done = True
            else:
                self._current = memoryview(payload)
        size = len(self._current) if size is None or size < 0 else size
        piece, self._current = self._current[:size], self._current[size:]
        return bytes(piece)


def copy_binary_chunks(cursor, table: str, chunks: Iterable[list[tuple[str, str, object, np.ndarray | None]]]) -> int:
    """``copy_binary`` over chunks of rows (each a ``columns`` list with the same names and kinds).

    One COPY statement: a thread streams it to the server while this one encodes the next chunk,
    so the client's encoding and the server's parsing overlap (numpy and psycopg2 release the GIL
    while they work and wait). Returns the row count.
    """
    chunks = iter(chunks)
    first = next(chunks)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name, *_ in first)).as_string(cursor)
    payloads: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def stream() -> None:
        try:
            cursor.copy_expert(statement, _QueueReader(payloads), size=1 << 20)
        except BaseException as error:  # raised again below, in the caller's thread
            failure.append(error)

    def hand_over(payload) -> None:
        while thread.is_alive():
            try:
                payloads.put(payload, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=stream, name=f"copy {table}", daemon=True)
    rows = 0
    try:
        for index, columns in enumerate(chain([first], chunks)):
            payload = encode_binary(columns, header=index == 0, trailer=False)
            if index == 0:
                thread.start()
            hand_over(payload)
            rows += len(columns[0][2])
            if failure:
                break
        hand_over(_TRAILER)
        hand_over(None)
    except BaseException as error:
        if thread.is_alive():
            hand_over(error)
        raise
    finally:
        if thread.ident is not None:
            thread.join()
    if failure:
        raise failure[0]
    return rows


def copy_out_fixed(cursor, query: sql.Composable, kinds: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Run ``query`` through ``COPY (...) TO STDOUT (FORMAT binary)``; columns as numpy arrays.

    ``kinds``: (name, ``int8`` | ``bool``) per output column, all NOT NULL: each record then has one
    fixed layout, read in one ``np.frombuffer`` instead of building a Python tuple per row.
    """
    buffer = io.BytesIO()
    cursor.copy_expert(sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query).as_string(cursor), buffer)
    payload = buffer.getbuffer()
    header_extension = int.from_bytes(payload[15:19], "big")
    body = payload[19 + header_extension: len(payload) - len(_TRAILER)]
    dtype: list = [("count", ">i2")]
    for name, kind in kinds:
        dtype += [(f"{name}_length", ">i4"), (name, _FIXED[kind])]
    record = np.dtype(dtype)
    records = np.frombuffer(body, dtype=record, count=len(body) // record.itemsize)
    mismatched = [name for name, kind in kinds if (records[f"{name}_length"] != _SIZE[kind]).any()]
    if len(body) % record.itemsize or mismatched:
        raise ValueError(f"copy_out_fixed: column(s) {mismatched or [n for n, _ in kinds]} have NULLs or "
                         f"are not of the kinds {kinds}")
    return {name: records[name].astype(np.int64 if kind == "int8" else bool) for name, kind in kinds}
