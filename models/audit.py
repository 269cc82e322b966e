"""The audit trail: one row for every state change and every decision."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from problemflow.models.base import Base, utcnow


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("a name cannot hold control characters")
    return value


# who did something, as people and tools name themselves: one line the audit trail can keep
ActorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
                      AfterValidator(_no_control)]


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int]
    from_state: Mapped[Optional[str]] = mapped_column(String(64))
    to_state: Mapped[Optional[str]] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    record_type: str
    record_id: int
    from_state: Optional[str] = None
    to_state: Optional[str] = None
    detail: dict[str, Any]
