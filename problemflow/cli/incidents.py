"""``problemflow incident``: open, list and show incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from problemflow.cli.output import print_json, say, print_record, print_table, to_jsonable
from problemflow.cli.params import actor_option
from problemflow.models.db import session_scope
from problemflow.models.enums import IncidentSource, IncidentState, Level
from problemflow.models.incident import IncidentCreate, IncidentRead
from problemflow.models.services import incidents

app = typer.Typer(help="Incidents.", no_args_is_help=True)


@app.command("open")
def open_incident(
    title: str = typer.Option(..., help="One line: what is broken"),
    description: str = typer.Option("", help="What people see"),
    impact: Optional[Level] = typer.Option(None, help="How much of the business is hit (default: from rules)"),
    urgency: Optional[Level] = typer.Option(None, help="How fast it must be fixed (default: from rules)"),
    label: Optional[list[str]] = typer.Option(None, "--label", help="key=value, e.g. severity=critical"),
    service: Optional[str] = typer.Option(None, help="Affected service"),
    ci: Optional[str] = typer.Option(None, "--ci", help="Configuration item"),
    category: Optional[str] = typer.Option(None),
    subcategory: Optional[str] = typer.Option(None),
    owner: Optional[str] = typer.Option(None, help="Incident manager"),
    group: Optional[str] = typer.Option(None, "--group", help="Assignment group"),
    actor: str = actor_option("opens"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Open an incident from the service desk: identify, categorize, prioritize, store, respond."""
    from problemflow.cli.kedb import parse_labels
    from problemflow.tasks.incident import respond, triage

    levels = {k: v for k, v in (("impact", impact), ("urgency", urgency)) if v is not None}
    incident_in = IncidentCreate(
        title=title,
        description=description,
        **levels,
        labels=parse_labels(label),
        service=service,
        configuration_item=ci,
        category=category,
        subcategory=subcategory,
        owner=owner,
        assignment_group=group,
        source=IncidentSource.service_desk,
    )
    incident_in = triage(incident_in)
    with session_scope() as db_session:
        incident = incidents.create(db_session=db_session, incident_in=incident_in, actor=actor)
        incident_id = incident.id
    # stored first: a failing response leaves the incident in place to respond to later
    with session_scope() as db_session:
        outcome = respond(db_session=db_session, incident_id=incident_id)
    with session_scope() as db_session:
        read = IncidentRead.model_validate(incidents.get_or_raise(db_session=db_session, incident_id=incident_id))
    if as_json:
        print_json({**read.model_dump(mode="json"), "response": outcome.model_dump(mode="json")})
        return
    say(f"opened {read.number} priority {read.priority.value}"
               f" category {read.category or '-'}/{read.subcategory or '-'}"
               f" group {read.assignment_group or '-'}")
    if outcome.known_error is not None:
        say(f"known error {outcome.known_error.number} ({outcome.known_error.score:.2f}):"
                   f" {outcome.known_error.title}")
        if outcome.workaround:
            say(f"workaround: {outcome.workaround}")
    if outcome.escalated:
        if outcome.notify_error:
            say(f"escalated, but not delivered: {outcome.notify_error}")
        elif outcome.notified:
            say(f"escalated: {outcome.notified} channel(s) notified")
        else:
            say("escalated (no notification channel configured: set PROBLEMFLOW_NOTIFY_URLS)")


@app.command("triage")
def triage_incident(
    title: str = typer.Option(..., help="One line: what is broken"),
    description: str = typer.Option("", help="What people see"),
    label: Optional[list[str]] = typer.Option(None, "--label", help="key=value, e.g. alertname=InstanceDown"),
    service: Optional[str] = typer.Option(None, help="Affected service"),
    source: IncidentSource = typer.Option(IncidentSource.alertmanager, help="Where it would come from"),
    rules: Optional[Path] = typer.Option(None, help="Rules file to try (default: the one in force)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Show how the rules would triage an incident, and which rule decided each step (nothing is stored)."""
    from problemflow.cli.kedb import parse_labels
    from problemflow.tasks.incident.explain import explain
    from problemflow.tasks.incident.rules import Rules

    incident_in = IncidentCreate(title=title, description=description, labels=parse_labels(label),
                                 service=service, source=source)
    explained = explain(incident_in, Rules.from_file(rules) if rules else None)
    if as_json:
        print_json(explained.model_dump(mode="json"))
        return
    r = explained.result
    print_table(
        f"Triage by {explained.rules_file}",
        ["step", "result", "rule"],
        [
            ["identify", f"service {r.service or '-'}, ci {r.configuration_item or '-'}, "
                         f"owner {r.owner or '-'}, group {r.assignment_group or '-'}", explained.route or "-"],
            ["categorize", f"{r.category or '-'} / {r.subcategory or '-'} ({r.symptom or '-'})",
             explained.category_rule or "-"],
            ["prioritize", f"impact {r.impact.value}, urgency {r.urgency.value} -> {explained.priority}",
             explained.priority_rule or (f"severity {explained.severity}" if explained.severity else "-")],
        ],
    )


@app.command("close")
def close_incident(
    incident_id: str = typer.Argument(..., help="INC number or id"),
    code: str = typer.Option(..., help="Resolution code, e.g. workaround_applied, fix_applied"),
    notes: str = typer.Option("", help="What was done, kept with the incident"),
    actor: str = actor_option("closes"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Close an incident with its resolution (refused while it depends on open incidents)."""
    from problemflow.tasks.incident import close

    with session_scope() as db_session:
        outcome = close(db_session=db_session, incident_id=incident_id, code=code, notes=notes, actor=actor)
    if as_json:
        print_json(outcome.model_dump(mode="json"))
    else:
        say(f"closed {outcome.number} ({outcome.code})"
                   + (" - seen more than once: consider a problem record" if outcome.recurring else ""))


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
        count, first = incidents.message_history(db_session=db_session, template=read.template)
    if as_json:
        print_json({**read.model_dump(mode="json"), "message_count": count,
                    "message_first_seen": first.isoformat() if first else None})
    else:
        print_record(read.number, read, skip=("number",))
        if count > 1:
            print(f"this message recurred {count} times since {first:%Y-%m-%d %H:%M} UTC")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="incident")
