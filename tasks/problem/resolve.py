"""Step 7, resolve: the fix is in; resolve the linked incidents and start verification."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.enums import KnownErrorState, ProblemState
from problemflow.models.problem import ProblemRead
from problemflow.models.services import incidents, kedb, problems
from problemflow.models.settings import get_settings
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step

RESOLUTION_CODE = "fixed_by_problem"


def resolve(*, db_session: Session, problem_id: int, actor: str = ACTOR) -> ProblemRead:
    """Resolve the problem and its open incidents (cascade), mark the known error
    fixed, and open the verification window."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    if ProblemState(problem.state) == ProblemState.resolved:
        return ProblemRead.model_validate(problem)
    problems.advance_to(db_session=db_session, problem=problem, to_state=ProblemState.resolved, actor=actor)
    problem.verify_until = utcnow() + timedelta(days=get_settings().verification_days)
    problem.verified_at = None
    for incident in problems.linked_incidents(db_session=db_session, problem=problem):
        if incident.state in incidents.OPEN_STATES:
            incidents.resolve(db_session=db_session, incident=incident, code=RESOLUTION_CODE,
                              notes=f"resolved with {problem.number}", actor=actor)
    known_error = kedb.get_for_problem(db_session=db_session, problem_id=problem.id)
    if known_error is not None and KnownErrorState(known_error.state) == KnownErrorState.published:
        kedb.transition(db_session=db_session, known_error=known_error, to_state=KnownErrorState.fixed,
                        actor=actor, reason=f"{problem.number} resolved")
    db_session.flush()
    return ProblemRead.model_validate(problem)


@task(name="resolve", **STEP_OPTIONS)
def resolve_task(problem_id: int) -> ProblemRead:
    """Step 7: resolve the problem and its incidents; start the verification window."""
    return run_step(resolve, problem_id=problem_id)
