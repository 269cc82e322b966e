"""Response: KEDB attachment once, escalation of P1/P2 by notification and event."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import func, select

from problemflow.models.audit import AuditEvent
from problemflow.models.enums import KnownErrorState, Level
from problemflow.models.incident import IncidentCreate
from problemflow.models.kedb import KnownErrorCreate, KnownErrorIncident, Signature
from problemflow.models.problem import ProblemCreate
from problemflow.models.services import incidents, kedb, problems
from problemflow.tasks.common.events import ESCALATED_EVENT
from problemflow.tasks.incident import respond


def publish(db_session, title, workaround="", problem_id=None, **signature):
    record = kedb.create(db_session=db_session, known_error_in=KnownErrorCreate(
        title=title, workaround=workaround, problem_id=problem_id, signature=Signature(**signature)))
    kedb.transition(db_session=db_session, known_error=record, to_state=KnownErrorState.published)
    return record


def open_incident(db_session, title, impact=Level.medium, urgency=Level.medium, **fields):
    incident = incidents.create(db_session=db_session, incident_in=IncidentCreate(
        title=title, impact=impact, urgency=urgency, **fields))
    db_session.commit()
    return incident


def audit_actions(db_session, incident_id):
    rows = db_session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_type == "incident", AuditEvent.record_id == incident_id))
    return list(rows)


def test_respond_attaches_the_known_error_and_its_workaround_once(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="Replicas lag"))
    workaround = kedb.upsert_workaround(db_session=db_session, problem_id=problem.id,
                                        description="Pause the vacuum job")
    known = publish(db_session, "Replica lags after nightly vacuum", workaround="Pause the vacuum job",
                    problem_id=problem.id, labels={"alertname": "PostgresqlReplicationLag"},
                    keywords=["replication lag"])
    incident = open_incident(db_session, "Replication lag on orders replica",
                             labels={"alertname": "PostgresqlReplicationLag"})

    first = respond(db_session=db_session, incident_id=incident.id)
    db_session.commit()
    assert not first.already_responded and not first.escalated
    assert first.known_error.known_error_id == known.id and first.known_error.score >= 0.6
    assert first.workaround == "Pause the vacuum job"
    db_session.refresh(incident)
    assert (incident.known_error_id, incident.workaround_id) == (known.id, workaround.id)
    assert incident.responded_at is not None and incident.known_error_score == first.known_error.score

    second = respond(db_session=db_session, incident_id=incident.number)
    db_session.commit()
    assert second.already_responded and second.known_error is None
    links = db_session.scalar(select(func.count()).select_from(KnownErrorIncident))
    assert links == 1
    assert audit_actions(db_session, incident.id).count("known_error_attached") == 1
    db_session.refresh(known)
    assert known.hit_count == 1


def test_weak_matches_are_reported_but_not_attached(db_session):
    publish(db_session, "Mail queue backs up", keywords=["mail queue"], services=["mail"])
    publish(db_session, "Shop search index goes stale", keywords=["stale results"], services=["shop"])
    incident = open_incident(db_session, "Order confirmation mail arrives late", service="shop")
    outcome = respond(db_session=db_session, incident_id=incident.id)
    db_session.commit()
    assert outcome.candidates and outcome.candidates[0].score < 0.6
    assert outcome.known_error is None
    db_session.refresh(incident)
    assert incident.known_error_id is None and incident.responded_at is not None
    assert "known_error_attached" not in audit_actions(db_session, incident.id)


def test_p1_escalates_once_through_the_notification_channels(db_session, receiver):
    publish(db_session, "Checkout 502 when the gateway times out", workaround="Fail over to gateway B",
            services=["shop"], keywords=["502", "checkout"], labels={"alertname": "CheckoutErrors"})
    incident = open_incident(db_session, "Checkout returns 502", impact=Level.high, urgency=Level.high,
                             service="shop", labels={"alertname": "CheckoutErrors"}, owner="ana")
    outcome = respond(db_session=db_session, incident_id=incident.id)
    db_session.commit()
    assert outcome.escalated and outcome.notified == 1 and outcome.notify_error is None
    assert len(receiver.bodies) == 1
    message = receiver.bodies[0]
    assert message["title"] == f"[1-critical] {incident.number}: Checkout returns 502"
    assert "Owner: ana" in message["message"] and "Fail over to gateway B" in message["message"]
    respond(db_session=db_session, incident_id=incident.id)
    db_session.commit()
    assert len(receiver.bodies) == 1
    assert audit_actions(db_session, incident.id).count("escalate") == 1


def test_p3_is_not_escalated(db_session, receiver):
    incident = open_incident(db_session, "A report is late")
    assert not respond(db_session=db_session, incident_id=incident.id).escalated
    assert receiver.bodies == []


def test_undelivered_escalation_is_recorded_and_the_response_still_counts(db_session, monkeypatch):
    from problemflow.models.settings import get_settings

    monkeypatch.setenv("PROBLEMFLOW_NOTIFY_URLS", json.dumps(["json://127.0.0.1:9/"]))
    get_settings.cache_clear()
    try:
        incident = open_incident(db_session, "Site down", impact=Level.high, urgency=Level.medium)
        outcome = respond(db_session=db_session, incident_id=incident.id)
        db_session.commit()
    finally:
        get_settings.cache_clear()
    assert outcome.escalated and outcome.notified == 0 and "no channel accepted" in outcome.notify_error
    db_session.refresh(incident)
    assert incident.responded_at is not None


def test_rolled_back_response_leaves_nothing_behind(db_session):
    publish(db_session, "Disk fills up", labels={"alertname": "DiskFull"})
    incident = open_incident(db_session, "disk", labels={"alertname": "DiskFull"})
    respond(db_session=db_session, incident_id=incident.id)
    db_session.rollback()
    again = respond(db_session=db_session, incident_id=incident.id)
    db_session.commit()
    assert not again.already_responded and again.known_error is not None
    assert db_session.scalar(select(func.count()).select_from(KnownErrorIncident)) == 1


def events_for(api_url: str, resource: str, since=None) -> list[dict]:
    """Escalation events of one resource; ``since`` leaves out those of earlier
    tests (ids restart with every test while the server lives for the session)."""
    occurred = {"since": since.isoformat()} if since else {}
    response = httpx.post(f"{api_url}/events/filter", json={
        "filter": {"resource": {"id": [resource]}, "event": {"name": [ESCALATED_EVENT]}, "occurred": occurred},
        "limit": 10})
    response.raise_for_status()
    return response.json()["events"]


def test_escalation_emits_a_prefect_event_after_commit(db_session, prefect_server):
    from problemflow.models.base import utcnow

    started = utcnow()
    incident = open_incident(db_session, "Payments down", impact=Level.high, urgency=Level.high)
    outcome = respond(db_session=db_session, incident_id=incident.id)
    assert outcome.event_pending
    db_session.commit()
    resource = f"problemflow.incident.{incident.id}"
    deadline = time.monotonic() + 20
    while not (found := events_for(prefect_server, resource, since=started)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(found) == 1
    payload = found[0]["payload"]
    assert payload["incident_id"] == incident.id and payload["number"] == incident.number
    assert payload["priority"] == "1-critical"


@pytest.mark.parametrize("code", ["", "   ", "fix;drop"])
def test_close_rejects_bad_codes(db_session, code):
    from pydantic import ValidationError

    from problemflow.tasks.incident import close

    incident = open_incident(db_session, "x")
    with pytest.raises(ValidationError):
        close(db_session=db_session, incident_id=incident.id, code=code)
