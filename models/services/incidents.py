"""Incident queries and writes."""

from __future__ import annotations

from datetime import datetime
from typing import Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.enums import IncidentState, Priority
from problemflow.models.errors import IncidentNotFound, OpenDependencies
from problemflow.models.incident import NUMBER_PREFIX, Incident, IncidentCreate, IncidentUpdate
from problemflow.models.services import audit, records
from problemflow.models.states import OPEN_INCIDENT_STATES, priority_for

RECORD = "incident"
OPEN_STATES = OPEN_INCIDENT_STATES


def get(*, db_session: Session, incident_id: int) -> Optional[Incident]:
    return db_session.get(Incident, incident_id)


def get_or_raise(*, db_session: Session, incident_id: int | str) -> Incident:
    return records.get_or_raise(db_session, Incident, incident_id, prefix=NUMBER_PREFIX, not_found=IncidentNotFound)


def get_by_external_ref(*, db_session: Session, external_ref: str) -> Optional[Incident]:
    return db_session.scalar(select(Incident).where(Incident.external_ref == external_ref))


def get_open_by_fingerprint(
    *, db_session: Session, source: str, fingerprint: str
) -> Optional[Incident]:
    stmt = (
        select(Incident)
        .where(
            Incident.source == source,
            Incident.fingerprint == fingerprint,
            Incident.state.in_(OPEN_STATES),
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    return db_session.scalar(stmt)


def list(
    *,
    db_session: Session,
    limit: int = 50,
    offset: int = 0,
    states: Sequence[IncidentState] | None = None,
    priority: Priority | None = None,
    since: datetime | None = None,
) -> Sequence[Incident]:
    stmt = select(Incident).order_by(Incident.id.desc()).limit(limit).offset(offset)
    if states:
        stmt = stmt.where(Incident.state.in_(states))
    if priority:
        stmt = stmt.where(Incident.priority == priority)
    if since:
        stmt = stmt.where(Incident.opened_at >= since)
    return db_session.scalars(stmt).all()


def message_history(*, db_session: Session, template: Optional[str]) -> tuple[int, Optional[datetime]]:
    """How many incidents carry this message template, and when the first of them opened."""
    if not template:
        return 0, None
    count, first = db_session.execute(
        select(func.count(), func.min(Incident.opened_at)).where(Incident.template == template)
    ).one()
    return count, first


def create(*, db_session: Session, incident_in: IncidentCreate, actor: str = "system") -> Incident:
    data = records.storable(incident_in.model_dump(exclude={"depends_on", "opened_at"}))
    incident = Incident(**data, priority=priority_for(incident_in.impact, incident_in.urgency))
    incident.opened_at = incident_in.opened_at or utcnow()
    incident.last_occurrence_at = incident.opened_at
    for dependency_id in incident_in.depends_on:
        incident.depends_on.append(get_or_raise(db_session=db_session, incident_id=dependency_id))
    db_session.add(incident)
    db_session.flush()
    records.create_audit(db_session, incident, record_type=RECORD, actor=actor, detail={"source": incident.source, "priority": incident.priority})
    return incident


def update(
    *, db_session: Session, incident: Incident, incident_in: IncidentUpdate, actor: str = "system"
) -> Incident:
    changes = incident_in.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(incident, field, value)
    if "impact" in changes or "urgency" in changes:
        incident.priority = priority_for(incident.impact, incident.urgency)
    if changes:
        audit.record(
            db_session=db_session,
            actor=actor,
            action="update",
            record_type=RECORD,
            record_id=incident.id,
            detail={k: str(v) for k, v in changes.items()},
        )
    return incident


def transition(
    *,
    db_session: Session,
    incident: Incident,
    to_state: IncidentState,
    actor: str = "system",
    reason: str = "",
) -> Incident:
    """Move an incident along its state machine, stamping times and the audit trail."""
    to_state = IncidentState(to_state)
    current = records.change_state(db_session, incident, to_state, record_type=RECORD, actor=actor, reason=reason)
    now = utcnow()
    if to_state == IncidentState.in_progress and incident.acknowledged_at is None:
        incident.acknowledged_at = now
    if to_state == IncidentState.resolved:
        incident.resolved_at = now
    if to_state == IncidentState.closed:
        incident.closed_at = now
    if to_state == IncidentState.in_progress and current == IncidentState.resolved:
        incident.resolved_at = None
    return incident


def open_dependencies(*, db_session: Session, incident: Incident) -> list[Incident]:
    return [d for d in incident.depends_on if IncidentState(d.state) in OPEN_STATES]


def resolve(
    *,
    db_session: Session,
    incident: Incident,
    code: str,
    notes: str = "",
    actor: str = "system",
) -> Incident:
    incident.resolution_code = code
    incident.resolution_notes = notes
    return transition(db_session=db_session, incident=incident, to_state=IncidentState.resolved, actor=actor, reason=code)


def close(
    *,
    db_session: Session,
    incident: Incident,
    code: str | None = None,
    notes: str | None = None,
    actor: str = "system",
) -> Incident:
    """Close an incident; refuses while anything it depends on is still open."""
    pending = open_dependencies(db_session=db_session, incident=incident)
    if pending:
        raise OpenDependencies(incident.number, [d.number for d in pending])
    if code:
        incident.resolution_code = code
    if notes:
        incident.resolution_notes = notes
    if IncidentState(incident.state) in OPEN_STATES:
        transition(db_session=db_session, incident=incident, to_state=IncidentState.resolved, actor=actor)
    return transition(db_session=db_session, incident=incident, to_state=IncidentState.closed, actor=actor)


def add_occurrence(*, db_session: Session, incident: Incident, at: datetime | None = None) -> Incident:
    incident.occurrence_count += 1
    incident.last_occurrence_at = at or utcnow()
    return incident
