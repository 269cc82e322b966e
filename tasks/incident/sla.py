"""SLA watch: open incidents past their priority's time-to-resolve target.

Each breach is announced once: the notification goes out, then an
``sla_breach`` audit event marks the incident in the same transaction, so a
failed delivery is tried again on the next watch and a sent one is not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from pydantic import BaseModel
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from problemflow.models.audit import AuditEvent
from problemflow.models.base import utcnow
from problemflow.models.enums import Priority
from problemflow.models.incident import Incident
from problemflow.models.services import audit
from problemflow.models.services.incidents import OPEN_STATES
from problemflow.models.settings import get_settings
from problemflow.tasks.common.notify import send
from problemflow.tasks.common.retry import RETRIES

ACTION = "sla_breach"


class SlaBreach(BaseModel):
    incident_id: int
    number: str
    title: str
    priority: Priority
    target_hours: float
    overdue_hours: float
    owner: str | None = None
    assignment_group: str | None = None


def find_breaches(*, db_session: Session, now: datetime | None = None, limit: int = 500) -> list[SlaBreach]:
    """Open incidents older than their priority's target, not yet announced."""
    now = now or utcnow()
    targets = get_settings().sla_targets
    late = or_(*[
        and_(Incident.priority == priority, Incident.opened_at < now - timedelta(hours=hours))
        for priority, hours in targets.items()
    ])
    announced = exists().where(
        AuditEvent.record_type == "incident", AuditEvent.record_id == Incident.id, AuditEvent.action == ACTION
    )
    stmt = (
        select(Incident)
        .where(Incident.state.in_(OPEN_STATES), late, ~announced)
        .order_by(Incident.priority, Incident.opened_at)
        .limit(limit)
    )
    breaches = []
    for incident in db_session.scalars(stmt):
        target = targets[Priority(incident.priority).value]
        overdue = (now - incident.opened_at).total_seconds() / 3600 - target
        breaches.append(SlaBreach(
            incident_id=incident.id, number=incident.number, title=incident.title,
            priority=incident.priority, target_hours=target, overdue_hours=round(overdue, 1),
            owner=incident.owner, assignment_group=incident.assignment_group,
        ))
    return breaches


def announce(*, db_session: Session, breaches: list[SlaBreach]) -> int:
    """Notify about the breaches and mark each incident announced; returns how many."""
    if not breaches:
        return 0
    lines = [
        f"- {b.number} ({b.priority.value}) {b.title}: {b.overdue_hours:g} h past the {b.target_hours:g} h target"
        f" — {b.assignment_group or 'no team'} / {b.owner or 'no owner'}"
        for b in breaches
    ]
    send(f"SLA breached by {len(breaches)} incident(s)", "\n".join(lines), tag="sla")
    for breach in breaches:
        audit.record(
            db_session=db_session, actor="sla-watch", action=ACTION, record_type="incident",
            record_id=breach.incident_id,
            detail={"target_hours": breach.target_hours, "overdue_hours": breach.overdue_hours},
        )
    return len(breaches)




@task(name="sla-watch", **RETRIES)
def watch_task() -> list[SlaBreach]:
    """Find and announce new SLA breaches."""
    from problemflow.models.db import session_scope

    with session_scope() as db_session:
        breaches = find_breaches(db_session=db_session)
        announce(db_session=db_session, breaches=breaches)
    return breaches
