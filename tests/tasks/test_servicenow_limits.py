"""A ServiceNow import keeps to its limits: a gzip bomb of valid rows is refused in bounded
memory, a runaway line or field is a bad row, NUL never reaches the database."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path

from sqlalchemy import func, select

from problemflow.models.audit import AuditEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from problemflow.tasks.servicenow import import_export
from problemflow.tasks.servicenow.parse import MAX_BAD_ROWS, MAX_EVENTS, MAX_INCIDENTS, MAX_LINE_CHARS
from tests.tasks.test_servicenow import event, write

EXECUTABLE = Path(sys.executable).parent / "problemflow"
MEMORY_LIMIT_MB = 300
HEADER = b"number,incident_state,opened_at,sys_mod_count\n"
# run a command and report the peak memory (RSS) of it and its children, in kB, on the last line
MEASURE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _members(path: Path, block: bytes, copies: int) -> Path:
    """``HEADER`` then ``block`` repeated ``copies`` times, as a multi-member gzip: a few MB
    that read as gigabytes, built without compressing the gigabytes."""
    member = gzip.compress(block, 9)
    with path.open("wb") as out:
        out.write(gzip.compress(HEADER))
        for _ in range(copies):
            out.write(member)
    return path


def _import_measured(path: Path, env: dict) -> tuple[int, float, str]:
    """Exit code, peak RSS in MB and stderr of ``problemflow import servicenow path``."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(EXECUTABLE), "import", "servicenow", str(path), "--quiet"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    code, peak_kb = done.stdout.split()[-2:]
    return int(code), int(peak_kb) / 1024, done.stderr


def _count(model) -> int:
    with session_scope() as db:
        return db.scalar(select(func.count()).select_from(model))


def test_a_gzip_bomb_of_valid_events_is_refused_in_bounded_memory(cli, tmp_path):
    # 20 million valid events of one incident (720 MB of text) in about 2 MB
    row = b"INC0000001,Active,29/2/2016 01:16,3\n"
    bomb = _members(tmp_path / "bomb.csv.gz", row * 10_000, 2_000)
    assert bomb.stat().st_size < 5_000_000
    code, peak_mb, stderr = _import_measured(bomb, cli.env)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, stderr
    assert f"more than {MAX_EVENTS:,} events" in stderr and "split the export" in stderr and "nothing was imported" in stderr
    assert peak_mb < MEMORY_LIMIT_MB, f"peak {peak_mb:.0f} MB"
    assert _count(Incident) == 0 and _count(AuditEvent) == 0
    print(f"gzip bomb of events: peak {peak_mb:.0f} MB")


def test_a_file_of_too_many_incidents_is_refused_in_bounded_memory(cli, tmp_path):
    rows = b"".join(b"INC%07d,New,29/2/2016 01:16,0\n" % n for n in range(MAX_INCIDENTS + 10))
    path = tmp_path / "many.csv.gz"
    path.write_bytes(gzip.compress(HEADER + rows))
    code, peak_mb, stderr = _import_measured(path, cli.env)
    assert code == 2 and f"more than {MAX_INCIDENTS:,} incidents" in stderr, stderr
    assert peak_mb < MEMORY_LIMIT_MB, f"peak {peak_mb:.0f} MB"
    assert _count(Incident) == 0
    print(f"too many incidents: peak {peak_mb:.0f} MB")


def test_a_gigabyte_line_is_one_bad_row_and_costs_no_gigabyte(cli, tmp_path):
    good = b"INC0000001,New,29/2/2016 01:16,0\n"
    path = tmp_path / "runaway.csv.gz"
    with path.open("wb") as out:
        out.write(gzip.compress(HEADER + good))
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # one gzip member, streamed
        chunk = b"x" * (1 << 20)
        for _ in range(1024):  # 1 GB without a line break
            out.write(compressor.compress(chunk))
        out.write(compressor.compress(b"\nINC0000002,New,29/2/2016 01:17,0\n"))
        out.write(compressor.flush())
    assert path.stat().st_size < 5_000_000
    code, peak_mb, stderr = _import_measured(path, cli.env)
    assert code == 0, stderr
    assert f"skipped line 3: the line is longer than {MAX_LINE_CHARS:,} characters" in stderr
    assert peak_mb < MEMORY_LIMIT_MB, f"peak {peak_mb:.0f} MB"
    numbers = json.loads(cli("incident", "list", "--json").stdout)
    assert sorted(i["external_ref"] for i in numbers) == ["INC0000001", "INC0000002"]
    print(f"one 1 GB line: peak {peak_mb:.0f} MB")


def test_long_fields_are_bad_rows_and_nul_is_dropped(db_session, tmp_path):
    path = write(tmp_path / "log.csv.gz", [
        event("INC0000001", "New", 0, "29/2/2016 01:23", category="Disk\x00 full", caller_id="Caller\x00 9"),
        event("INC0000002", "New", 0, "29/2/2016 01:23", category="c" * 121),
        event("INC0000003", "New", 0, "29/2/2016 01:23", location="l" * 200_000),
        event("INC0000004", "Active\x00", 1, "29/2/2016 01:23", sys_updated_by="u" * 121),
    ])
    summary = import_export(db_session=db_session, path=path)
    assert summary.created == 1, summary
    reasons = dict(summary.skipped)
    assert reasons[3] == "category: longer than 120 characters"
    assert "field larger than field limit" in reasons[4]
    assert reasons[5] == "sys_updated_by: longer than 120 characters"
    db_session.flush()
    stored = db_session.scalar(select(Incident))
    assert stored.category == "Disk full" and stored.labels["caller"] == "Caller 9"


def test_a_file_of_bad_rows_is_refused(cli, tmp_path):
    rows = b"INC0000001,New,not a date,0\n" * (MAX_BAD_ROWS + 1)
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(HEADER + rows))
    done = cli("import", "servicenow", str(path), "--quiet", check=False)
    assert done.returncode == 2 and f"more than {MAX_BAD_ROWS:,} bad rows" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert _count(Incident) == 0
