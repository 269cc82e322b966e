"""``problemflow import``: bring incidents in from other tools' exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from problemflow.cli.output import err_console
from problemflow.cli.summaries import fail, report
from problemflow.models.db import session_scope
from problemflow.tasks.common.neutralise import terminal
from problemflow.tasks.imports import incidents as generic
from problemflow.tasks.imports.mapping import FIELDS, MappingError, parse_maps
from problemflow.tasks.imports.reading import MAX_RECORD_CHARS, Format, UnreadableFile
from problemflow.tasks.imports.summary import BadRows
from problemflow.tasks.imports.values import SEVERITY_HELP, BadValue, zone

if TYPE_CHECKING:
    from problemflow.tasks.servicenow import ImportSummary

app = typer.Typer(help="Import incidents from other tools.", no_args_is_help=True)

SHOWN_SKIPS = 20


@app.command("servicenow")
def servicenow(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or CSV.gz export"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar"),
) -> None:
    """Import a ServiceNow incident export (event logs collapse to one incident each).

    Safe to run again: incidents are keyed on their ServiceNow number.
    """
    # Prefect comes with the ServiceNow task: loaded for this command only, not for every command
    from problemflow.tasks.servicenow import RowError, import_export

    size = path.stat().st_size
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or as_json or not err_console.is_terminal,
        transient=False,
    ) as progress:
        reading = progress.add_task("reading bytes", total=size)
        writing = progress.add_task("writing incidents", total=None, visible=False)

        def on_read(position: int) -> None:
            progress.update(reading, completed=position)

        def on_write(count: int) -> None:
            progress.update(writing, visible=True, advance=count)

        try:
            with session_scope() as db_session:
                summary = import_export(db_session=db_session, path=path, on_read=on_read, on_write=on_write)
        except RowError as error:  # the file itself cannot be read: nothing was imported
            err_console.print(f"error: {terminal(error)}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    _report(summary, as_json)
    if summary.nothing_read:
        raise typer.Exit(1)


def _report(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        data = {k: v for k, v in summary.__dict__.items() if k != "skipped"}
        data["skipped"] = [{"line": line, "reason": reason} for line, reason in summary.skipped]
        print(json.dumps(data, indent=2))
        return
    # plain print: one line a script can read, never wrapped
    print(
        f"{summary.path}: {summary.events_read} events read -> {summary.incidents} incidents: "
        f"{summary.created} created, {summary.unchanged} unchanged, {summary.updated} updated; "
        f"{summary.history_events} history events recorded; {len(summary.skipped)} rows skipped"
    )
    for line, reason in summary.skipped[:SHOWN_SKIPS]:
        err_console.print(f"  skipped line {line}: {terminal(reason)}", markup=False, highlight=False, soft_wrap=True)
    if len(summary.skipped) > SHOWN_SKIPS:
        err_console.print(
            f"  ... and {len(summary.skipped) - SHOWN_SKIPS} more (use --json for all)",
            markup=False,
            highlight=False,
        )
    if summary.nothing_read:
        err_console.print("error: no row of the file could be read", markup=False, highlight=False)


HISTORY_STATES = {s.value: s for s in generic.HISTORY_STATES}
INCIDENTS_HELP = "\n\n".join([
    "Import incident history from any tool's export; safe to run again.",
    "Severity words, any case, set impact and urgency in four tiers (impact and urgency columns win): "
    f"{SEVERITY_HELP}.",
    f"A record (a CSV row, however many lines it spans, or a JSON line) over {MAX_RECORD_CHARS:,} characters "
    "(1 MiB) is a bad row. One bad row and nothing is imported, unless --skip-bad.",
    "Without an external_ref column each row is keyed on a hash of its content, so a second import of the "
    "same rows adds nothing. Incidents are stored closed (or --state resolved), resolved when they opened "
    "unless a resolved_at or closed_at column says otherwise.",
])


@app.command("incidents", help=INCIDENTS_HELP)
def incidents(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CSV or JSON Lines (.csv, .jsonl, .ndjson; .gz too)"),
    maps: Optional[list[str]] = typer.Option(
        None, "--map", metavar="FIELD=COLUMN",
        help=f"Which column fills a field (repeatable): {', '.join(FIELDS)}, labels (a JSON object) or "
             "labels.NAME. COLUMN+COLUMN joins columns with a space (--map opened_at=Date+Time). "
             "Unmapped fields read a column of their own name."),
    file_format: Optional[Format] = typer.Option(None, "--format", help="csv or jsonl (default: from the name)"),
    time_format: Optional[str] = typer.Option(
        None, "--time-format", help="strptime format of the times (e.g. '%y%m%d %H%M%S'), or epoch / epoch-ms; "
                                    "default ISO 8601"),
    timezone_name: Optional[str] = typer.Option(None, "--timezone", help="IANA zone of times without one (default UTC)"),
    now: bool = typer.Option(False, "--now", help="Rows without an opened_at time get the import's time"),
    state: str = typer.Option("closed", "--state", help="State of imported incidents: closed or resolved"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Import the good rows even when some are bad"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the file"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar"),
) -> None:
    if state not in HISTORY_STATES:
        fail(f"--state {state!r}: imported history is closed or resolved")
    try:
        options = generic.ImportOptions(
            maps=parse_maps(maps or []), format=file_format, encoding=encoding, time_format=time_format,
            zone=zone(timezone_name), stamp_now=now, state=HISTORY_STATES[state], skip_bad=skip_bad,
        )
    except (MappingError, BadValue) as error:
        fail(error)
    with _progress(quiet or as_json) as progress:
        reading = progress.add_task("reading", total=path.stat().st_size)
        written = 0

        def on_read(position: int, size: int) -> None:
            progress.update(reading, completed=position, total=size)

        def on_write(count: int) -> None:
            nonlocal written
            written += count
            progress.update(reading, description=f"reading, {written:,} new incidents")

        try:
            with session_scope() as db_session:
                summary = generic.import_incidents(db_session=db_session, path=path, options=options,
                                                   on_read=on_read, on_write=on_write)
        except BadRows as refused:
            summary = refused.summary
        except (UnreadableFile, MappingError) as error:
            fail(error)
    report(summary, as_json, "incidents")


def _progress(disable: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                    # a bar drawn into a file or a pipe is only noise after the answer
                    console=err_console, disable=disable or not err_console.is_terminal, transient=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="import")
