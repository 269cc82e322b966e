"""Alertmanager webhooks: creation, triage, deduplication, resolution, recurrence."""

from __future__ import annotations

from sqlalchemy import select

from problemflow.models.alert import AlertEvent
from problemflow.models.audit import AuditEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from tests.intake.conftest import alertmanager_payload

DISK = {
    "fingerprint": "aa11bb22cc33dd44",
    "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db1:9100", "job": "node"},
    "annotations": {"summary": "Disk on db1 is 97% full", "description": "/var is nearly full"},
}


def _incidents(db_url: str) -> list[Incident]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def _events(db_url: str) -> list[AlertEvent]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(AlertEvent).order_by(AlertEvent.id)))


def test_firing_alert_opens_a_triaged_incident(intake, clean_db):
    response = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(DISK))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "stored"
    assert body["alerts"] == [{"fingerprint": DISK["fingerprint"], "outcome": "created", "incident": "INC0000001"}]
    [incident] = _incidents(clean_db)
    assert incident.title == "Disk on db1 is 97% full"
    assert incident.description == "/var is nearly full"
    assert incident.source == "alertmanager"
    assert incident.fingerprint == DISK["fingerprint"]
    assert incident.labels["severity"] == "critical"
    assert (incident.impact, incident.urgency, incident.priority) == ("high", "high", "1-critical")
    assert incident.service == "node"
    assert incident.configuration_item == "db1:9100"
    assert incident.state == "new"
    assert incident.opened_at.isoformat().startswith("2026-11-24T10:00:00")
    [event] = _events(clean_db)
    assert (event.outcome, event.status, event.incident_id) == ("created", "firing", incident.id)
    assert event.payload["labels"] == DISK["labels"] and event.payload["receiver"] == "problemflow"
    with session_scope(clean_db) as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.record_id == incident.id)).all()
    assert [(a.action, a.actor, a.to_state) for a in audit] == [("create", "intake", "new")]
    assert audit[0].detail["priority"] == "1-critical"


def test_refire_while_open_adds_occurrences(intake, clean_db):
    for _ in range(3):
        assert intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(DISK)).status_code == 200
    [incident] = _incidents(clean_db)
    assert incident.occurrence_count == 3
    assert [e.outcome for e in _events(clean_db)] == ["created", "deduplicated", "deduplicated"]


def test_grouped_alerts_with_a_duplicate_inside_one_request(intake, clean_db):
    other = {"fingerprint": "ffff000011112222", "labels": {"alertname": "Load", "severity": "info"}}
    response = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(DISK, other, DISK))
    assert [a["outcome"] for a in response.json()["alerts"]] == ["created", "created", "deduplicated"]
    incidents = _incidents(clean_db)
    assert [(i.fingerprint, i.occurrence_count) for i in incidents] == [
        (DISK["fingerprint"], 2),
        (other["fingerprint"], 1),
    ]
    assert incidents[1].title == "Load"  # no summary: the alert name
    assert incidents[1].priority == "4-low"  # info: low impact, medium urgency


def test_resolved_then_refired_is_a_linked_recurrence(intake, clean_db):
    intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(DISK))
    resolved = dict(DISK, status="resolved", endsAt="2026-11-24T11:00:00Z")
    answer = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(resolved)).json()
    assert answer["alerts"][0]["outcome"] == "resolved"
    first = _incidents(clean_db)[0]
    assert first.state == "resolved" and first.resolution_code == "alert_resolved"
    assert first.resolved_at is not None
    answer = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(DISK)).json()
    assert answer["alerts"][0] == {"fingerprint": DISK["fingerprint"], "outcome": "recurrence", "incident": "INC0000002"}
    first, second = _incidents(clean_db)
    assert second.recurrence_of_id == first.id and second.state == "new"
    # a resolve for something no longer open is only recorded
    intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(resolved))
    answer = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(resolved)).json()
    assert answer["alerts"][0]["outcome"] == "recorded"
    assert [e.outcome for e in _events(clean_db)] == ["created", "resolved", "recurrence", "resolved", "recorded"]


def test_fire_resolve_fire_inside_one_request(intake, clean_db):
    resolved = dict(DISK, status="resolved")
    response = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(DISK, resolved, DISK))
    assert [a["outcome"] for a in response.json()["alerts"]] == ["created", "resolved", "recurrence"]
    first, second = _incidents(clean_db)
    assert first.state == "resolved" and second.state == "new" and second.recurrence_of_id == first.id


def test_record_policy_keeps_the_incident_open(clean_db):
    import httpx

    from tests.intake.conftest import TOKEN, intake_settings, serve_intake

    with serve_intake(intake_settings(clean_db, intake_resolve_policy="record")) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        httpx.post(f"{url}/v1/alerts/alertmanager", json=alertmanager_payload(DISK), headers=headers)
        resolved = dict(DISK, status="resolved")
        answer = httpx.post(f"{url}/v1/alerts/alertmanager", json=alertmanager_payload(resolved), headers=headers)
    assert answer.json()["alerts"][0]["outcome"] == "recorded"
    [incident] = _incidents(clean_db)
    assert incident.state == "new"
