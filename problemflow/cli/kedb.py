"""``problemflow kedb``: the known error database."""

from __future__ import annotations

from typing import Optional

import typer

from problemflow.cli.output import print_json, print_record, print_table, to_jsonable
from problemflow.models.db import session_scope
from problemflow.models.enums import KnownErrorState
from problemflow.models.kedb import KnownErrorRead
from problemflow.models.services import kedb

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
    """Find the known errors that fit what is happening, best first."""
    from problemflow.tasks.kedb.match import search

    labels = parse_labels(label)
    with session_scope() as db_session:
        matches = search(db_session=db_session, text=text, labels=labels, service=service,
                         category=category, subcategory=subcategory, symptom=symptom,
                         fingerprint=fingerprint, top=top)
    if as_json:
        print_json(to_jsonable(matches))
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


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kedb")
