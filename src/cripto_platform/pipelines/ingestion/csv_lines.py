"""Physical lines of a raw CSV: whole-line chunks read in bounded memory, and the lines that cannot be read.

A CSV row is one physical line here (pyarrow's default ``newlines_in_values=False``: a newline always
ends a row), so cutting a file after a newline never splits a row, and a chunk's first line number is
the previous one's plus the newlines it held. Lines longer than ``max_line_bytes`` are skipped while
reading (only a prefix is kept for the quarantine), so one giant line cannot take the memory; lines
that do not decode in the declared encoding are blanked (a blank line is not a row but still counts
for line numbers) and reported.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
PYARROW_BLOCK_BYTES = 1024 * 1024  # pyarrow.csv's default block_size: a longer row does not parse with it
RAW_LINE_CHARS = 2000  # characters of an unreadable line kept in the quarantine's raw_line
_ESCAPED = re.compile("[\udc80-\udcff]")


@dataclass
class LongLine:
    """A line longer than ``max_line_bytes``, not kept in memory: its length and first bytes."""

    length: int
    prefix: bytes


@dataclass
class BadLine:
    """One unreadable line: its physical number, why, and (part of) its text."""

    line_number: int
    reason: str
    raw_line: str


def normalise_encoding(encoding: str | None, dataset: str) -> str:
    """Python's name for ``encoding`` (``'latin-1'`` -> ``'iso8859-1'``), failing naming the dataset."""
    try:
        return codecs.lookup(encoding or "utf-8").name
    except LookupError:
        raise ValueError(f"dataset '{dataset}': unknown encoding '{encoding}' (use a Python codec name such as utf-8, latin-1, cp1252)") from None


@contextmanager
def open_binary(source: bytes | bytearray | str | os.PathLike | IO[bytes] | Any) -> Iterator[IO[bytes]]:
    """A binary file for ``source``: bytes, a local path, a lazy file with ``open()`` (the raw zone's
    ``lake.RawFile``, any fsspec location; opened and closed here), or an open binary file (left open)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield handle
    elif callable(getattr(source, "open", None)) and not hasattr(source, "read"):
        with source.open() as handle:
            yield handle
    else:
        yield source


def first_line(handle: IO[bytes], max_line_bytes: int, dataset: str) -> bytes:
    """The header line (without its newline); fails naming the dataset if it is longer than the limit."""
    line = handle.readline(max_line_bytes + 1)
    if len(line) > max_line_bytes and not line.endswith(b"\n"):
        raise ValueError(f"dataset '{dataset}': the header (line 1) is longer than max_line_bytes ({max_line_bytes:,} bytes)")
    return line.rstrip(b"\r\n")


def line_chunks(
    handle: IO[bytes], start_line: int, chunk_bytes: int, max_line_bytes: int
) -> Iterator[tuple[int, bytes | LongLine]]:
    """``(first line number, whole lines)`` about ``chunk_bytes`` at a time; a line longer than
    ``max_line_bytes`` that does not fit in a chunk comes alone as a ``LongLine`` (never held whole)."""
    pending, line = b"", start_line
    while True:
        block = handle.read(chunk_bytes)
        if not block:
            break
        data = pending + block if pending else block
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > max_line_bytes:
                long_line, pending = _skip_rest_of_line(handle, data, chunk_bytes)
                yield line, long_line
                line += 1
            else:
                pending = data
            continue
        chunk, pending = data[: cut + 1], data[cut + 1 :]
        yield line, chunk
        line += chunk.count(b"\n")
    if pending:
        yield line, (LongLine(len(pending), pending[:RAW_LINE_CHARS]) if len(pending) > max_line_bytes else pending)


def _skip_rest_of_line(handle: IO[bytes], start: bytes, chunk_bytes: int) -> tuple[LongLine, bytes]:
    length, prefix = len(start), start[:RAW_LINE_CHARS]
    while True:
        block = handle.read(chunk_bytes)
        if not block:
            return LongLine(length, prefix), b""
        end = block.find(b"\n")
        if end < 0:
            length += len(block)
            continue
        return LongLine(length + end, prefix), block[end + 1 :]


def field_at(text: str, position: int, header: list[str], delimiter: str) -> str:
    """The header name of the field holding character ``position`` of a line's ``text``."""
    fields = next(csv.reader([text[:position] + "x"], delimiter=delimiter), [""])
    index = len(fields) - 1
    return header[index] if index < len(header) else f"#{index + 1} (beyond the {len(header)} header columns)"


def _shown(text: str) -> str:
    """A line's text for the quarantine: undecodable bytes as \\xNN, cut to RAW_LINE_CHARS."""
    text = _ESCAPED.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text.rstrip("\r"))
    return text if len(text) <= RAW_LINE_CHARS else text[:RAW_LINE_CHARS] + f"… [{len(text):,} characters]"


def long_line_error(line_number: int, line: LongLine, max_line_bytes: int, header: list[str], delimiter: str, encoding: str) -> BadLine:
    """The quarantine entry of a line longer than ``max_line_bytes``, naming the column reaching the limit."""
    text = line.prefix.decode(encoding, errors="surrogateescape")
    column = field_at(text, len(text), header, delimiter)
    return BadLine(
        line_number,
        f"line is {line.length:,} bytes, longer than max_line_bytes ({max_line_bytes:,}); column '{column}' is the one "
        "reaching the limit",
        _shown(text),
    )


def blank_long_lines(
    chunk: bytes, first: int, max_line_bytes: int, header: list[str], delimiter: str, encoding: str
) -> tuple[bytes, list[BadLine], int]:
    """``chunk`` with lines over ``max_line_bytes`` blanked, their quarantine entries, and the longest kept line."""
    newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(chunk)]))
    lengths = ends - starts
    too_long = np.flatnonzero(lengths > max_line_bytes)
    kept = lengths[lengths <= max_line_bytes]
    longest = int(kept.max()) if kept.size else 0
    if not too_long.size:
        return chunk, [], longest
    bad, pieces, previous = [], [], 0
    for index in too_long:
        start, end = int(starts[index]), int(ends[index])
        bad.append(long_line_error(first + int(index), LongLine(end - start, chunk[start : start + RAW_LINE_CHARS]),
                                   max_line_bytes, header, delimiter, encoding))
        pieces.append(chunk[previous:start])
        previous = end
    pieces.append(chunk[previous:])
    return b"".join(pieces), bad, longest


def decode_lines(
    chunk: bytes, encoding: str, first: int, header: list[str], delimiter: str
) -> tuple[bytes, list[BadLine]]:
    """``chunk`` as UTF-8, with the lines that do not decode in ``encoding`` blanked and reported."""
    try:
        text = chunk.decode(encoding)
        return (chunk if encoding == "utf-8" else text.encode("utf-8")), []
    except UnicodeDecodeError:
        text = chunk.decode(encoding, errors="surrogateescape")
    bad, pieces, previous, line, counted = [], [], 0, first, 0
    for match in _ESCAPED.finditer(text):
        position = match.start()
        if position < previous:  # another bad byte of a line already reported
            continue
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        line += text.count("\n", counted, start)
        counted = start
        line_text = text[start:end]
        column = field_at(line_text, position - start, header, delimiter)
        hint = "" if encoding != "utf-8" else "; set the source's encoding parameter if the file is not UTF-8"
        bad.append(BadLine(
            line,
            f"column '{column}': byte 0x{ord(match.group()) - 0xDC00:02x} is not valid {encoding}{hint}",
            _shown(line_text),
        ))
        pieces.append(text[previous:start])
        previous = end
    pieces.append(text[previous:])
    return "".join(pieces).encode("utf-8"), bad


def header_names(line: bytes, encoding: str, delimiter: str, dataset: str) -> list[str]:
    """Column names of the header line decoded in ``encoding`` (a UTF-8 byte order mark dropped)."""
    try:
        text = line.decode("utf-8-sig" if encoding == "utf-8" else encoding).lstrip("\ufeff")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"dataset '{dataset}': the header (line 1) is not valid {encoding}: byte 0x{line[error.start]:02x} at "
            f"position {error.start}; set the source's encoding parameter (e.g. latin-1) to the file's encoding"
        ) from None
    return next(csv.reader([text], delimiter=delimiter)) if text else []

