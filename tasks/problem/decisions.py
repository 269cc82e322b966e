"""Storing each answer given at a gate (approved, rejected, or refused for want of the role)."""

from __future__ import annotations

from typing import Optional

from prefect import task
from sqlalchemy.orm import Session

from models.change import ApprovalCreate, ApprovalRead
from models.enums import Decision, Role
from models.services import changes, problems
from tasks.problem.common import STEP_OPTIONS, logger, run_step


def record_decision(*, db_session: Session, approval_in: ApprovalCreate) -> ApprovalRead:
    """Store the answer once per answer key; sign off the root cause when approved."""
    approval = changes.record_approval(db_session=db_session, approval_in=approval_in)
    if approval.decision == Decision.refused:
        logger.warning("%s answered gate %s without the role %s; the run waits for a valid answer",
                       approval.approver, approval.gate, approval.role)
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
    comment: str,
    flow_run_id: str,
    answer_key: str,
    change_request_id: Optional[int] = None,
) -> ApprovalRead:
    """Store one gate answer and its audit event."""
    return run_step(record_decision, approval_in=ApprovalCreate(
        gate=gate, decision=decision, approver=approver, role=role, comment=comment,
        problem_id=problem_id, change_request_id=change_request_id, flow_run_id=flow_run_id,
        answer_key=answer_key,
    ))
