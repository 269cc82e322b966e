"""Change requests and approvals: queries and writes."""

from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.change import NUMBER_PREFIX, Approval, ApprovalCreate, ChangeRequest, ChangeRequestCreate
from problemflow.models.enums import ChangeState
from problemflow.models.errors import ChangeRequestNotFound
from problemflow.models.services import audit, records

RECORD = "change_request"


def get_or_raise(*, db_session: Session, change_request_id: int | str) -> ChangeRequest:
    return records.get_or_raise(db_session, ChangeRequest, change_request_id, prefix=NUMBER_PREFIX,
                                not_found=ChangeRequestNotFound)


def get_for_problem(
    *, db_session: Session, problem_id: int, attempt: int
) -> Optional[ChangeRequest]:
    stmt = select(ChangeRequest).where(
        ChangeRequest.problem_id == problem_id, ChangeRequest.attempt == attempt
    )
    return db_session.scalar(stmt)


def list(*, db_session: Session, problem_id: int | None = None, limit: int = 50) -> Sequence[ChangeRequest]:
    stmt = select(ChangeRequest).order_by(ChangeRequest.id.desc()).limit(limit)
    if problem_id is not None:
        stmt = stmt.where(ChangeRequest.problem_id == problem_id)
    return db_session.scalars(stmt).all()


def get_or_create(
    *, db_session: Session, change_in: ChangeRequestCreate, actor: str = "system"
) -> ChangeRequest:
    """A problem's change for one attempt; asking again returns the same row."""
    if change_in.problem_id is not None:
        existing = get_for_problem(
            db_session=db_session, problem_id=change_in.problem_id, attempt=change_in.attempt
        )
        if existing is not None:
            return existing
    change = ChangeRequest(**change_in.model_dump())
    db_session.add(change)
    db_session.flush()
    records.create_audit(db_session, change, record_type=RECORD, actor=actor, detail={"problem_id": change.problem_id, "needs_approval": change.needs_approval})
    return change


def transition(
    *,
    db_session: Session,
    change: ChangeRequest,
    to_state: ChangeState,
    actor: str = "system",
    reason: str = "",
) -> ChangeRequest:
    to_state = ChangeState(to_state)
    records.change_state(db_session, change, to_state, record_type=RECORD, actor=actor, reason=reason)
    if to_state == ChangeState.implemented:
        change.implemented_at = utcnow()
    return change


def get_approval_by_key(*, db_session: Session, answer_key: Optional[str]) -> Optional[Approval]:
    if answer_key is None:
        return None
    return db_session.scalar(select(Approval).where(Approval.answer_key == answer_key))


def record_approval(*, db_session: Session, approval_in: ApprovalCreate) -> Approval:
    """Store one gate answer and its audit event; an answer key seen before
    returns the row stored the first time."""
    existing = get_approval_by_key(db_session=db_session, answer_key=approval_in.answer_key)
    if existing is not None:
        return existing
    approval = Approval(**approval_in.model_dump())
    db_session.add(approval)
    db_session.flush()
    record_type, record_id = (
        (RECORD, approval.change_request_id)
        if approval.change_request_id is not None
        else ("problem", approval.problem_id)
    )
    audit.record(
        db_session=db_session,
        actor=approval.approver,
        action=f"approval:{approval.gate}",
        record_type=record_type,
        record_id=record_id or 0,
        detail={
            "decision": approval.decision,
            "role": approval.role,
            "reason": approval.reason,
            "method": approval.method,
            "comment": approval.comment,
            "approval_id": approval.id,
        },
    )
    return approval


def approvals_for(*, db_session: Session, problem_id: int) -> Sequence[Approval]:
    stmt = select(Approval).where(Approval.problem_id == problem_id).order_by(Approval.id)
    return db_session.scalars(stmt).all()
