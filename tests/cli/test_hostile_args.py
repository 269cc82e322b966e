"""Every command answers hostile arguments and files with one line and an exit code,
never a traceback; a file that cannot be read imports nothing."""

from __future__ import annotations

import gzip
import json

import pytest

ESC = "\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07"


def _one_line(done, args) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, (args, done.stderr[-2000:])
    assert done.returncode in (1, 2), (args, done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or "Usage:" in done.stderr, (args, done.stderr)
    assert "\x1b" not in done.stderr, (args, done.stderr)


@pytest.mark.parametrize("args", [
    ("incident", "show", "99999999999999999999999"),
    ("incident", "show", f"INC{ESC}"),
    ("problem", "show", "PRB-1"),
    ("problem", "run", "99999999999999999999999999"),
    ("kedb", "show", f"KE{ESC}"),
    ("report", "kpi", "--from", "0001-01-01", "--to", "9999-12-31"),
    ("report", "kpi", "--from", "2026-11-27", "--to", "2026-11-01"),
    ("problem", "open", "--group", f"rec-{ESC}"),
    ("people", "show", f"mia{ESC}"),
    ("import", "servicenow", "/nonexistent/export.csv"),
])
def test_hostile_arguments_get_one_line(cli, args):
    _one_line(cli(*args, check=False), args)


def test_files_that_cannot_be_read_import_nothing(cli, tmp_path):
    from problemflow.tasks.servicenow.parse import MAX_LINE_CHARS

    header = b"number,incident_state,opened_at,sys_updated_at,sys_mod_count,priority\n"
    row = b"INC0000001,New,1/3/2016 09:00,1/3/2016 09:00,0,3 - Moderate\n"
    whole = gzip.compress(header + row * 2000)
    files = {
        "truncated.csv.gz": whole[: len(whole) // 2],
        "corrupt.csv.gz": b"\x1f\x8b" + b"not gzip at all" * 10,
        "runaway.csv.gz": gzip.compress(header + b"x" * (MAX_LINE_CHARS + 10)),
        "latin1.csv": header + "INC0000002,Nouveau,é".encode("latin-1") + b"\n",
    }
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        done = cli("import", "servicenow", str(path), "--quiet", check=False)
        _one_line(done, name)
        assert done.returncode == 2 and name in done.stderr and "nothing was imported" in done.stderr, done.stderr
    assert json.loads(cli("incident", "list", "--json").stdout) == []


def test_out_never_overwrites_a_file_problemflow_did_not_write(cli, tmp_path):
    precious = tmp_path / "notes.csv"
    precious.write_text("my own notes\n")
    refused = cli("scan", "--full", "--out", str(precious), check=False)
    _one_line(refused, "scan --out")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert precious.read_text() == "my own notes\n"
    cli("scan", "--full", "--out", str(precious), "--force")
    assert precious.read_text().startswith("incident,group,reason,score")
    cli("scan", "--full", "--out", str(precious))  # ours now: a rerun overwrites it

    from datetime import date, timedelta

    day = str(date.today() - timedelta(days=1))
    reports = tmp_path / "reports"
    cli("report", "kpi", "--from", day, "--to", day, "--out", str(reports))
    [csv_file] = reports.glob("*.csv")
    cli("report", "kpi", "--from", day, "--to", day, "--out", str(reports))  # its own files: rewritten
    csv_file.write_text("someone else's spreadsheet\n")
    again = cli("report", "kpi", "--from", day, "--to", day, "--out", str(reports), check=False)
    assert again.returncode == 2 and csv_file.name in again.stderr
    assert csv_file.read_text() == "someone else's spreadsheet\n"
