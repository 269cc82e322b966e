"""Alert events: every alert the intake accepted, raw, and what was made of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, ForeignKey, Index, String, and_
from sqlalchemy.orm import Mapped, mapped_column

from problemflow.models.base import Base, utcnow
from problemflow.models.incident import Incident
from problemflow.models.states import OPEN_INCIDENT_STATES


class AlertStatus(StrEnum):
    """What the sender says about the alert."""

    firing = "firing"
    resolved = "resolved"
    acknowledged = "acknowledged"


class AlertOutcome(StrEnum):
    """What the intake did with one alert."""

    created = "created"  # a new incident was opened
    recurrence = "recurrence"  # a new incident, linked to the resolved one before it
    deduplicated = "deduplicated"  # an occurrence added to the open incident
    resolved = "resolved"  # the open incident was resolved
    acknowledged = "acknowledged"  # the open incident was taken in progress
    recorded = "recorded"  # kept on the record only (policy, or nothing open to change)


class AlertEvent(Base):
    __tablename__ = "alert_event"
    __table_args__ = (
        Index("ix_alert_event_source_fingerprint", "source", "fingerprint"),
        Index("ix_alert_event_incident_id", "incident_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(200))
    status: Mapped[AlertStatus] = mapped_column(String(16))
    outcome: Mapped[AlertOutcome] = mapped_column(String(16))
    incident_id: Mapped[Optional[int]] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    # the sender's own record of this one alert, exactly as received
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime
    source: str
    fingerprint: str
    status: AlertStatus
    outcome: AlertOutcome
    incident_id: Optional[int] = None
    payload: dict[str, Any]



# At most one open incident per (source, fingerprint), enforced by the database so
# that concurrent deliveries (several intake workers) cannot open two. The intake
# inserts with ON CONFLICT DO NOTHING on this index and turns a conflict into an
# occurrence of the incident that won.
_incident = Incident.__table__
OPEN_FINGERPRINT_WHERE = and_(
    _incident.c.fingerprint.is_not(None),
    _incident.c.state.in_([s.value for s in OPEN_INCIDENT_STATES]),
)
open_fingerprint_index = Index(
    "uq_incident_open_fingerprint",
    _incident.c.source,
    _incident.c.fingerprint,
    unique=True,
    sqlite_where=OPEN_FINGERPRINT_WHERE,
    postgresql_where=OPEN_FINGERPRINT_WHERE,
)
