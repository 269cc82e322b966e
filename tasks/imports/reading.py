"""Reading an export from another tool: CSV or JSON Lines, plain or gzip, one record at a time.

Memory stays bounded whatever the file holds: gzip is inflated as it is read, a
physical line is read at most :data:`MAX_RECORD_CHARS` characters at a time, and
a record longer than that (a runaway line, a bomb of one character repeated) is
skipped and reported as a bad record at its line, never held whole. A file that
cannot be read to its end (corrupt or truncated gzip, not the given encoding)
raises :class:`UnreadableFile`; nothing of it should be used then.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

# one record (a CSV row, however many lines it spans, or a JSON line) at most: 1 MiB of text
MAX_RECORD_CHARS = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


SUFFIXES = {".csv": Format.csv, ".jsonl": Format.jsonl, ".ndjson": Format.jsonl}


class UnreadableFile(ValueError):
    """The file cannot be read to its end, or is not what it claims to be: use none of it."""


@dataclass(slots=True)
class Record:
    """One record: its first line and its values by column, or why it cannot be read."""

    line: int
    values: Optional[dict[str, Any]] = None
    error: Optional[str] = None


def format_of(path: Path, given: Optional[Format] = None) -> Format:
    """The format asked for, else the one the name says (``.csv``, ``.jsonl``, ``.ndjson``,
    each optionally followed by ``.gz``)."""
    if given is not None:
        return Format(given)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    found = SUFFIXES.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise UnreadableFile(f"{path.name}: cannot tell CSV from JSON Lines by its name; "
                             "give --format csv or --format jsonl")
    return found


class _Lines:
    """Physical lines of a text stream, none longer than ``limit``; an over-long line is read
    through in pieces and comes back as ``None``. Counts lines and the quotes each line holds
    (CSV uses them to find where an over-long record ends)."""

    def __init__(self, text: io.TextIOBase, limit: int):
        self.text = text
        self.limit = limit
        self.number = 0

    def next(self) -> tuple[Optional[str], int] | None:
        """(line or None when too long, its count of ``"``), or None at the end."""
        line = self.text.readline(self.limit + 1)
        if not line:
            return None
        self.number += 1
        if len(line) <= self.limit:
            return line, line.count('"')
        quotes = line.count('"')
        while not line.endswith(("\n", "\r")):
            line = self.text.readline(self.limit)
            if not line:
                break
            quotes += line.count('"')
        return None, quotes


class RecordTooLong(Exception):
    """Raised inside the CSV reader's input when the record being read passes the limit."""


class _CsvInput:
    """The lines the csv module parses, cut off when one record passes the limit."""

    def __init__(self, lines: _Lines, limit: int):
        self.lines = lines
        self.limit = limit
        self.start = 0  # first line of the record being read
        self.size = 0
        self.quotes = 0

    def __iter__(self) -> "_CsvInput":
        return self

    def new_record(self) -> None:
        self.size = self.quotes = 0
        self.start = 0

    def __next__(self) -> str:
        got = self.lines.next()
        if got is None:
            raise StopIteration
        line, quotes = got
        if not self.start:
            self.start = self.lines.number
        self.quotes += quotes
        if line is None or self.size + len(line) > self.limit:
            raise RecordTooLong
        self.size += len(line)
        return line

    def skip_record(self) -> None:
        """Read through the rest of an over-long record: a well-formed CSV record ends at the
        first line end where its quotes pair up."""
        while self.quotes % 2:
            got = self.lines.next()
            if got is None:
                break
            self.quotes += got[1]
        self.new_record()


def _csv_records(text: io.TextIOBase, limit: int) -> tuple[list[str], Iterator[Record]]:
    source = _CsvInput(_Lines(text, limit), limit)
    reader = csv.reader(source, strict=False)
    header: list[str] = []
    while not header:
        try:
            header = next(reader)
        except StopIteration:
            return [], iter(())
        except RecordTooLong:
            raise UnreadableFile(f"its header (line {source.start}) is longer than {limit:,} characters") from None
        except csv.Error as error:
            raise UnreadableFile(f"its header (line {source.start}) cannot be read: {error}") from None
    header = [name.strip() for name in header]

    def records() -> Iterator[Record]:
        while True:
            source.new_record()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except RecordTooLong:
                line = source.start
                source.skip_record()
                yield Record(line, error=f"record longer than {limit:,} characters")
                continue
            except csv.Error as error:
                yield Record(source.start, error=f"not CSV: {error}")
                continue
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                yield Record(source.start, error=f"{len(fields)} fields where the header has {len(header)}")
                continue
            yield Record(source.start, dict(zip(header, fields)))

    return header, records()


def _jsonl_records(text: io.TextIOBase, limit: int) -> Iterator[Record]:
    lines = _Lines(text, limit)
    while True:
        got = lines.next()
        if got is None:
            return
        line = got[0]
        if line is None:
            yield Record(lines.number, error=f"record longer than {limit:,} characters")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            yield Record(lines.number, error=f"not JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield Record(lines.number, error=f"a JSON {type(value).__name__}, not an object")
            continue
        yield Record(lines.number, value)


@dataclass
class Opened:
    """An export being read: its format, CSV header, records and bytes read so far."""

    format: Format
    columns: Optional[list[str]]
    records: Iterator[Record]
    position: Callable[[], int]
    size: int


_READ_ERRORS = (EOFError, OSError, zlib.error, UnicodeDecodeError)


def _reason(error: BaseException, encoding: str) -> str:
    if isinstance(error, EOFError):
        return "it ends early (truncated)"
    if isinstance(error, UnicodeDecodeError):
        return f"it is not {encoding} text (byte {error.object[error.start:error.start + 1]!r})"
    if isinstance(error, (gzip.BadGzipFile, zlib.error)):
        return f"it is not valid gzip ({error})"
    return str(error) or type(error).__name__


def _unreadable(path: Path, error: BaseException, encoding: str) -> UnreadableFile:
    return UnreadableFile(f"{path}: cannot be read: {_reason(error, encoding)}; nothing was imported")


def _guarded(records: Iterator[Record], path: Path, encoding: str) -> Iterator[Record]:
    try:
        yield from records
    except _READ_ERRORS as error:
        raise _unreadable(path, error, encoding) from None


@contextmanager
def open_export(
    path: Path, given: Optional[Format] = None, *, encoding: str = "utf-8", limit: int = MAX_RECORD_CHARS
) -> Iterator[Opened]:
    """Open an export for reading. Anything that stops it being read to its end, at the
    header or later while its records are read, raises :class:`UnreadableFile`."""
    path = Path(path)
    fmt = format_of(path, given)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UnreadableFile(f"unknown encoding {encoding!r}") from None
    # utf-8-sig: a byte order mark some tools write is not part of the first column's name
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    old_limit = csv.field_size_limit()
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise UnreadableFile(f"{path}: {error.strerror or error}") from None
    try:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        text = io.TextIOWrapper(stream, encoding=codec, newline="")
        try:
            if fmt is Format.csv:
                csv.field_size_limit(max(old_limit, limit + 1))
                columns, records = _csv_records(text, limit)
            else:
                columns, records = None, _jsonl_records(text, limit)
        except _READ_ERRORS as error:
            raise _unreadable(path, error, encoding) from None
        except UnreadableFile as error:
            raise UnreadableFile(f"{path}: {error}; nothing was imported") from None
        yield Opened(fmt, columns, _guarded(records, path, encoding), raw.tell, path.stat().st_size)
        text.detach()
    finally:
        csv.field_size_limit(old_limit)
        raw.close()
