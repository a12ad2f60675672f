"""``COPY ... FROM STDIN (FORMAT binary)`` built vectorised with numpy: nothing for the server to parse."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg2 import sql

_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
_TRAILER = b"\xff\xff"  # field count -1


def _field(kind: str, values, nulls: np.ndarray | None) -> tuple[np.ndarray, object]:
    """(byte length per row, -1 for NULL; the values in a form a structured array takes) of one column."""
    if kind == "text":
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset: array.offset + len(array) + 1]
        chars = array.buffers()[2]
        data = np.frombuffer(chars, dtype=np.uint8) if chars is not None else np.zeros(0, np.uint8)
        lengths = np.diff(offsets).astype(np.int64)
        if array.null_count:
            lengths[np.asarray(array.is_null())] = -1
        return lengths, (offsets, data)
    if kind != "int8":
        raise ValueError(f"copy_binary: unsupported column kind {kind!r} (int8 or text)")
    lengths = np.full(len(values), 8, dtype=np.int64)
    if nulls is not None:
        lengths[nulls] = -1
    return lengths, np.asarray(values, dtype=np.int64)


def copy_binary(cursor, table: str, columns: list[tuple[str, str, object, np.ndarray | None]]) -> int:
    """COPY rows into ``table`` in PostgreSQL's binary format; returns the row count.

    ``columns``: (name, kind, values, null mask or None), kind ``int8`` (int64 values) or ``text``
    (an Arrow string array, nulls in the array). Rows are grouped by their combination of field
    lengths (NULLs, text lengths: a handful in practice), so each group is one numpy structured
    array of fixed-size big-endian records; row order inside the table carries no meaning.
    """
    n = len(columns[0][2])
    fields = [(name, kind, *_field(kind, values, nulls)) for name, kind, values, nulls in columns]
    lengths = np.stack([field[2] for field in fields], axis=1) if n else np.zeros((0, len(fields)), np.int64)
    group = np.zeros(n, dtype=np.int64)  # the combination of field lengths, numbered by hashing (no 2-D sort)
    for column in lengths.T:
        codes, uniques = pd.factorize(column)
        group, _ = pd.factorize(group * len(uniques) + codes)
    group_count = int(group.max()) + 1 if n else 0
    by_group = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[by_group], np.arange(group_count + 1))
    combos = lengths[by_group[bounds[:-1]]] if n else lengths[:0]
    parts = [_HEADER]
    for number, combo in enumerate(combos):
        rows = by_group[bounds[number]: bounds[number + 1]]
        dtype = [("count", ">i2")]
        for index, ((_, kind, _, _), length) in enumerate(zip(fields, combo)):
            dtype.append((f"l{index}", ">i4"))
            if length > 0:
                dtype.append((f"v{index}", f"S{length}" if kind == "text" else ">i8"))
        block = np.empty(len(rows), dtype=np.dtype(dtype))
        block["count"] = len(fields)
        for index, ((_, kind, _, data), length) in enumerate(zip(fields, combo)):
            block[f"l{index}"] = length
            if length <= 0:
                continue
            if kind == "text":
                offsets, chars = data
                block[f"v{index}"] = chars[offsets[rows][:, None] + np.arange(length)].view(f"S{length}").ravel()
            else:
                block[f"v{index}"] = data[rows]
        parts.append(block.tobytes())
    parts.append(_TRAILER)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(field[0]) for field in fields))
    cursor.copy_expert(statement.as_string(cursor), io.BytesIO(b"".join(parts)), size=1 << 20)
    return n
