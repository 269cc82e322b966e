"""``problemflow problem``: open, list and show problems."""

from __future__ import annotations

from typing import Optional

import typer

from problemflow.cli.output import print_json, say, print_record, print_table, to_jsonable
from problemflow.cli.params import actor_option
from problemflow.models.db import session_scope
from problemflow.models.enums import Level, ProblemScale, ProblemState
from problemflow.models.incident import NUMBER_PREFIX as INC
from problemflow.models.numbers import format_number
from problemflow.models.problem import ProblemCreate, ProblemIncidentRead, ProblemRead
from problemflow.models.services import problems

app = typer.Typer(help="Problems.", no_args_is_help=True)


@app.command("open")
def open_problem(
    statement: Optional[str] = typer.Option(None, help="What keeps happening (required unless --group)"),
    group: Optional[str] = typer.Option(
        None, "--group", help="Open the problem of this recurrence group on purpose (see problemflow scan --pending)"
    ),
    description: str = typer.Option(""),
    incident: Optional[list[str]] = typer.Option(None, "--incident", help="Linked incident (repeat)"),
    impact: Level = typer.Option(Level.medium),
    urgency: Level = typer.Option(Level.medium),
    scale: ProblemScale = typer.Option(ProblemScale.standard),
    owner: Optional[str] = typer.Option(None, help="Problem manager"),
    actor: str = actor_option("opens"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Open a problem, optionally linking incidents; or the problem of a recurrence group."""
    from problemflow.models.incident import NUMBER_PREFIX
    from problemflow.models.numbers import parse_number

    if group is not None:
        return _open_group(group, as_json)
    if not statement:
        raise typer.BadParameter("give --statement, or --group to open a recurrence group's problem")

    incident_ids = [parse_number(NUMBER_PREFIX, i) for i in (incident or [])]
    problem_in = ProblemCreate(
        statement=statement,
        description=description,
        impact=impact,
        urgency=urgency,
        scale=scale,
        owner=owner,
        incident_ids=incident_ids,
    )
    with session_scope() as db_session:
        read = ProblemRead.model_validate(
            problems.create(db_session=db_session, problem_in=problem_in, actor=actor)
        )
    if as_json:
        print_json(read.model_dump(mode="json"))
    else:
        say(f"opened {read.number} priority {read.priority.value}")


def _open_group(group_key: str, as_json: bool) -> None:
    from problemflow.tasks.recurrence.problems import open_group
    from problemflow.tasks.recurrence.run import announce

    with session_scope() as db_session:
        problem, created = open_group(db_session, group_key)
        read = ProblemRead.model_validate(problem)
    announced = announce([read.id]) if created else 0
    if as_json:
        print_json({**read.model_dump(mode="json"), "opened": created, "announced": bool(announced)})
    elif created:
        say(f"opened {read.number} priority {read.priority.value} for group {group_key}"
                   + ("" if announced else " (no Prefect API configured: problem management was not started)"))
    else:
        say(f"group {group_key} already has {read.number} ({read.state.value})")


@app.command("list")
def list_problems(
    limit: int = typer.Option(50, min=1, max=10_000),
    state: Optional[list[ProblemState]] = typer.Option(None, help="Only these states"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array"),
) -> None:
    """List problems, newest first."""
    with session_scope() as db_session:
        rows = [
            ProblemRead.model_validate(p)
            for p in problems.list(db_session=db_session, limit=limit, states=state)
        ]
    if as_json:
        print_json(to_jsonable(rows))
        return
    print_table(
        "Problems",
        ["number", "priority", "state", "statement", "owner", "opened"],
        (
            [r.number, r.priority.value, r.state.value, r.statement, r.owner,
             r.opened_at.strftime("%Y-%m-%d %H:%M")]
            for r in rows
        ),
    )


@app.command("show")
def show_problem(
    problem_id: str = typer.Argument(..., help="PRB number or id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Show one problem and its linked incidents."""
    with session_scope() as db_session:
        problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
        read = ProblemRead.model_validate(problem)
        links = [ProblemIncidentRead.model_validate(l) for l in problem.incident_links]
    if as_json:
        print_json({**read.model_dump(mode="json"), "incidents": to_jsonable(links)})
        return
    print_record(read.number, read, skip=("number",))
    print_table(
        "Linked incidents",
        ["incident", "score", "reason", "by"],
        ([format_number(INC, l.incident_id), f"{l.score:.2f}", l.reason, l.linked_by] for l in links),
    )


@app.command("run")
def run_problem(
    problem_id: str = typer.Argument(..., help="PRB number or id"),
) -> None:
    """Work a problem through the problem-management flow (a run of the deployment
    when a Prefect server serves it, otherwise in this process)."""
    from problemflow.cli.launch import start_problem_run

    with session_scope() as db_session:
        problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
        key, number = problem.id, problem.number
    say(start_problem_run(key, number, echo=say))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="problem")
