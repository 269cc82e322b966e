"""Grafana, PagerDuty Events v2 and the generic format."""

from __future__ import annotations

from sqlalchemy import select

from problemflow.models.alert import AlertEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident


def _incidents(db_url: str) -> list[Incident]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def grafana_payload(status: str = "firing", fingerprint: str = "57c6d9296de2ad39") -> dict:
    return {
        "receiver": "problemflow",
        "status": status,
        "orgId": 1,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HighLatency", "severity": "warning", "service": "checkout", "grafana_folder": "Shop"},
                "annotations": {"summary": "p99 latency above 2 s", "description": "checkout is slow"},
                "startsAt": "2026-11-24T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://grafana:3000/alerting/grafana/abc/view",
                "fingerprint": fingerprint,
                "silenceURL": "http://grafana:3000/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"A": 2.4},
                "valueString": "[ var='A' labels={} value=2.4 ]",
            }
        ],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency"},
        "commonAnnotations": {},
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "orgIdExtra": "ignored",
        "title": "[FIRING:1] HighLatency",
        "state": "alerting",
        "message": "**Firing**",
    }


def test_grafana_fires_and_resolves(intake, clean_db):
    answer = intake.post("/v1/alerts/grafana", json=grafana_payload())
    assert answer.status_code == 200, answer.text
    assert answer.json()["alerts"][0]["outcome"] == "created"
    [incident] = _incidents(clean_db)
    assert (incident.source, incident.title, incident.service) == ("grafana", "p99 latency above 2 s", "checkout")
    assert incident.priority == "3-moderate"  # warning: medium x medium
    assert "value=2.4" in incident.description
    assert intake.post("/v1/alerts/grafana", json=grafana_payload()).json()["alerts"][0]["outcome"] == "deduplicated"
    resolved = intake.post("/v1/alerts/grafana", json=grafana_payload("resolved"))
    assert resolved.json()["alerts"][0]["outcome"] == "resolved"
    [incident] = _incidents(clean_db)
    assert incident.state == "resolved" and incident.occurrence_count == 2


def pd_event(action: str, dedup_key: str | None = "db1/disk", **payload) -> dict:
    event = {"routing_key": "R0UT1NG", "event_action": action}
    if dedup_key:
        event["dedup_key"] = dedup_key
    if action == "trigger":
        event["payload"] = {
            "summary": "Disk on db1 is 97% full",
            "source": "db1.example.com",
            "severity": "critical",
            "component": "postgres",
            "group": "billing",
            "class": "disk",
            "custom_details": {"free_gb": 3},
            **payload,
        }
    return event


def test_pagerduty_trigger_acknowledge_resolve(intake, clean_db):
    response = intake.post("/v1/alerts/pagerduty", json=pd_event("trigger"))
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "db1/disk"}
    [incident] = _incidents(clean_db)
    assert incident.source == "pagerduty" and incident.fingerprint == "db1/disk"
    assert incident.priority == "1-critical" and incident.service == "billing"
    assert incident.labels["host"] == "db1.example.com" and "free_gb" in incident.description
    assert intake.post("/v1/alerts/pagerduty", json=pd_event("acknowledge")).status_code == 202
    [incident] = _incidents(clean_db)
    assert incident.state == "in_progress" and incident.acknowledged_at is not None
    assert intake.post("/v1/alerts/pagerduty", json=pd_event("resolve")).status_code == 202
    [incident] = _incidents(clean_db)
    assert incident.state == "resolved"
    with session_scope(clean_db) as session:
        events = session.scalars(select(AlertEvent).order_by(AlertEvent.id)).all()
    assert [(e.status, e.outcome) for e in events] == [
        ("firing", "created"), ("acknowledged", "acknowledged"), ("resolved", "resolved"),
    ]
    assert all("routing_key" not in e.payload for e in events)  # a credential is never stored


def test_pagerduty_trigger_without_dedup_key_gets_one(intake, clean_db):
    answer = intake.post("/v1/alerts/pagerduty", json=pd_event("trigger", dedup_key=None)).json()
    assert len(answer["dedup_key"]) == 32
    assert _incidents(clean_db)[0].fingerprint == answer["dedup_key"]


def test_pagerduty_errors_look_like_pagerduty(intake, clean_db):
    response = intake.post("/v1/alerts/pagerduty", json=pd_event("resolve", dedup_key=None))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and "dedup_key is required" in body["errors"][0]
    bad = pd_event("trigger", severity="sev0")
    response = intake.post("/v1/alerts/pagerduty", json=bad)
    assert response.status_code == 400 and "payload.severity" in response.json()["errors"][0]
    assert _incidents(clean_db) == []


def test_generic_alerts_fingerprint_from_labels(intake, clean_db):
    alert = {
        "title": "Queue backlog over 10k",
        "severity": "error",
        "service": "orders",
        "labels": {"queue": "orders", "alertname": "Backlog"},
        "description": "consumers stalled",
    }
    first = intake.post("/v1/alerts/generic", json={"alerts": [alert]})
    assert first.status_code == 200, first.text
    # same labels in another order, another title: the same alert
    again = dict(alert, title="Queue backlog over 12k", labels={"alertname": "Backlog", "queue": "orders"})
    second = intake.post("/v1/alerts/generic", json={"alerts": [again]})
    assert second.json()["alerts"][0]["outcome"] == "deduplicated"
    assert first.json()["alerts"][0]["fingerprint"] == second.json()["alerts"][0]["fingerprint"]
    [incident] = _incidents(clean_db)
    assert (incident.title, incident.service, incident.priority) == ("Queue backlog over 10k", "orders", "2-high")
    done = intake.post("/v1/alerts/generic", json={"alerts": [dict(alert, status="resolved")]})
    assert done.json()["alerts"][0]["outcome"] == "resolved"


def test_generic_explicit_fingerprint_and_unknown_fields(intake, clean_db):
    ok = intake.post("/v1/alerts/generic", json={"alerts": [{"title": "x", "fingerprint": "my-id"}]})
    assert ok.json()["alerts"][0]["fingerprint"] == "my-id"
    wrong = intake.post("/v1/alerts/generic", json={"alerts": [{"title": "x", "sevrity": "critical"}]})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == [{"field": "alerts.0.sevrity", "problem": "Extra inputs are not permitted"}]


def test_openapi_documents_every_format(intake):
    document = intake.get("/openapi.json").json()
    assert set(document["paths"]) >= {
        "/v1/alerts/alertmanager", "/v1/alerts/grafana", "/v1/alerts/pagerduty", "/v1/alerts/generic",
        "/healthz", "/metrics",
    }
    generic = document["components"]["schemas"]["GenericAlert"]
    assert "description" in generic["properties"]["severity"]
    assert document["components"]["schemas"]["GenericAlerts"]["examples"]
    assert intake.get("/docs").status_code == 200
    assert intake.get("/healthz").json() == {"status": "ok"}
