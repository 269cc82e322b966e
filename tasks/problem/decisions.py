"""Verifying and storing each answer given at a gate (approved, rejected, or refused with its reason)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.change import ApprovalCreate, ApprovalRead
from problemflow.models.enums import Decision, Role
from problemflow.models.services import changes, people, problems
from problemflow.models.settings import get_settings
from problemflow.tasks.problem.common import STEP_OPTIONS, logger, run_step


def record_decision(*, db_session: Session, approval_in: ApprovalCreate, code: str,
                    sent_at: Optional[datetime] = None) -> ApprovalRead:
    """Store the answer once per answer key, refused unless the approver proves who they are
    with a one-time code that was fresh when the answer was sent (``sent_at``, the time
    Prefect's server stored it; None: now) and holds the gate's role; sign off the root cause
    when approved. A replay of the same answer key returns the verdict stored the first time."""
    existing = changes.get_approval_by_key(db_session=db_session, answer_key=approval_in.answer_key)
    if existing is not None:
        return ApprovalRead.model_validate(existing)
    # one person is one approver whatever the case they typed: failures count toward their lock-out
    approval_in = approval_in.model_copy(update={"approver": people.normal_name(approval_in.approver)})
    people.seed(db_session=db_session, roles=get_settings().roles)
    reason = people.check_proof(db_session=db_session, name=approval_in.approver, code=code,
                                role=str(approval_in.role), at=sent_at)
    if reason is not None:
        approval_in = approval_in.model_copy(update={"decision": Decision.refused, "reason": reason})
    approval_in = approval_in.model_copy(update={"method": "totp"})
    approval = changes.record_approval(db_session=db_session, approval_in=approval_in)
    if approval.decision == Decision.refused:
        logger.warning("an answer at gate %s in the name of %s was refused (%s); the run waits for a valid answer",
                       approval.gate, approval.approver, approval.reason)
    if approval.gate == "root-cause" and approval.decision == Decision.approved and approval.problem_id:
        problem = problems.get_or_raise(db_session=db_session, problem_id=approval.problem_id)
        problems.sign_off_root_cause(db_session=db_session, problem=problem, manager=approval.approver)
    db_session.flush()
    return ApprovalRead.model_validate(approval)


@task(name="record-decision", **STEP_OPTIONS)
def record_decision_task(
    problem_id: int,
    gate: str,
    decision: Decision,
    approver: str,
    role: Role,
    code: str,
    comment: str,
    flow_run_id: str,
    answer_key: str,
    change_request_id: Optional[int] = None,
    sent_at: Optional[datetime] = None,
) -> ApprovalRead:
    """Verify one gate answer, and store it with its audit event."""
    return run_step(record_decision, code=code, sent_at=sent_at, approval_in=ApprovalCreate(
        gate=gate, decision=decision, approver=approver, role=role, comment=comment,
        problem_id=problem_id, change_request_id=change_request_id, flow_run_id=flow_run_id,
        answer_key=answer_key,
    ))
