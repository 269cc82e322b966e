"""How the file imports (``import incidents``, ``kedb import``) report: one summary line on
stdout (or JSON), the first bad rows on stderr with their lines, outside text neutralised."""

from __future__ import annotations

import json
from typing import NoReturn

import typer

from problemflow.cli.output import err_console
from problemflow.tasks.common.neutralise import terminal
from problemflow.tasks.imports.summary import KEEP_BAD, ImportSummary

SHOWN_BAD = 20


def say(text: object) -> None:
    """One line on stderr, never wrapped, escape sequences shown as text."""
    err_console.print(terminal(text), markup=False, highlight=False, soft_wrap=True)


def fail(message: object, code: int = 2) -> NoReturn:
    say(f"error: {message}")
    raise typer.Exit(code)


def rows(count: int, kind: str = "") -> str:
    """``1 bad row``, ``2,000 rows``."""
    return f"{count:,} {kind}row" + ("" if count == 1 else "s")


def report(summary: ImportSummary, as_json: bool, what: str) -> None:
    """Print what the import did; exit 2 when bad rows kept it from importing anything."""
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2, ensure_ascii=True))
    else:
        print(f"{terminal(summary.path)}: {rows(summary.rows)} read: {summary.imported:,} {what} imported, "
              f"{summary.already_present:,} already present, {summary.bad:,} bad"
              + (f"; {summary.titles_shortened:,} titles cut to 500 characters" if summary.titles_shortened else ""))
        for line, reason in summary.bad_rows[:SHOWN_BAD]:
            say(f"  line {line}: {reason}")
        if summary.bad > SHOWN_BAD:
            say(f"  ... and {summary.bad - SHOWN_BAD:,} more bad rows (--json lists the first {KEEP_BAD:,})")
    if not summary.committed:
        say(f"error: {rows(summary.bad, 'bad ')}, so nothing was imported ({rows(summary.new)} would be new); "
            "fix them, or give --skip-bad to import the good ones")
        raise typer.Exit(2)
