"""Reading exports: formats by name, bounded records, gzip inflated as it is read."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import pytest

from problemflow.tasks.imports.reading import MAX_RECORD_CHARS, Format, UnreadableFile, format_of, open_export


@pytest.mark.parametrize(("name", "expected"), [
    ("a.csv", Format.csv), ("a.CSV.gz", Format.csv), ("a.jsonl", Format.jsonl), ("a.ndjson.gz", Format.jsonl),
])
def test_format_from_the_name(name, expected):
    assert format_of(Path(name)) is expected


def test_unknown_name_needs_format():
    with pytest.raises(UnreadableFile, match="--format"):
        format_of(Path("export.txt"))
    assert format_of(Path("export.txt"), Format.jsonl) is Format.jsonl


def _bomb(path: Path, inflated: int) -> None:
    """A small gzip file that inflates to ``inflated`` bytes of one character, no line end,
    then a good row."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    chunk = b"a" * (1 << 20)
    with path.open("wb") as out:
        out.write(compressor.compress(b"title,opened_at\n"))
        for _ in range(inflated // len(chunk)):
            out.write(compressor.compress(chunk))
        out.write(compressor.compress(b",x\nafter,2026-11-27T10:00:00Z\n"))
        out.write(compressor.flush())


def test_gzip_bomb_is_one_bad_record_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    _bomb(path, 96 << 20)
    assert path.stat().st_size < 1 << 20  # under a MiB on disk, 96 MiB inflated
    tracemalloc.start()
    try:
        with open_export(path) as opened:
            records = [(r.line, r.values, r.error) for r in opened.records]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert records == [(2, None, f"record longer than {MAX_RECORD_CHARS:,} characters"),
                       (3, {"title": "after", "opened_at": "2026-11-27T10:00:00Z"}, None)]
    assert peak < 24 << 20, f"peak {peak / 2**20:.0f} MiB while reading"


def test_not_utf8_is_unreadable_unless_the_encoding_is_given(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("title,opened_at\nCaf\xe9 down,2026-11-27T10:00:00Z\n".encode("latin-1"))
    with pytest.raises(UnreadableFile, match="not utf-8 text"):
        with open_export(path) as opened:
            list(opened.records)
    with open_export(path, encoding="latin-1") as opened:
        assert [r.values["title"] for r in opened.records] == ["Café down"]


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftitle,opened_at\nx,2026-11-27T10:00:00Z\n".encode("utf-8"))
    with open_export(path) as opened:
        assert opened.columns == ["title", "opened_at"]


def test_json_lines_that_are_not_objects(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"title": "x"}\n[1, 2]\n{oops\n\n{"title": "y"}\n')
    with open_export(path) as opened:
        got = [(r.line, r.error.split(":")[0] if r.error else r.values["title"]) for r in opened.records]
    assert got == [(1, "x"), (2, "a JSON list, not an object"), (3, "not JSON"), (5, "y")]


def test_truncated_gzip_raises_while_reading(tmp_path):
    whole = gzip.compress(b"title,opened_at\n" + b"x,2026-11-27T10:00:00Z\n" * 50_000)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[: len(whole) - 40])
    with pytest.raises(UnreadableFile, match="truncated"):
        with open_export(path) as opened:
            for _ in opened.records:
                pass
