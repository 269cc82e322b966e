"""Fix verification: after resolution, does the known error's signature recur?"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from prefect import task
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.enums import ClosureCode, KnownErrorState, ProblemState
from problemflow.models.incident import Incident
from problemflow.models.kedb import Signature
from problemflow.models.problem import Problem
from problemflow.models.services import audit, kedb, problems
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step


class Verification(BaseModel):
    problem_id: int
    number: str
    outcome: Literal["reopened", "verified", "pending"]
    recurrences: list[str] = []


def signature_matches(signature: Signature, incident: Incident) -> list[str]:
    """Why the incident looks like the known error again (empty: it does not).

    A shared fingerprint is enough; otherwise the service must match together
    with the category and the symptom or subcategory, or with every signature label."""
    reasons = []
    if incident.fingerprint and incident.fingerprint in signature.fingerprints:
        reasons.append("fingerprint")
    same_service = bool(incident.service) and incident.service in signature.services
    if same_service and signature.category and incident.category == signature.category and (
        (signature.symptom and incident.symptom == signature.symptom)
        or (signature.subcategory and incident.subcategory == signature.subcategory)
    ):
        reasons.append("service, category and symptom")
    labels = incident.labels or {}
    if same_service and signature.labels and all(str(labels.get(k)) == v for k, v in signature.labels.items()):
        reasons.append("service and labels")
    return reasons


def due_for_verification(*, db_session: Session) -> list[int]:
    """Problems fixed and not yet verified (closed as risk accepted or duplicate excluded)."""
    stmt = (
        select(Problem.id)
        .where(Problem.verify_until.is_not(None), Problem.verified_at.is_(None),
               Problem.state.in_([ProblemState.resolved, ProblemState.closed]),
               (Problem.closure_code.is_(None)) | (Problem.closure_code == ClosureCode.fix_applied))
        .order_by(Problem.id)
    )
    return list(db_session.scalars(stmt))


def verify(*, db_session: Session, problem_id: int, now: Optional[datetime] = None, actor: str = ACTOR) -> Verification:
    """Reopen the problem if its signature recurred after the fix; mark the fix
    verified once the window has passed without a recurrence."""
    now = now or utcnow()
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    known_error = kedb.get_for_problem(db_session=db_session, problem_id=problem.id)
    fixed_at = problem.resolved_at
    if problem.verify_until is None or problem.verified_at is not None or fixed_at is None:
        return Verification(problem_id=problem.id, number=problem.number, outcome="pending")
    recurrences: list[tuple[Incident, list[str]]] = []
    if known_error is not None:
        signature = Signature.model_validate(known_error.signature or {})
        linked = {link.incident_id for link in problem.incident_links}
        candidates = db_session.scalars(
            select(Incident).where(Incident.opened_at > fixed_at, Incident.opened_at <= now).order_by(Incident.id)
        )
        recurrences = [(i, why) for i in candidates if i.id not in linked and (why := signature_matches(signature, i))]
    if recurrences:
        numbers = [i.number for i, _ in recurrences]
        problems.transition(db_session=db_session, problem=problem, to_state=ProblemState.root_cause_analysis,
                            actor=actor, reason="recurred after the fix: " + ", ".join(numbers))
        problem.verify_until = None
        for incident, why in recurrences:
            problems.link_incident(db_session=db_session, problem=problem, incident_id=incident.id,
                                   reason="recurred after the fix: " + ", ".join(why), linked_by=actor)
            kedb.link_incident(db_session=db_session, known_error=known_error, incident_id=incident.id,
                               score=1.0, matched={"signals": why})
        if KnownErrorState(known_error.state) == KnownErrorState.fixed:
            kedb.transition(db_session=db_session, known_error=known_error, to_state=KnownErrorState.published,
                            actor=actor, reason=f"{problem.number} reopened")
        db_session.flush()
        return Verification(problem_id=problem.id, number=problem.number, outcome="reopened", recurrences=numbers)
    if now >= problem.verify_until:
        problem.verified_at = now
        audit.record(db_session=db_session, actor=actor, action="verified", record_type=problems.RECORD,
                     record_id=problem.id, detail={"window_until": problem.verify_until.isoformat()})
        return Verification(problem_id=problem.id, number=problem.number, outcome="verified")
    return Verification(problem_id=problem.id, number=problem.number, outcome="pending")


def reopen_notice(result: Verification) -> tuple[str, str]:
    """Title and body telling the channels a fix did not hold."""
    return f"{result.number} reopened: the fix did not hold", "recurred in " + ", ".join(result.recurrences)


@task(name="due-for-verification", **STEP_OPTIONS)
def due_task() -> list[int]:
    """Problems whose fix is waiting for verification."""
    return run_step(due_for_verification)


@task(name="verify-fix", **STEP_OPTIONS)
def verify_task(problem_id: int) -> Verification:
    """Reopen on recurrence, or record the fix as verified after the window."""
    return run_step(verify, problem_id=problem_id)
