"""Step 1, identify: open or load the problem and size it up."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from prefect import task
from pydantic import BaseModel
from sqlalchemy.orm import Session

from problemflow.models.enums import Level, Priority, ProblemScale, ProblemState
from problemflow.models.problem import ProblemCreate
from problemflow.models.services import audit, problems
from problemflow.models.states import priority_for
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step

_LEVEL_RANK = {Level.high: 3, Level.medium: 2, Level.low: 1}
_SCALE_RANK = {ProblemScale.quick_fix: 1, ProblemScale.standard: 2, ProblemScale.major: 3}
MAJOR_INCIDENTS = 10
MAJOR_SERVICES = 3


class ProblemScope(BaseModel):
    """How big the problem is: what the kickoff and the gates show."""

    problem_id: int
    number: str
    statement: str
    incident_count: int
    services: list[str]
    first_seen: Optional[datetime] = None
    last_seen: Optional[datetime] = None
    span_hours: float = 0.0
    highest_incident_priority: Optional[Priority] = None
    priority: Priority
    scale: ProblemScale


def open_problem(
    *, db_session: Session, problem_in: ProblemCreate, opened_key: str, actor: str = ACTOR
) -> int:
    """Open a problem from a statement and incident ids, once per ``opened_key``."""
    existing = problems.get_by_group_key(db_session=db_session, group_key=opened_key)
    if existing is not None:
        return existing.id
    data = problem_in.model_copy(update={"group_key": opened_key})
    return problems.create(db_session=db_session, problem_in=data, actor=actor).id


def classify(incident_count: int, services: int, highest: Priority | None, priority: Priority) -> ProblemScale:
    """Quick fix, standard or major, from how many incidents, services and how bad."""
    worst = min(p.rank for p in (highest, priority) if p is not None)
    if worst == 1 or incident_count >= MAJOR_INCIDENTS or services >= MAJOR_SERVICES:
        return ProblemScale.major
    if incident_count <= 2 and services <= 1 and worst >= 4:
        return ProblemScale.quick_fix
    return ProblemScale.standard


def identify(*, db_session: Session, problem_id: int, actor: str = ACTOR) -> ProblemScope:
    """Measure the problem's scale from its incidents; raise impact and urgency to
    the worst linked incident; move a new problem to assessed."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    incidents = problems.linked_incidents(db_session=db_session, problem=problem)
    services = sorted({i.service for i in incidents if i.service})
    opened = sorted(i.opened_at for i in incidents)
    highest = min((Priority(i.priority) for i in incidents), key=lambda p: p.rank, default=None)

    before = (problem.impact, problem.urgency, problem.scale)
    impact = max([Level(problem.impact), *(Level(i.impact) for i in incidents)], key=_LEVEL_RANK.get)
    urgency = max([Level(problem.urgency), *(Level(i.urgency) for i in incidents)], key=_LEVEL_RANK.get)
    problem.impact, problem.urgency = impact, urgency
    problem.priority = priority_for(impact, urgency)
    computed = classify(len(incidents), len(services), highest, Priority(problem.priority))
    problem.scale = max(ProblemScale(problem.scale), computed, key=_SCALE_RANK.get)
    if (problem.impact, problem.urgency, problem.scale) != before:
        audit.record(
            db_session=db_session,
            actor=actor,
            action="identify",
            record_type=problems.RECORD,
            record_id=problem.id,
            detail={"scale": str(problem.scale), "priority": str(problem.priority),
                    "incidents": len(incidents), "services": services},
        )
    if ProblemState(problem.state) == ProblemState.new:
        problems.transition(db_session=db_session, problem=problem, to_state=ProblemState.assessed, actor=actor)
    span = (opened[-1] - opened[0]).total_seconds() / 3600 if len(opened) > 1 else 0.0
    return ProblemScope(
        problem_id=problem.id,
        number=problem.number,
        statement=problem.statement,
        incident_count=len(incidents),
        services=services,
        first_seen=opened[0] if opened else None,
        last_seen=opened[-1] if opened else None,
        span_hours=round(span, 2),
        highest_incident_priority=highest,
        priority=Priority(problem.priority),
        scale=ProblemScale(problem.scale),
    )


@task(name="open-problem", **STEP_OPTIONS)
def open_problem_task(problem_in: ProblemCreate, opened_key: str) -> int:
    """Open the problem named by the run's parameters (once per run)."""
    return run_step(open_problem, problem_in=problem_in, opened_key=opened_key)


@task(name="identify", **STEP_OPTIONS)
def identify_task(problem_id: int) -> ProblemScope:
    """Step 1: identify the problem and its scale."""
    return run_step(identify, problem_id=problem_id)
