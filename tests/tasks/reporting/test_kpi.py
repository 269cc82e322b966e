"""KPIs on crafted records whose answers are known, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from problemflow.models.audit import AuditEvent
from problemflow.models.change import ChangeRequestCreate
from problemflow.models.enums import ChangeState, ClosureCode, IncidentState, ProblemState
from problemflow.models.incident import IncidentCreate
from problemflow.models.kedb import KnownErrorCreate
from problemflow.models.problem import ProblemCreate
from problemflow.models.services import changes, incidents, kedb, problems
from problemflow.tasks.reporting.kpi import Period, Scope, compute_report, compute_snapshot
from problemflow.tasks.reporting.kpi.report import trend

UTC = timezone.utc
PERIOD = Period(start=datetime(2026, 3, 2, tzinfo=UTC), end=datetime(2026, 3, 9, tzinfo=UTC))


def at(day: str, hour: float = 0) -> datetime:
    """``at("03-05", 10)`` -> 2026-03-05 10:00 UTC."""
    month, dom = (int(x) for x in day.split("-"))
    return datetime(2026, month, dom, tzinfo=UTC) + timedelta(hours=hour)


def stamp_last_event(db_session, record_type: str, record_id: int, when: datetime) -> None:
    """Give the newest audit event of a record an explicit time."""
    db_session.flush()
    event = db_session.scalars(
        select(AuditEvent)
        .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).one()
    event.at = when


def incident(db_session, title, opened, *, ack=None, resolved=None, **fields):
    record = incidents.create(
        db_session=db_session, incident_in=IncidentCreate(title=title, opened_at=opened, **fields)
    )
    if ack is not None:
        incidents.transition(db_session=db_session, incident=record, to_state=IncidentState.in_progress)
        record.acknowledged_at = opened + timedelta(hours=ack)
    if resolved is not None:
        incidents.resolve(db_session=db_session, incident=record, code="fixed")
        record.resolved_at = opened + timedelta(hours=resolved)
    return record


def problem(db_session, statement, opened, team=None, incident_ids=()):
    record = problems.create(
        db_session=db_session,
        problem_in=ProblemCreate(statement=statement, assignment_group=team, incident_ids=list(incident_ids)),
    )
    record.opened_at = opened
    return record


def change(db_session, problem_id, outcome: ChangeState, when: datetime):
    record = changes.get_or_create(
        db_session=db_session, change_in=ChangeRequestCreate(title="fix", problem_id=problem_id)
    )
    changes.transition(db_session=db_session, change=record, to_state=ChangeState.approved)
    changes.transition(db_session=db_session, change=record, to_state=outcome)
    stamp_last_event(db_session, "change_request", record.id, when)
    return record


@pytest.fixture
def crafted(db_session):
    """Six incidents, four problems, one known error and three changes around PERIOD."""
    s = db_session
    crit = {"impact": "high", "urgency": "high"}
    a = incident(s, "A", at("03-02", 10), ack=1, resolved=3, service="web", category="network",
                 assignment_group="net", **crit)
    b = incident(s, "B", at("03-03", 10), ack=2, resolved=6, service="web", category="network",
                 assignment_group="net", **crit)
    c = incident(s, "C", at("03-05", 10), ack=0.5, service="web", category="database")
    d = incident(s, "D", at("03-06", 12), resolved=10, service="db", category="database",
                 assignment_group="dba", urgency="low")
    d.recurrence_of_id = c.id
    incident(s, "E", at("03-08", 20), service="db")
    incident(s, "F", at("02-25", 8), ack=1, resolved=120, service="web", category="network", **crit)

    p1 = problem(s, "P1 network flaps", at("02-20"), team="net", incident_ids=[a.id, b.id])
    problems.advance_to(db_session=s, problem=p1, to_state=ProblemState.resolved)
    p1.root_cause_at, p1.resolved_at, p1.verified_at = at("03-03"), at("03-04"), at("03-07")
    p2 = problem(s, "P2 db locks", at("03-04"), team="dba", incident_ids=[d.id])
    p3 = problem(s, "P3 old printer", at("01-01"))
    problems.transition(db_session=s, problem=p3, to_state=ProblemState.closed,
                        closure_code=ClosureCode.risk_accepted)
    p3.closed_at = at("03-05")
    p4 = problem(s, "P4 legacy batch", datetime(2025, 11, 1, tzinfo=UTC))
    problems.advance_to(db_session=s, problem=p4, to_state=ProblemState.resolved)
    problems.transition(db_session=s, problem=p4, to_state=ProblemState.root_cause_analysis)
    stamp_last_event(s, "problem", p4.id, at("03-06", 12))
    p4.root_cause_at = at("02-10")

    known_error = kedb.create(db_session=s, known_error_in=KnownErrorCreate(title="flap", problem_id=p1.id))
    known_error.created_at = at("03-03", 12)
    workaround = kedb.upsert_workaround(db_session=s, problem_id=p1.id, description="bounce the port")
    a.known_error_id, b.workaround_id = known_error.id, workaround.id

    change(s, p1.id, ChangeState.implemented, at("03-03", 18))
    change(s, p2.id, ChangeState.failed, at("03-07"))
    change(s, p4.id, ChangeState.implemented, at("02-25"))
    s.commit()
    return s


def test_incident_kpis_have_the_known_values(crafted):
    kpis = compute_snapshot(db_session=crafted, period=PERIOD, scope=Scope())
    assert kpis.incidents.total == 5
    assert kpis.incidents.by_priority == {"1-critical": 2, "3-moderate": 2, "4-low": 1}
    assert kpis.incidents.by_category == {"database": 2, "network": 2, "(none)": 1}
    assert kpis.incidents.by_day == {
        "2026-03-02": 1, "2026-03-03": 1, "2026-03-05": 1, "2026-03-06": 1, "2026-03-08": 1,
    }
    assert kpis.time_to_acknowledge.count == 3
    assert kpis.time_to_acknowledge.mean_hours == pytest.approx(3.5 / 3)
    # A 3 h, B 6 h, D 10 h, and F opened the week before, resolved after 120 h
    assert kpis.time_to_resolve.count == 4
    assert kpis.time_to_resolve.mean_hours == pytest.approx(139 / 4)
    assert [(m.service, m.incidents) for m in kpis.mtbf] == [("web", 3), ("db", 2)]
    assert kpis.mtbf[0].mean_hours_between == pytest.approx(36)
    assert kpis.mtbf[1].mean_hours_between == pytest.approx(56)
    # A and B belong to P1, D repeats C (and belongs to P2)
    assert (kpis.repeats.part, kpis.repeats.whole, kpis.repeats.rate) == (3, 5, 0.6)
    sla = {row.priority: (row.target_hours, row.incidents, row.breached) for row in kpis.sla}
    assert sla == {
        "1-critical": (4.0, 2, 1),
        "2-high": (8.0, 0, 0),
        # C is still open at the end, 86 h after it opened; E only 4 h
        "3-moderate": (24.0, 2, 1),
        "4-low": (72.0, 1, 0),
        "5-planning": (168.0, 0, 0),
    }
    assert kpis.sla_breached == 2


def test_problem_kedb_and_change_kpis_have_the_known_values(crafted):
    kpis = compute_snapshot(db_session=crafted, period=PERIOD, scope=Scope())
    assert (kpis.problems.opened, kpis.problems.closed, kpis.problems.backlog) == (1, 1, 2)
    # P2 is 5 days old at the end of the period, P4 128 days
    assert kpis.problems.backlog_mean_age_days == pytest.approx(66.5)
    assert kpis.problems.age_buckets == {
        "under 7 days": 1, "7-30 days": 0, "30-90 days": 0, "90 days or more": 1,
    }
    assert kpis.time_to_root_cause.count == 1
    assert kpis.time_to_root_cause.mean_hours == pytest.approx(11 * 24)
    assert kpis.time_to_fix.count == 1
    assert kpis.time_to_fix.mean_hours == pytest.approx(12 * 24)
    assert kpis.kedb.known_errors_added == 1
    assert (kpis.kedb.resolved_with_known_error, kpis.kedb.incidents_resolved) == (2, 4)
    assert kpis.kedb.hit_rate == 0.5
    assert (kpis.changes.implemented, kpis.changes.failed, kpis.changes.success_rate) == (1, 1, 0.5)
    assert (kpis.fixes.verified, kpis.fixes.reopened) == (1, 1)


def test_previous_period_and_trends(crafted):
    report = compute_report(db_session=crafted, period=PERIOD)
    before = report.previous
    assert before.period.start == at("02-23") and before.period.end == PERIOD.start
    assert before.incidents.total == 1
    assert before.sla[0].breached == 1  # F took 120 h against a 4 h target
    assert (before.problems.backlog, before.problems.age_buckets["7-30 days"]) == (3, 1)
    assert (before.changes.implemented, before.changes.failed) == (1, 0)
    trends = {t.metric: t for t in report.trends}
    assert trends["incidents"].change == 4 and trends["incidents"].verdict == "worse"
    assert trends["change_success_rate"].verdict == "worse"
    assert trends["problems_closed"].verdict == "better"
    assert trends["problems_opened"].verdict == "neutral"
    assert trends["mean_time_to_fix_hours"].verdict == "n/a"


def test_scope_by_team_narrows_every_kpi(crafted):
    kpis = compute_snapshot(db_session=crafted, period=PERIOD, scope=Scope(team="net"))
    assert kpis.incidents.total == 2
    assert kpis.sla[0].breached == 1
    assert (kpis.problems.opened, kpis.problems.closed, kpis.problems.backlog) == (0, 0, 0)
    assert kpis.time_to_root_cause.count == 1
    assert kpis.kedb.known_errors_added == 1
    assert (kpis.changes.implemented, kpis.changes.failed) == (1, 0)


def test_scope_by_service_reaches_problems_through_their_incidents(crafted):
    kpis = compute_snapshot(db_session=crafted, period=PERIOD, scope=Scope(service="db"))
    assert kpis.incidents.total == 2 and [m.service for m in kpis.mtbf] == ["db"]
    assert (kpis.problems.opened, kpis.problems.backlog) == (1, 1)
    assert (kpis.changes.implemented, kpis.changes.failed) == (0, 1)
    assert kpis.kedb.known_errors_added == 0


def test_sla_targets_come_from_the_caller(crafted):
    kpis = compute_snapshot(
        db_session=crafted, period=PERIOD, scope=Scope(), sla_targets={"1-critical": 2.5}
    )
    assert [(r.priority, r.incidents, r.breached) for r in kpis.sla] == [("1-critical", 2, 2)]


def test_empty_database_gives_zeroes_and_no_means(db_session):
    kpis = compute_snapshot(db_session=db_session, period=PERIOD, scope=Scope())
    assert kpis.incidents.total == 0 and kpis.repeats.rate is None
    assert kpis.time_to_resolve.mean_hours is None and kpis.changes.success_rate is None
    assert kpis.problems.backlog_mean_age_days is None and kpis.mtbf == []


def test_period_must_end_after_it_starts():
    with pytest.raises(ValidationError, match="must end after it starts"):
        Period(start=at("03-09"), end=at("03-02"))
    naive = Period(start=datetime(2026, 3, 2), end=datetime(2026, 3, 3))
    assert naive.start.tzinfo is not None and naive.previous().start == at("03-01")


@pytest.mark.parametrize(
    "metric, current, previous, verdict",
    [
        ("mean_time_to_resolve_hours", 5.0, 8.0, "better"),
        ("kedb_hit_rate", 0.2, 0.4, "worse"),
        ("sla_breaches", 3, 3, "same"),
        ("incidents", None, 3, "n/a"),
    ],
)
def test_trend_verdicts(metric, current, previous, verdict):
    assert trend(metric, current, previous).verdict == verdict
