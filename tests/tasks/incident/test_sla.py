"""SLA watch: late open incidents are announced once, on time ones never."""

from __future__ import annotations

from datetime import timedelta

from problemflow.models.base import utcnow
from problemflow.models.incident import IncidentCreate
from problemflow.models.services import audit, incidents
from problemflow.tasks.incident.sla import announce, find_breaches


def open_incident(db_session, title, impact, urgency, hours_ago):
    return incidents.create(db_session=db_session, incident_in=IncidentCreate(
        title=title, impact=impact, urgency=urgency, opened_at=utcnow() - timedelta(hours=hours_ago)))


def test_breaches_follow_each_priority_target(db_session):
    # default targets: 1-critical 4 h, 3-moderate 24 h, 5-planning 168 h
    late_p1 = open_incident(db_session, "Checkout down", "high", "high", 5)
    open_incident(db_session, "Checkout slow", "high", "high", 3)
    late_p3 = open_incident(db_session, "Report late", "medium", "medium", 30)
    open_incident(db_session, "Typo on page", "low", "low", 30)
    resolved = open_incident(db_session, "Old outage", "high", "high", 50)
    incidents.resolve(db_session=db_session, incident=resolved, code="fixed")
    db_session.flush()
    breaches = find_breaches(db_session=db_session)
    assert [b.number for b in breaches] == [late_p1.number, late_p3.number]
    assert breaches[0].target_hours == 4 and 0.9 < breaches[0].overdue_hours < 1.1


def test_each_breach_is_announced_once(db_session, receiver):
    late = open_incident(db_session, "Checkout down", "high", "high", 6)
    db_session.flush()
    assert announce(db_session=db_session, breaches=find_breaches(db_session=db_session)) == 1
    db_session.flush()
    assert find_breaches(db_session=db_session) == []
    assert len(receiver.bodies) == 1
    assert late.number in receiver.bodies[0]["message"] and "SLA" in receiver.bodies[0]["title"]
    trail = audit.list_for(db_session=db_session, record_type="incident", record_id=late.id)
    assert [e.action for e in trail].count("sla_breach") == 1


def test_sla_watch_flow_against_the_server(prefect_server, clean_db, receiver):
    from problemflow.flows.sla_watch import sla_watch
    from problemflow.models.db import session_scope

    with session_scope(clean_db) as session:
        open_incident(session, "Orders API 5xx", "high", "medium", 10)  # 2-high: 8 h target
    assert [b.title for b in sla_watch()] == ["Orders API 5xx"]
    assert sla_watch() == []
    assert len(receiver.bodies) == 1
