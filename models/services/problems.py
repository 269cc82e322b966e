"""Problem queries and writes: links, plan, root cause and state."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.enums import ClosureCode, ProblemState
from problemflow.models.errors import DependencyCycle, ProblemNotFound
from problemflow.models.incident import Incident
from problemflow.models.problem import (
    NUMBER_PREFIX,
    ContributingFactor,
    Problem,
    ProblemCreate,
    ProblemIncident,
    ProblemTask,
    ProblemTaskCreate,
    RootCauseAnalysis,
    RootCauseIn,
)
from problemflow.models.services import audit, incidents, records
from problemflow.models.states import priority_for

RECORD = "problem"
OPEN_STATES = (
    ProblemState.new,
    ProblemState.assessed,
    ProblemState.root_cause_analysis,
    ProblemState.fix_in_progress,
)


def get(*, db_session: Session, problem_id: int) -> Optional[Problem]:
    return db_session.get(Problem, problem_id)


def get_or_raise(*, db_session: Session, problem_id: int | str, options: Sequence = ()) -> Problem:
    """The problem by id or number; ``options`` are loader options (e.g. ``selectinload``)."""
    return records.get_or_raise(db_session, Problem, problem_id, prefix=NUMBER_PREFIX, not_found=ProblemNotFound,
                                options=options)


def get_by_group_key(*, db_session: Session, group_key: str) -> Optional[Problem]:
    return db_session.scalar(select(Problem).where(Problem.group_key == group_key))


def list(
    *,
    db_session: Session,
    limit: int = 50,
    offset: int = 0,
    states: Sequence[ProblemState] | None = None,
) -> Sequence[Problem]:
    return records.list_recent(db_session, Problem, limit=limit, offset=offset, states=states)


def create(*, db_session: Session, problem_in: ProblemCreate, actor: str = "system") -> Problem:
    data = records.storable(problem_in.model_dump(exclude={"incident_ids"}))
    problem = Problem(**data, priority=priority_for(problem_in.impact, problem_in.urgency))
    db_session.add(problem)
    db_session.flush()
    records.create_audit(db_session, problem, record_type=RECORD, actor=actor, detail={"source": problem.source})
    for incident_id in problem_in.incident_ids:
        link_incident(
            db_session=db_session,
            problem=problem,
            incident_id=incident_id,
            reason="named when the problem was opened",
            linked_by=actor,
        )
    return problem


def link_incident(
    *,
    db_session: Session,
    problem: Problem,
    incident_id: int | str,
    reason: str,
    linked_by: str,
    score: float = 1.0,
    algorithm_version: str | None = None,
) -> ProblemIncident:
    """Link an incident to a problem; linking twice returns the existing link."""
    incident = incidents.get_or_raise(db_session=db_session, incident_id=incident_id)
    existing = db_session.get(ProblemIncident, (problem.id, incident.id))
    if existing is not None:
        return existing
    link = ProblemIncident(
        problem=problem,
        incident=incident,
        reason=reason,
        score=score,
        linked_by=linked_by,
        algorithm_version=algorithm_version,
    )
    db_session.add(link)
    audit.record(
        db_session=db_session,
        actor=linked_by,
        action="link_incident",
        record_type=RECORD,
        record_id=problem.id,
        detail={"incident": incident.number, "reason": reason, "score": score},
    )
    return link


def linked_incidents(*, db_session: Session, problem: Problem) -> list[Incident]:
    """The problem's incidents in id order, in one query (not one lazy load per link)."""
    return [*db_session.scalars(
        select(Incident).join(ProblemIncident, ProblemIncident.incident_id == Incident.id)
        .where(ProblemIncident.problem_id == problem.id).order_by(Incident.id)
    )]


def transition(
    *,
    db_session: Session,
    problem: Problem,
    to_state: ProblemState,
    actor: str = "system",
    reason: str = "",
    closure_code: ClosureCode | None = None,
) -> Problem:
    """Move a problem along its state machine, stamping times and the audit trail."""
    to_state = ProblemState(to_state)
    if to_state == ProblemState.closed and closure_code is None:
        raise ValueError("closing a problem needs a closure code: " + ", ".join(ClosureCode))
    current = records.change_state(db_session, problem, to_state, record_type=RECORD, actor=actor, reason=reason,
                                   detail={"closure_code": str(closure_code)} if closure_code else None)
    now = utcnow()
    if to_state == ProblemState.closed:
        problem.closure_code = ClosureCode(closure_code)
        problem.closed_at = now
    if to_state == ProblemState.resolved:
        problem.resolved_at = now
    if to_state == ProblemState.fix_in_progress and problem.root_cause_at is None:
        problem.root_cause_at = now
    if current in (ProblemState.resolved, ProblemState.closed) and to_state == ProblemState.root_cause_analysis:
        problem.reopen_count += 1
        problem.resolved_at = None
        problem.verified_at = None
        problem.closed_at = None
        problem.closure_code = None
    return problem


def advance_to(
    *, db_session: Session, problem: Problem, to_state: ProblemState, actor: str = "system"
) -> Problem:
    """Walk forward through the usual path until ``to_state``; a no-op if already there."""
    path = [
        ProblemState.new,
        ProblemState.assessed,
        ProblemState.root_cause_analysis,
        ProblemState.fix_in_progress,
        ProblemState.resolved,
    ]
    current = ProblemState(problem.state)
    if current == to_state:
        return problem
    if current in path and to_state in path and path.index(current) < path.index(to_state):
        for step in path[path.index(current) + 1 : path.index(to_state) + 1]:
            transition(db_session=db_session, problem=problem, to_state=step, actor=actor)
        return problem
    return transition(db_session=db_session, problem=problem, to_state=to_state, actor=actor)


# ---- plan --------------------------------------------------------------------


def check_plan(tasks: Sequence[ProblemTaskCreate]) -> list[str]:
    """Validate a plan; returns task keys in an order that respects dependencies.

    Raises :class:`DependencyCycle` naming the loop, or ValueError for a
    dependency on a key that is not in the plan.
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("task keys must be unique within a plan")
    graph = {t.key: set(t.depends_on) for t in tasks}
    for key, deps in graph.items():
        missing = deps - set(keys)
        if missing:
            raise ValueError(f"task {key!r} depends on unknown task(s): {', '.join(sorted(missing))}")
    try:
        return [*TopologicalSorter(graph).static_order()]
    except CycleError as error:
        cycle = [*error.args[1]]
        raise DependencyCycle(cycle) from None


def set_plan(
    *,
    db_session: Session,
    problem: Problem,
    tasks_in: Sequence[ProblemTaskCreate],
    actor: str = "system",
) -> list[ProblemTask]:
    """Create or update the plan's tasks by key; a task named twice is one row."""
    order = check_plan(tasks_in)
    by_key = {t.key: t for t in problem.tasks}
    wanted = {t.key: t for t in tasks_in}
    for key in order:
        spec = wanted[key]
        task = by_key.get(key)
        if task is None:
            task = ProblemTask(problem=problem, key=key, title=spec.title)
            db_session.add(task)
            by_key[key] = task
        task.title = spec.title
        task.owner = spec.owner
        task.team = spec.team
        task.due_date = spec.due_date
        task.depends_on = [by_key[d] for d in spec.depends_on]
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=actor,
        action="plan",
        record_type=RECORD,
        record_id=problem.id,
        detail={"tasks": order},
    )
    return [by_key[k] for k in order]


def add_task_dependency(
    *, db_session: Session, task: ProblemTask, depends_on: ProblemTask
) -> ProblemTask:
    """Add one dependency to an existing plan, rejecting a cycle."""
    if depends_on.problem_id != task.problem_id:
        raise ValueError("a task can only depend on tasks of the same problem")
    plan = [
        ProblemTaskCreate(
            key=t.key,
            title=t.title,
            depends_on=[d.key for d in t.depends_on] + ([depends_on.key] if t is task else []),
        )
        for t in task.problem.tasks
    ]
    check_plan(plan)
    if depends_on not in task.depends_on:
        task.depends_on.append(depends_on)
    return task


# ---- root cause ----------------------------------------------------------------


def record_root_cause(
    *, db_session: Session, problem: Problem, analysis_in: RootCauseIn, actor: str = "system"
) -> RootCauseAnalysis:
    """Create or replace the problem's root-cause analysis (one per problem)."""
    analysis = problem.analysis
    if analysis is None:
        analysis = RootCauseAnalysis(problem=problem)
        db_session.add(analysis)
    analysis.root_cause = analysis_in.root_cause
    analysis.whys = [*analysis_in.whys]
    analysis.analyst = analysis_in.analyst or actor
    analysis.factors = [
        ContributingFactor(category=f.category, description=f.description)
        for f in analysis_in.factors
    ]
    problem.root_cause_summary = analysis_in.root_cause
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=actor,
        action="root_cause",
        record_type=RECORD,
        record_id=problem.id,
        detail={"root_cause": analysis_in.root_cause[:200]},
    )
    return analysis


def sign_off_root_cause(
    *, db_session: Session, problem: Problem, manager: str
) -> RootCauseAnalysis:
    analysis = problem.analysis
    if analysis is None:
        raise ValueError(f"{problem.number} has no root-cause analysis to sign off")
    if analysis.signed_off_at is None:
        analysis.signed_off_by = manager
        analysis.signed_off_at = utcnow()
        audit.record(
            db_session=db_session,
            actor=manager,
            action="sign_off_root_cause",
            record_type=RECORD,
            record_id=problem.id,
        )
    return analysis
