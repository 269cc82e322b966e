"""Telling the configured channels how a problem run ended."""

from __future__ import annotations

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.services import problems
from problemflow.tasks.common.notify import send
from problemflow.tasks.problem.common import STEP_OPTIONS, run_step


def outcome_notice(*, db_session: Session, problem_id: int, detail: str = "") -> tuple[str, str]:
    """Title and body announcing where the problem stands."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    state, code = str(problem.state), str(problem.closure_code or "-")
    title = f"{problem.number} {state} ({code}): {problem.statement}"[:250]
    body = detail or f"{problem.number} is {state}; closure code {code}."
    return title, body


@task(name="announce", **STEP_OPTIONS)
def announce_task(problem_id: int, detail: str = "") -> int:
    """Notify the channels of the problem's outcome (retried while no channel takes it)."""
    title, body = run_step(outcome_notice, problem_id=problem_id, detail=detail)
    return send(title, body, tag="problem-outcome")
