"""The response step runs off the request path, and catches up on start."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from problemflow.models.db import session_scope
from problemflow.models.enums import IncidentSource
from problemflow.models.incident import Incident, IncidentCreate
from problemflow.models.services import incidents
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_settings, intake_subprocess, serve_intake
from tests.waiting import wait_until

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
CRITICAL = {"fingerprint": "c0ffee00c0ffee00", "labels": {"alertname": "PostgresqlDown", "severity": "critical"}}
INFO = {"fingerprint": "1111222233334444", "labels": {"alertname": "Chatty", "severity": "info"}}


def _incidents(db_url: str) -> list[Incident]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def _wait_responded(db_url: str, count: int, timeout: float = 30) -> list[Incident]:
    return wait_until(lambda: _incidents(db_url),
                      lambda found: len(found) == count and all(i.responded_at is not None for i in found),
                      what=f"{count} incidents responded to", timeout=timeout,
                      show=lambda found: [(i.number, i.responded_at) for i in found])


def test_new_incidents_are_responded_and_leftovers_swept_on_start(clean_db):
    with session_scope(clean_db) as session:  # stored before a crash, never responded to
        incidents.create(
            db_session=session,
            incident_in=IncidentCreate(title="left over", source=IncidentSource.generic, fingerprint="old"),
        )
    with serve_intake(intake_settings(clean_db, intake_respond=True)) as url:
        response = httpx.post(f"{url}/v1/alerts/alertmanager", json=alertmanager_payload(INFO), headers=HEADERS)
        assert response.status_code == 200
        found = _wait_responded(clean_db, 2)
    assert [i.title for i in found] == ["left over", "Chatty"]


@pytest.mark.integration
def test_only_urgent_incidents_reach_prefect_as_escalation_events(clean_db, prefect_server, tmp_path):
    from problemflow.models.base import utcnow

    started = utcnow()  # events of earlier tests (same ids: they restart per test) are older
    # a process of its own, as ``problemflow up`` starts it, with PREFECT_API_URL in its environment
    with intake_subprocess(clean_db, tmp_path, respond=True) as url:
        body = alertmanager_payload(CRITICAL, INFO)
        assert httpx.post(f"{url}/v1/alerts/alertmanager", json=body, headers=HEADERS).status_code == 200
        found = {i.fingerprint: i for i in _wait_responded(clean_db, 2)}
        critical, info = found[CRITICAL["fingerprint"]], found[INFO["fingerprint"]]
        assert (critical.priority, info.priority) == ("1-critical", "4-low")
        deadline = time.monotonic() + 30
        while True:
            events = httpx.post(
                f"{prefect_server}/events/filter",
                json={"filter": {"event": {"name": ["problemflow.incident.escalated"]},
                                 "occurred": {"since": started.isoformat()}}, "limit": 50},
            ).json()["events"]
            resources = {e["resource"]["prefect.resource.id"] for e in events}
            if f"problemflow.incident.{critical.id}" in resources:
                break
            assert time.monotonic() < deadline, events
            time.sleep(0.5)
    assert f"problemflow.incident.{info.id}" not in resources
    runs = httpx.post(f"{prefect_server}/flow_runs/filter", json={"limit": 200}).json()
    # runs an automation started (a served incident-response deployment reacting to
    # the escalation event) are the design; the intake itself starts none
    created = [r for r in runs if r["created"] >= started.isoformat().replace("+00:00", "Z")
               and (r.get("created_by") or {}).get("type") != "AUTOMATION"]
    assert created == []


def test_the_most_urgent_incidents_are_responded_to_first(clean_db):
    """In a storm the response step works through P1s before the P4s that came before them."""
    from sqlalchemy.orm import sessionmaker

    from problemflow.intake.responder import Responder
    from problemflow.models.db import get_engine

    order: list[int] = []
    responder = Responder(sessionmaker(bind=get_engine(clean_db)),
                          lambda *, db_session, incident_id: order.append(incident_id))
    responder.submit([(1, 4), (2, 4), (3, 1), (4, 5), (5, 2)])  # queued before the thread starts
    responder.start()
    responder.stop()
    assert order == [3, 5, 1, 2, 4]
