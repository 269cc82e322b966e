"""Step 4, response: look in the KEDB first, attach what fits, escalate what is urgent.

Idempotent: an incident is responded to once (``Incident.responded_at``); a
second call changes nothing and sends nothing. The escalation event is emitted
only after the session commits, so whoever reacts to it sees the response.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import httpx
from prefect import task
from pydantic import BaseModel, Field
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.enums import Priority
from problemflow.models.incident import Incident
from problemflow.models.kedb import Workaround
from problemflow.models.services import audit, incidents, kedb
from problemflow.models.settings import get_settings
from problemflow.tasks.common import events
from problemflow.tasks.common.events import ESCALATED_EVENT
from problemflow.tasks.common.notify import NotificationFailed, send
from problemflow.tasks.common.retry import RETRIES
from problemflow.tasks.kedb.match import KedbMatch, query_of, search

logger = logging.getLogger("problemflow.incident")



class ResponseOutcome(BaseModel):
    """What the response step did for one incident."""

    incident_id: int
    number: str
    priority: Priority
    already_responded: bool = Field(description="true when an earlier call did the work")
    known_error: Optional[KedbMatch] = Field(default=None, description="the known error attached")
    candidates: list[KedbMatch] = Field(default_factory=list, description="best KEDB matches found")
    workaround: Optional[str] = None
    escalated: bool = False
    notified: int = Field(default=0, description="notification channels that took the escalation")
    notify_error: Optional[str] = None
    event_pending: bool = Field(default=False, description="escalation event queued for commit")


def resource_id(incident_id: int) -> str:
    return f"problemflow.incident.{incident_id}"


def _emit_after_commit(db_session: Session, payload: dict[str, Any]) -> None:
    """Queue the escalation event; it goes out when (and only if) the session commits."""
    pending = db_session.info.setdefault("problemflow_events", [])
    pending.append(payload)
    if db_session.info.get("problemflow_events_hooked"):
        return
    db_session.info["problemflow_events_hooked"] = True

    def emit(session: Session) -> None:
        queued = [
            events.event(ESCALATED_EVENT, resource_id=resource_id(item["incident_id"]),
                         resource_name=item["number"], payload=item, key=f"{item['incident_id']}/{item['opened_at']}")
            for item in session.info.pop("problemflow_events", [])
        ]
        try:
            events.send(queued)
        except httpx.HTTPError as error:  # committed already: say so, the incident keeps its escalation
            logger.warning("escalation event(s) for %s not sent: %s", [e["payload"]["number"] for e in queued], error)

    def drop(session: Session) -> None:
        session.info.pop("problemflow_events", None)

    event.listen(db_session, "after_commit", emit)
    event.listen(db_session, "after_rollback", drop)


def escalation_text(incident: Incident, known: Optional[KedbMatch], workaround: Optional[str]) -> tuple[str, str]:
    title = f"[{incident.priority}] {incident.number}: {incident.title}"
    lines = [
        f"Priority {incident.priority} (impact {incident.impact}, urgency {incident.urgency})",
        f"Service: {incident.service or '-'}   CI: {incident.configuration_item or '-'}",
        f"Owner: {incident.owner or '-'}   Group: {incident.assignment_group or '-'}",
    ]
    if known is not None:
        lines.append(f"Known error {known.number} ({known.score:.2f}): {known.title}")
        if workaround:
            lines.append(f"Workaround: {workaround}")
    else:
        lines.append("No known error matches: diagnosis needed.")
    return title, "\n".join(lines)


def attaches(match: KedbMatch) -> bool:
    """Whether the response step attaches a known error scoring this (the one threshold,
    ``kedb_attach_score``, also shown by ``kedb search --json``)."""
    return match.score >= get_settings().kedb_attach_score


def _attach(db_session: Session, incident: Incident, best: KedbMatch) -> Optional[str]:
    known_error = kedb.get_or_raise(db_session=db_session, known_error_id=best.known_error_id)
    kedb.link_incident(db_session=db_session, known_error=known_error, incident_id=incident.id,
                       score=best.score, matched=best.signals)
    incident.known_error_id = known_error.id
    incident.known_error_score = best.score
    if known_error.problem_id is not None and incident.workaround_id is None:
        incident.workaround_id = db_session.scalar(
            select(Workaround.id).where(Workaround.problem_id == known_error.problem_id)
        )
    audit.record(
        db_session=db_session, actor="respond", action="known_error_attached", record_type="incident",
        record_id=incident.id,
        detail={"known_error": best.number, "score": best.score, "signals": best.signals},
    )
    return known_error.workaround or None


def respond(*, db_session: Session, incident_id: int | str) -> ResponseOutcome:
    """Search the KEDB, attach the best known error above the threshold, escalate P1/P2."""
    settings = get_settings()
    found = incidents.get_or_raise(db_session=db_session, incident_id=incident_id)
    incident = db_session.get(Incident, found.id, with_for_update=True, populate_existing=True)
    priority = Priority(incident.priority)
    if incident.responded_at is not None:
        return ResponseOutcome(incident_id=incident.id, number=incident.number, priority=priority,
                               already_responded=True)
    candidates = search(db_session=db_session, top=5, **query_of(incident))
    best = candidates[0] if candidates and attaches(candidates[0]) else None
    workaround = _attach(db_session, incident, best) if best is not None else None
    outcome = ResponseOutcome(incident_id=incident.id, number=incident.number, priority=priority,
                              already_responded=False, known_error=best, candidates=candidates,
                              workaround=workaround)
    incident.responded_at = utcnow()
    if priority in settings.escalate_priorities:
        outcome.escalated = True
        title, body = escalation_text(incident, best, workaround)
        try:
            outcome.notified = send(title, body, tag="escalation")
        except NotificationFailed as error:
            outcome.notify_error = str(error)
            logger.warning("escalation of %s not delivered: %s", incident.number, error)
        audit.record(
            db_session=db_session, actor="respond", action="escalate", record_type="incident",
            record_id=incident.id,
            detail={"priority": priority.value, "notified": outcome.notified,
                    "notify_error": outcome.notify_error},
        )
        if events.api_configured():
            _emit_after_commit(db_session, {
                "incident_id": incident.id, "number": incident.number, "priority": priority.value,
                "opened_at": incident.opened_at.isoformat(),
                "title": incident.title, "known_error": best.number if best else None,
            })
            outcome.event_pending = True
    db_session.flush()
    return outcome


@task(name="respond", **RETRIES)
def respond_task(incident_id: int) -> ResponseOutcome:
    """Response: KEDB match, workaround, escalation (idempotent)."""
    from problemflow.models.db import session_scope

    with session_scope() as db_session:
        outcome = respond(db_session=db_session, incident_id=incident_id)
    return outcome
