"""fix-verification reopens a fix whose known error recurs, verifies the others after
their window; approval-reminders picks the gates waiting too long."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from problemflow.models.base import utcnow
from problemflow.models.db import session_scope
from problemflow.models.enums import IncidentSource, KnownErrorState, ProblemState
from problemflow.models.incident import IncidentCreate
from problemflow.models.kedb import KnownError
from problemflow.models.problem import Problem
from problemflow.models.services import incidents
from problemflow.tasks.problem import known_error, resolve, review
from problemflow.tasks.problem.reminders import due_for_reminder
from problemflow.tasks.problem.waiting import WaitingRun
from tests.tasks.problem.conftest import make_problem

pytestmark = pytest.mark.integration


def _fixed_problem(session, statement: str, service: str = "checkout") -> int:
    problem_id = make_problem(session, count=2, statement=statement)
    problem = session.get(Problem, problem_id)
    for link in problem.incident_links:
        link.incident.service = service
        link.incident.fingerprint = f"fp-{service}"
    problem.root_cause_summary = "pool too small"
    known_error.record_known_error(db_session=session, problem_id=problem_id)
    resolve.resolve(db_session=session, problem_id=problem_id)
    review.review_and_close(db_session=session, problem_id=problem_id,
                            closure=review.Closure(manager="pat"))
    return problem_id


def test_fix_verification_reopens_on_recurrence_and_verifies_after_the_window(prefect_server, clean_db):
    from problemflow.flows.verification import fix_verification

    with session_scope(clean_db) as s:
        recurring = _fixed_problem(s, "Checkout times out", service="checkout")
        held = _fixed_problem(s, "Search is slow", service="search")
        waiting = _fixed_problem(s, "Login fails", service="login")
        s.get(Problem, held).resolved_at = utcnow() - timedelta(days=20)
        s.get(Problem, held).verify_until = utcnow() - timedelta(days=6)
        # after the fix: the checkout alert fires again, from another monitor; and noise elsewhere
        again = incidents.create(db_session=s, incident_in=IncidentCreate(
            title="Checkout API timeout", service="checkout", fingerprint="fp-checkout",
            source=IncidentSource.grafana))
        incidents.create(db_session=s, incident_in=IncidentCreate(title="Disk full", service="billing"))
        again_number = again.number

    results = {r.problem_id: r for r in fix_verification()}
    assert results[recurring].outcome == "reopened" and results[recurring].recurrences == [again_number]
    assert results[held].outcome == "verified"
    assert results[waiting].outcome == "pending"

    with session_scope(clean_db) as s:
        p = s.get(Problem, recurring)
        assert p.state == ProblemState.root_cause_analysis and p.reopen_count == 1 and p.closure_code is None
        assert again_number in {l.incident.number for l in p.incident_links}
        ke = s.scalar(select(KnownError).where(KnownError.problem_id == recurring))
        assert ke.state == KnownErrorState.published and ke.hit_count == 1
        assert s.get(Problem, held).verified_at is not None
        assert s.get(Problem, waiting).verified_at is None

    # a second pass changes nothing: the reopened problem is no longer due, the verified one neither
    assert {r.problem_id for r in fix_verification()} == {waiting}


@pytest.mark.parametrize("waiting_hours,expected", [(1, False), (24.2, True), (24.6, False), (48.3, True)])
def test_a_gate_is_reminded_once_per_period(waiting_hours, expected):
    run = WaitingRun(flow_run_id="r", name="n", pause_key="closure-1-1", waiting_since=utcnow(),
                     waiting_hours=waiting_hours)
    assert due_for_reminder(run, remind_after_hours=24, interval_hours=0.5) is expected
