"""Every command answers hostile arguments and files with one line and an exit code,
never a traceback; a file that cannot be read imports nothing."""

from __future__ import annotations

import gzip
import inspect
import json
import re
import sys
import types
import typing
from datetime import datetime
from enum import Enum
from pathlib import Path

import pytest

ESC = "\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07"


def _one_line(done, args) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, (args, done.stderr[-2000:])
    assert done.returncode in (1, 2), (args, done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (args, done.stderr)
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
    # (a runaway line is one bad row: tests/tasks/test_servicenow_limits.py)
    header = b"number,incident_state,opened_at,sys_updated_at,sys_mod_count,priority\n"
    row = b"INC0000001,New,1/3/2016 09:00,1/3/2016 09:00,0,3 - Moderate\n"
    whole = gzip.compress(header + row * 2000)
    files = {
        "truncated.csv.gz": whole[: len(whole) // 2],
        "corrupt.csv.gz": b"\x1f\x8b" + b"not gzip at all" * 10,
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
    assert precious.read_text().startswith("incident,external_ref,group,template,reason,score")
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


# ---- every registered command, walked --------------------------------------------------
# Each command of the Typer app (sub-apps included, so commands added later are walked too)
# is run in this process through ``problemflow.cli.main`` with one hostile value at a time.
# Commands that serve (intake, up, demo) or talk to Prefect get only values that must be
# refused before they start anything.

MARKUP = "[link=http://evil.example]x[/link] [x] [bold red]"
HOSTILE_TEXT = (f"INC{ESC}{MARKUP}", "a\x00b", "\u202e" + "x" * 100_000, "9" * 30, "-1", "../../../../x")
HOSTILE_NUMBERS = ("9" * 30, "-" + "9" * 30, "nan", "1e999")
FAR_DATES = ("0001-01-01", "9999-12-31", "99999-01-01", "2026-02-30")
# The import commands draw their progress bar once more when stderr is not a terminal: that
# line is progress, not a second line of the error (problemflow/cli/imports.py may yet leave
# it out when stderr is not a terminal).
PROGRESS = re.compile(r"^(reading|writing)\b.* \d+:\d\d:\d\d$")
PREFECT_BOUND = {"intake", "up", "demo", "deploy", "approve", "approvals", "problem run"}


def _commands(command=None, path=()):
    import typer

    from problemflow.cli import app

    command = command or typer.main.get_command(app)
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            yield from _commands(command.get_command(None, name), (*path, name))
    else:
        yield path, command


def _annotation(command, param):
    hints = typing.get_type_hints(inspect.unwrap(command.callback))
    hint = hints.get(param.name, str)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    if typing.get_origin(hint) is list:
        hint = typing.get_args(hint)[0]
    return hint


def _hostile_files(folder: Path) -> tuple[str, ...]:
    """Paths a person could give by mistake or on purpose: missing, corrupt, full of NUL and
    escapes, someone else's file, a directory, a way up. All inside ``folder`` (the walk runs
    as whatever user runs the tests, root included); the missing one is new for each call,
    since a command that writes creates it."""
    folder.mkdir(parents=True, exist_ok=True)
    corrupt = folder / "corrupt.csv.gz"
    corrupt.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    nul = folder / "nul.toml"
    nul.write_bytes(b"[rule]\x00\x00=\x1b[2J\n" * 10)
    theirs = folder / "theirs.html"
    theirs.write_text("someone else's page\n")
    missing = folder / f"missing-{len(list(folder.glob('missing-*')))}" / "file.csv"
    missing.parent.mkdir()
    return (str(missing), str(corrupt), str(nul), str(theirs), str(folder), "../../../x")


def _values(hint, files) -> tuple[str, ...]:
    if hint is bool:
        return ()
    if hint in (int, float):
        return HOSTILE_NUMBERS
    if hint is datetime:
        return FAR_DATES
    if hint is Path:
        return files
    if isinstance(hint, type) and issubclass(hint, Enum):
        return (f"x{ESC}", "a\x00b")
    return HOSTILE_TEXT


def _cases(folder: Path):
    for path, command in _commands():
        files = _hostile_files(folder)
        name = " ".join(path)
        yield name, [*path, f"--no-such-option{ESC}"]
        filler = []
        for param in command.params:
            if param.required:
                value = "t" if _annotation(command, param) is not Path else files[0]
                filler.append((param, value))
        for param in command.params:
            hint = _annotation(command, param)
            values = _values(hint, files)
            if name in PREFECT_BOUND:
                values = [v for v in values if hint in (int, float) and v != "nan"]
            for value in values:
                args = list(path)
                for other, fill in filler:
                    if other is not param:
                        args += [fill] if other.param_type_name == "argument" else [other.opts[0], fill]
                args += [value] if param.param_type_name == "argument" else [param.opts[0], value]
                yield name, args


def test_every_command_answers_hostile_arguments_in_one_line(clean_db, tmp_path, monkeypatch, capsys):
    from problemflow.cli import main

    monkeypatch.delenv("PROBLEMFLOW_DEBUG", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    deep = tmp_path / "a" / "b" / "c" / "d"  # ../../../x stays inside the test's directory
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    failures, walked = [], set()
    for name, args in _cases(tmp_path / "files"):
        walked.add(name)
        monkeypatch.setattr(sys, "argv", ["problemflow", *args])
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.strip() and not PROGRESS.match(line.strip())]
        wrong = []
        if code not in (0, 1, 2):
            wrong.append(f"exit {code!r}")
        if code and len(lines) != 1:
            wrong.append(f"{len(lines)} lines on stderr")
        if "Traceback" in out + err:
            wrong.append("a traceback")
        if any(c in out + err for c in ("\x1b", "\x07", "\x00", "\u202e")):
            wrong.append("a raw control character")
        if "shows where" in err and "ConnectError" not in err:
            wrong.append("an unexpected error")
        if wrong:
            failures.append(f"{args!r:.200}: {', '.join(wrong)}: {err[-300:]!r}")
    assert {"incident show", "import servicenow", "report kpi", "scan"} <= walked
    assert not failures, "\n".join(failures)
