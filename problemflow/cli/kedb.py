"""``problemflow kedb``: the known error database."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from problemflow.cli.output import print_json, print_record, print_table, to_jsonable
from problemflow.cli.summaries import fail, report
from problemflow.models.db import session_scope
from problemflow.models.enums import KnownErrorState
from problemflow.models.kedb import KnownErrorRead
from problemflow.models.services import kedb
from problemflow.tasks.common.neutralise import terminal
from problemflow.tasks.imports.known_errors import COLUMNS, import_known_errors
from problemflow.tasks.imports.reading import MAX_RECORD_CHARS, Format, UnreadableFile
from problemflow.tasks.imports.summary import BadRows
from problemflow.tasks.kedb import publish

app = typer.Typer(help="Known error database.", no_args_is_help=True)


@app.command("list")
def list_known_errors(
    limit: int = typer.Option(50, min=1, max=10_000),
    state: Optional[list[KnownErrorState]] = typer.Option(None, help="Only these states"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array"),
) -> None:
    """List known errors, newest first."""
    with session_scope() as db_session:
        rows = [
            KnownErrorRead.model_validate(k)
            for k in kedb.list(db_session=db_session, limit=limit, states=state)
        ]
    if as_json:
        print_json(to_jsonable(rows))
        return
    print_table(
        "Known errors",
        ["number", "state", "title", "problem", "hits"],
        ([r.number, r.state.value, r.title, r.problem_id, r.hit_count] for r in rows),
    )


@app.command("show")
def show_known_error(
    known_error_id: str = typer.Argument(..., help="KE number or id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Show one known error."""
    with session_scope() as db_session:
        read = KnownErrorRead.model_validate(
            kedb.get_or_raise(db_session=db_session, known_error_id=known_error_id)
        )
    if as_json:
        print_json(read.model_dump(mode="json"))
    else:
        print_record(read.number, read, skip=("number",))


def parse_labels(pairs: Optional[list[str]]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a pair without ``=`` is an error."""
    labels: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--label")
        labels[key.strip()] = value.strip()
    return labels


@app.command("search")
def search_known_errors(
    text: str = typer.Argument("", help="What is happening, in words"),
    label: Optional[list[str]] = typer.Option(None, "--label", help="key=value (repeatable)"),
    service: Optional[str] = typer.Option(None, help="Affected service"),
    category: Optional[str] = typer.Option(None),
    subcategory: Optional[str] = typer.Option(None),
    symptom: Optional[str] = typer.Option(None),
    fingerprint: Optional[str] = typer.Option(None, help="Alert fingerprint"),
    top: int = typer.Option(5, min=1, max=100, help="At most this many matches"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array"),
) -> None:
    """Find the known errors that fit what is happening, best first. With --json each match
    says whether the incident response step would attach it (attach: score >= the
    kedb_attach_score setting)."""
    from problemflow.tasks.incident.respond import attaches  # Prefect and numpy: loaded only to search
    from problemflow.tasks.kedb.match import search

    labels = parse_labels(label)
    with session_scope() as db_session:
        matches = search(db_session=db_session, text=text, labels=labels, service=service,
                         category=category, subcategory=subcategory, symptom=symptom,
                         fingerprint=fingerprint, top=top)
    if as_json:
        print_json([{**m.model_dump(mode="json"), "attach": attaches(m)} for m in matches])
        return
    if not matches:
        typer.echo("no known error matches")
        return
    print_table(
        "Known errors that match",
        ["number", "score", "title", "matched signals"],
        ([m.number + (" (fixed)" if m.fixed else ""), f"{m.score:.2f}", m.title, m.signals_text]
         for m in matches),
    )


@app.command("add")
def add_known_error(
    title: str = typer.Option(..., help="One line that names the error"),
    symptoms: str = typer.Option("", help="What people see"),
    root_cause: str = typer.Option("", help="Why it happens (this or --workaround is needed)"),
    workaround: str = typer.Option("", help="What restores service meanwhile"),
    service: Optional[str] = typer.Option(None, help="The affected service"),
    category: Optional[str] = typer.Option(None),
    subcategory: Optional[str] = typer.Option(None),
    symptom: Optional[str] = typer.Option(None, help="The symptom code incidents carry"),
    keyword: Optional[list[str]] = typer.Option(None, "--keyword", help="A word or phrase that recognises it (repeatable)"),
    label: Optional[list[str]] = typer.Option(None, "--label", help="NAME=VALUE it carries (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="Print the known error as JSON, with created true/false"),
) -> None:
    """Add one published known error; one with the same title and service already there is kept."""
    try:
        known_error_in = publish.known_error_in(
            title=title, symptoms=symptoms, root_cause=root_cause, workaround=workaround, service=service,
            category=category, subcategory=subcategory, symptom=symptom, keywords=keyword or [],
            labels=parse_labels(label),
        )
    except publish.NothingKnown as error:
        fail(f"{error} (give --root-cause or --workaround)")
    with session_scope() as db_session:
        known_error, created = publish.add(db_session=db_session, known_error_in=known_error_in)
        read = KnownErrorRead.model_validate(known_error)
    if as_json:
        print_json({**read.model_dump(mode="json"), "created": created})
    elif created:
        print(f"{read.number} published: {terminal(read.title)}")
    else:
        print(f"{read.number} already exists ({read.state.value}): {terminal(read.title)}; nothing added")


IMPORT_HELP = "\n\n".join([
    "Import known errors from a CSV or JSON Lines file (.gz too), each published; safe to run again.",
    f"Columns: {', '.join(COLUMNS)}. keywords and fingerprints are comma or semicolon separated in CSV, "
    "lists in JSON Lines; labels is a JSON object. title and one of root_cause or workaround are needed.",
    "A known error with the same title and service is kept as it is, so a second import creates nothing. "
    f"A record over {MAX_RECORD_CHARS:,} characters (1 MiB) is a bad row; one bad row and nothing is "
    "imported, unless --skip-bad.",
])


@app.command("import", help=IMPORT_HELP)
def import_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or JSON Lines file"),
    file_format: Optional[Format] = typer.Option(None, "--format", help="csv or jsonl (default: from the name)"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Import the good rows even when some are bad"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the file"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
) -> None:
    try:
        with session_scope() as db_session:
            summary = import_known_errors(db_session=db_session, path=path, file_format=file_format,
                                          encoding=encoding, skip_bad=skip_bad)
    except BadRows as refused:
        summary = refused.summary
    except UnreadableFile as error:
        fail(error)
    report(summary, as_json, "known errors")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kedb")
