"""``problemflow import``: bring incidents in from other tools' exports."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from problemflow.cli.output import err_console
from problemflow.models.db import session_scope
from problemflow.tasks.common.neutralise import terminal
from problemflow.tasks.servicenow import ImportSummary, RowError, import_export

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
    size = path.stat().st_size
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or as_json,
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


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="import")
