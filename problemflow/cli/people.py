"""``problemflow people``: who may answer gates, and their one-time-code enrolment."""

from __future__ import annotations

import io
from typing import Optional

import typer

from problemflow.cli.output import print_json, say, print_record, print_table, to_jsonable
from problemflow.models.db import session_scope
from problemflow.models.enums import Role
from problemflow.models.person import PersonCreate, PersonRead
from problemflow.models.services import people
from problemflow.models.settings import get_settings

app = typer.Typer(help="People who answer gates, their roles and their one-time codes.", no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="User name, as typed after --as and in the Resume dialog"),
    role: Optional[list[Role]] = typer.Option(None, "--role", help="A role they hold (repeat)"),
    display_name: str = typer.Option("", help="Full name"),
    notify: Optional[list[str]] = typer.Option(None, "--notify", help="Their own Apprise URL (repeat)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Add a person; then `problemflow people enroll NAME` gives them their codes."""
    person_in = PersonCreate(name=name, display_name=display_name, roles=role or [], notify_urls=notify or [])
    with session_scope() as db_session:
        read = PersonRead.model_validate(people.create(db_session=db_session, person_in=person_in))
    if as_json:
        print_json(read.model_dump(mode="json"))
    else:
        say(f"added {read.name} ({', '.join(read.roles) or 'no role'}); next: problemflow people enroll {read.name}")


@app.command("list")
def list_people(
    role: Optional[Role] = typer.Option(None, help="Only people holding this role"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array"),
) -> None:
    """List people (with PROBLEMFLOW_ROLES seeded in)."""
    with session_scope() as db_session:
        people.seed(db_session=db_session, roles=get_settings().roles)
        rows = [PersonRead.model_validate(p) for p in people.list(db_session=db_session, role=role and role.value)]
    if as_json:
        print_json(to_jsonable(rows))
        return
    print_table("People", ["name", "display name", "roles", "enrolled", "enabled"],
                ([r.name, r.display_name, ", ".join(r.roles), "yes" if r.enrolled else "no",
                  "yes" if r.enabled else "no"] for r in rows))


@app.command("show")
def show(name: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Show one person (never their secret)."""
    with session_scope() as db_session:
        people.seed(db_session=db_session, roles=get_settings().roles)
        read = PersonRead.model_validate(people.get_or_raise(db_session=db_session, name=name))
    if as_json:
        print_json(read.model_dump(mode="json"))
    else:
        print_record(read.name, read, skip=("name",))


def _set_enabled(name: str, enabled: bool) -> None:
    with session_scope() as db_session:
        person = people.get_or_raise(db_session=db_session, name=name)
        people.set_enabled(db_session=db_session, person=person, enabled=enabled)
    say(f"{name} {'enabled' if enabled else 'disabled: every answer in their name is refused'}")


@app.command("disable")
def disable(name: str = typer.Argument(...)) -> None:
    """Refuse every answer in this person's name from now on."""
    _set_enabled(name, False)


@app.command("enable")
def enable(name: str = typer.Argument(...)) -> None:
    """Accept this person's answers again."""
    _set_enabled(name, True)


@app.command("enroll")
def enroll(
    name: str = typer.Argument(...),
    qr: bool = typer.Option(True, "--qr/--no-qr", help="Also draw the QR code in the terminal"),
) -> None:
    """Give the person a new secret for an authenticator app (any earlier one stops working).
    Show the QR code or URI to that person only: whoever holds it can answer in their name."""
    import segno

    with session_scope() as db_session:
        people.seed(db_session=db_session, roles=get_settings().roles)
        person = people.get_or_raise(db_session=db_session, name=name)
        uri = people.enroll(db_session=db_session, person=person)
    if qr:
        drawn = io.StringIO()
        segno.make(uri, error="m").terminal(out=drawn, compact=True)
        typer.echo(drawn.getvalue())
    say(uri)
    say(f"{name}: scan this with an authenticator app; answer gates with --as {name} --code <6 digits>")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="people")
