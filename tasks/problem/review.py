"""Step 8, review: the post-implementation review, then closure."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from prefect import task
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from problemflow.models.change import Approval
from problemflow.models.enums import ClosureCode, ProblemState
from problemflow.models.incident import Incident
from problemflow.models.kedb import KnownErrorIncident
from problemflow.models.review import Review, ReviewRead
from problemflow.models.services import audit, changes, kedb, problems
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step


class Closure(BaseModel):
    """What the problem manager enters at closure."""

    manager: str = Field(min_length=1, max_length=120)
    closure_code: ClosureCode = ClosureCode.fix_applied
    lessons: str = Field(default="", max_length=20_000)
    actions: list[str] = Field(default_factory=list)


def _hours(start: Optional[datetime], end: Optional[datetime]) -> Optional[float]:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 3600, 2)


def metrics(*, db_session: Session, problem_id: int) -> dict:
    """Time to root cause, time to fix, and incidents before and after the fix."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    linked = problems.linked_incidents(db_session=db_session, problem=problem)
    fixed_at = problem.resolved_at
    after = 0
    known_error = kedb.get_for_problem(db_session=db_session, problem_id=problem.id)
    if fixed_at is not None and known_error is not None:
        after = db_session.scalar(
            select(func.count()).select_from(KnownErrorIncident).join(
                Incident, Incident.id == KnownErrorIncident.incident_id
            ).where(KnownErrorIncident.known_error_id == known_error.id, Incident.opened_at > fixed_at)
        ) or 0
    return {
        "time_to_root_cause_hours": _hours(problem.opened_at, problem.root_cause_at),
        "time_to_fix_hours": _hours(problem.opened_at, problem.resolved_at),
        "incidents_before_fix": sum(1 for i in linked if fixed_at is None or i.opened_at <= fixed_at),
        "incidents_after_fix": after + sum(1 for i in linked if fixed_at is not None and i.opened_at > fixed_at),
        "services": sorted({i.service for i in linked if i.service}),
        "change_attempts": len(changes.list(db_session=db_session, problem_id=problem.id)),
        "reopen_count": problem.reopen_count,
    }


def review_and_close(*, db_session: Session, problem_id: int, closure: Closure, actor: str = ACTOR) -> ReviewRead:
    """Store the review (one per problem) and close the problem with its code."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    review = db_session.scalar(select(Review).where(Review.problem_id == problem.id))
    if review is None:
        review = Review(problem_id=problem.id)
        db_session.add(review)
    approvers = db_session.scalars(
        select(Approval.approver).where(Approval.problem_id == problem.id).distinct()
    ).all()
    people = {problem.owner, closure.manager, *approvers, *(t.owner for t in problem.tasks)}
    review.participants = sorted(p for p in people if p)
    review.timeline = [
        {"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
         "to_state": e.to_state} for e in audit.list_for(db_session=db_session, record_type=problems.RECORD,
                                                          record_id=problem.id)
        if e.action in ("create", "transition", "sign_off_root_cause", "plan")
    ]
    review.metrics = metrics(db_session=db_session, problem_id=problem.id)
    review.lessons = closure.lessons
    review.actions = list(closure.actions)
    db_session.flush()
    if ProblemState(problem.state) != ProblemState.closed:
        problems.transition(db_session=db_session, problem=problem, to_state=ProblemState.closed,
                            actor=closure.manager, closure_code=closure.closure_code, reason="closure signed off")
    return ReviewRead.model_validate(review)


@task(name="review", **STEP_OPTIONS)
def review_task(problem_id: int, closure: Closure) -> ReviewRead:
    """Step 8: post-implementation review and closure."""
    return run_step(review_and_close, problem_id=problem_id, closure=closure)
