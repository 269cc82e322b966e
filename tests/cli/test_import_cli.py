"""``problemflow import incidents`` through the installed command."""

from __future__ import annotations

import gzip
import json

from problemflow.tasks.imports.reading import MAX_RECORD_CHARS

EXPORT = (
    "Date,Time,Message,Level,Host\n"
    "2026-11-27,09:00:00,Disk on db-01 is 97% full,critical,db-01\n"
    "2026-11-27,09:05:00,Disk on db-02 is 91% full,WARN,db-02\n"
    "2026-11-27,09:05:00,Disk on db-02 is 91% full,WARN,db-02\n"
)
MAPS = ("--map", "title=Message", "--map", "opened_at=Date+Time", "--map", "severity=Level",
        "--map", "labels.host=Host")


def _one_line_error(done) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("reading")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_csv_import_with_joined_columns_then_again_adds_nothing(cli, tmp_path):
    path = tmp_path / "alerts.csv"
    path.write_text(EXPORT)
    first = cli.json("import", "incidents", str(path), *MAPS)
    assert (first["rows"], first["imported"], first["already_present"], first["bad"]) == (3, 3, 0, 0)
    listed = cli.json("incident", "list")
    assert len(listed) == 3
    oldest = listed[-1]
    assert (oldest["title"], oldest["priority"], oldest["state"], oldest["source"]) == (
        "Disk on db-01 is 97% full", "1-critical", "closed", "import")
    assert oldest["labels"] == {"host": "db-01"} and oldest["opened_at"] == "2026-11-27T09:00:00Z"
    assert oldest["template"] and "<*>" in oldest["template"]

    again = cli("import", "incidents", str(path), *MAPS, "--quiet")
    assert again.stdout.strip() == f"{path}: 3 rows read: 0 incidents imported, 3 already present, 0 bad"
    assert len(cli.json("incident", "list")) == 3


def test_jsonl_with_time_format_and_zone(cli, tmp_path):
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"msg": "Queue orders is 5000 deep", "when": "261127 101500", "sev": "p2"}\n'))
    summary = cli.json("import", "incidents", str(path), "--map", "title=msg", "--map", "opened_at=when",
                       "--map", "severity=sev", "--time-format", "%y%m%d %H%M%S", "--timezone", "America/New_York")
    assert summary["imported"] == 1 and summary["format"] == "jsonl"
    (incident,) = cli.json("incident", "list")
    assert incident["opened_at"] == "2026-11-27T15:15:00Z" and incident["priority"] == "2-high"


def test_bad_rows_are_listed_by_line_and_nothing_is_imported_unless_skip_bad(cli, tmp_path):
    path = tmp_path / "alerts.csv"
    path.write_text(EXPORT + "2026-11-27,09:06:00,,critical,db-03\n"
                    + "2026-11-27,09:07:00,Fan failure,purple,db-04\n"
                    + f"2026-11-27,09:08:00,{'x' * (MAX_RECORD_CHARS + 1)},info,db-05\n"
                    + "2026-11-27,09:09:00,After the long one,info,db-06\n")
    refused = cli("import", "incidents", str(path), *MAPS, "--quiet", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "line 5: title: empty" in refused.stderr
    assert "line 6: severity: unknown severity 'purple'" in refused.stderr
    assert f"line 7: record longer than {MAX_RECORD_CHARS:,} characters" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: 3 bad rows, so nothing was imported")
    assert cli.json("incident", "list") == []

    kept = cli.json("import", "incidents", str(path), *MAPS, "--skip-bad")
    assert (kept["imported"], kept["bad"], kept["committed"]) == (4, 3, True)
    assert [b["line"] for b in kept["bad_rows"]] == [5, 6, 7]
    assert len(cli.json("incident", "list")) == 4


def test_damaged_gzip_is_one_line_and_exit_2(cli, tmp_path):
    whole = gzip.compress(EXPORT.encode() * 3000)
    for name, data in {"truncated.csv.gz": whole[: len(whole) // 2],
                       "corrupt.csv.gz": b"\x1f\x8b" + b"\x1b[2J not gzip" * 20}.items():
        path = tmp_path / name
        path.write_bytes(data)
        line = _one_line_error(cli("import", "incidents", str(path), *MAPS, check=False))
        assert name in line and "nothing was imported" in line and "\x1b" not in line
    assert cli.json("incident", "list") == []


def test_missing_opened_at_and_unknown_columns_are_refused_before_reading(cli, tmp_path):
    path = tmp_path / "alerts.csv"
    path.write_text(EXPORT)
    line = _one_line_error(cli("import", "incidents", str(path), "--map", "title=Message", check=False))
    assert "opened_at" in line and "--now" in line
    line = _one_line_error(cli("import", "incidents", str(path), "--map", "title=Msg", "--map", "opened_at=Date",
                               check=False))
    assert "'Msg'" in line and "Message" in line
    stamped = cli.json("import", "incidents", str(path), "--map", "title=Message", "--now")
    assert stamped["imported"] == 3
