"""``problemflow incident``: open, list and show incidents."""

from __future__ import annotations

from typing import Optional

import typer

from models.db import session_scope
from models.enums import IncidentSource, IncidentState, Level
from models.incident import IncidentCreate, IncidentRead
from models.services import incidents
from problemflow.cli.output import print_json, print_record, print_table, to_jsonable

app = typer.Typer(help="Incidents.", no_args_is_help=True)


@app.command("open")
def open_incident(
    title: str = typer.Option(..., help="One line: what is broken"),
    description: str = typer.Option("", help="What people see"),
    impact: Level = typer.Option(Level.medium, help="How much of the business is hit"),
    urgency: Level = typer.Option(Level.medium, help="How fast it must be fixed"),
    service: Optional[str] = typer.Option(None, help="Affected service"),
    ci: Optional[str] = typer.Option(None, "--ci", help="Configuration item"),
    category: Optional[str] = typer.Option(None),
    subcategory: Optional[str] = typer.Option(None),
    owner: Optional[str] = typer.Option(None, help="Incident manager"),
    group: Optional[str] = typer.Option(None, "--group", help="Assignment group"),
    actor: str = typer.Option("cli", help="Who opens it (for the audit trail)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Open an incident from the service desk."""
    incident_in = IncidentCreate(
        title=title,
        description=description,
        impact=impact,
        urgency=urgency,
        service=service,
        configuration_item=ci,
        category=category,
        subcategory=subcategory,
        owner=owner,
        assignment_group=group,
        source=IncidentSource.service_desk,
    )
    with session_scope() as db_session:
        incident = incidents.create(db_session=db_session, incident_in=incident_in, actor=actor)
        read = IncidentRead.model_validate(incident)
    if as_json:
        print_json(read.model_dump(mode="json"))
    else:
        typer.echo(f"opened {read.number} priority {read.priority.value}")


@app.command("list")
def list_incidents(
    limit: int = typer.Option(50, min=1, max=10_000, help="At most this many, newest first"),
    state: Optional[list[IncidentState]] = typer.Option(None, help="Only these states"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array"),
) -> None:
    """List incidents, newest first."""
    with session_scope() as db_session:
        rows = [
            IncidentRead.model_validate(i)
            for i in incidents.list(db_session=db_session, limit=limit, states=state)
        ]
    if as_json:
        print_json(to_jsonable(rows))
        return
    print_table(
        "Incidents",
        ["number", "priority", "state", "title", "service", "opened", "count"],
        (
            [r.number, r.priority.value, r.state.value, r.title, r.service,
             r.opened_at.strftime("%Y-%m-%d %H:%M"), r.occurrence_count]
            for r in rows
        ),
    )


@app.command("show")
def show_incident(
    incident_id: str = typer.Argument(..., help="INC number or id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Show one incident."""
    with session_scope() as db_session:
        read = IncidentRead.model_validate(
            incidents.get_or_raise(db_session=db_session, incident_id=incident_id)
        )
    if as_json:
        print_json(read.model_dump(mode="json"))
    else:
        print_record(read.number, read, skip=("number",))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="incident")
