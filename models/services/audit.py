"""Writing and reading the audit trail."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.audit import AuditEvent


def _text(value: StrEnum | str | None) -> Optional[str]:
    return value.value if isinstance(value, StrEnum) else value


def record(
    *,
    db_session: Session,
    actor: str,
    action: str,
    record_type: str,
    record_id: int,
    from_state: StrEnum | str | None = None,
    to_state: StrEnum | str | None = None,
    detail: Optional[dict[str, Any]] = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        from_state=_text(from_state),
        to_state=_text(to_state),
        detail=detail or {},
    )
    db_session.add(event)
    return event


def list_for(*, db_session: Session, record_type: str, record_id: int) -> list[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
        .order_by(AuditEvent.id)
    )
    return list(db_session.scalars(stmt))


def list_all(*, db_session: Session, limit: int = 100) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    return list(db_session.scalars(stmt))
