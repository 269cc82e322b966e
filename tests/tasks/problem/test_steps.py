"""Each step's work, through its plain function on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from problemflow.models.change import ChangeRequest
from problemflow.models.enums import (
    ChangeState,
    ClosureCode,
    FactorCategory,
    IncidentState,
    KnownErrorState,
    Priority,
    ProblemScale,
    ProblemState,
)
from problemflow.models.errors import DependencyCycle
from problemflow.models.kedb import KnownError
from problemflow.models.problem import FactorIn, Problem, ProblemTaskCreate, RootCauseIn
from problemflow.tasks.problem import analyse, change, identify, known_error, notices, plan, resolve, review, workaround
from tests.tasks.problem.conftest import make_problem


def test_identify_sizes_the_problem_and_assesses_it(db_session, problem_id):
    scope = identify.identify(db_session=db_session, problem_id=problem_id)
    assert scope.incident_count == 3 and scope.services == ["checkout"]
    assert scope.span_hours == 2.0 and scope.scale == ProblemScale.standard
    assert db_session.get(Problem, problem_id).state == ProblemState.assessed


def test_identify_calls_many_incidents_on_a_critical_service_major(db_session):
    from problemflow.models.enums import Level

    pid = make_problem(db_session, count=2, impact=Level.high)
    scope = identify.identify(db_session=db_session, problem_id=pid)
    assert scope.priority == Priority.high and scope.scale == ProblemScale.standard
    assert identify.classify(12, 1, Priority.low, Priority.low) == ProblemScale.major
    assert identify.classify(1, 1, Priority.low, Priority.planning) == ProblemScale.quick_fix


def test_analyse_gathers_timeline_and_related_incidents(db_session, problem_id):
    from problemflow.models.incident import IncidentCreate
    from problemflow.models.services import incidents

    incidents.create(db_session=db_session, incident_in=IncidentCreate(
        title="Another checkout timeout", service="checkout", category="Application",
        fingerprint="fp-checkout-timeout"))
    evidence = analyse.analyse(db_session=db_session, problem_id=problem_id)
    assert [e.what.split(":")[0] for e in evidence.timeline] == ["opened"] * 3
    assert len(evidence.related) == 1 and evidence.related[0].shared == ["fingerprint", "service and category"]
    problem = db_session.get(Problem, problem_id)
    assert problem.state == ProblemState.root_cause_analysis
    assert problem.analysis.evidence["related"][0]["title"] == "Another checkout timeout"


def test_plan_defaults_follow_priority_and_reject_cycles(db_session, problem_id):
    analyse.analyse(db_session=db_session, problem_id=problem_id)
    rows = plan.plan(db_session=db_session, problem_id=problem_id, has_workaround=True)
    keys = [r.key for r in rows]
    assert keys[0] == "confirm-root-cause" and keys[-1] == "verify-fix"
    assert all(r.owner == "alice" and r.due_date for r in rows)
    assert {r.key: r.depends_on_keys for r in rows}["implement-change"] == ["prepare-fix"]
    with pytest.raises(DependencyCycle):
        plan.plan(db_session=db_session, problem_id=problem_id, tasks_in=[
            ProblemTaskCreate(key="a", title="A", depends_on=["b"]),
            ProblemTaskCreate(key="b", title="B", depends_on=["a"])])


def test_workaround_is_attached_to_open_incidents_once(db_session, problem_id):
    first, attached = workaround.apply_workaround(db_session=db_session, problem_id=problem_id,
                                                  description="Restart the checkout pods")
    again, attached_again = workaround.apply_workaround(db_session=db_session, problem_id=problem_id,
                                                        description="Restart the checkout pods")
    assert first.id == again.id and len(attached) == 3 and attached_again == []
    problem = db_session.get(Problem, problem_id)
    assert {l.incident.workaround_id for l in problem.incident_links} == {first.id}


def test_known_error_signature_recognises_the_next_occurrence(db_session, problem_id):
    problem = db_session.get(Problem, problem_id)
    problem.root_cause_summary = "Connection pool too small"
    ke = known_error.record_known_error(db_session=db_session, problem_id=problem_id, workaround="Restart")
    sig = ke.signature
    assert sig.fingerprints == ["fp-checkout-timeout"] and sig.services == ["checkout"]
    assert sig.labels == {"alertname": "CheckoutTimeout", "severity": "warning"}  # instance is volatile
    assert (sig.category, sig.subcategory, sig.symptom) == ("Application", "Timeout", "HTTP 504")
    assert {"checkout", "timeout", "api"} <= set(sig.keywords) and "pod" in sig.keywords
    assert ke.state == KnownErrorState.published
    known_error.record_known_error(db_session=db_session, problem_id=problem_id, workaround="Restart")
    assert db_session.scalar(select(func.count()).select_from(KnownError)) == 1


def test_change_needs_approval_when_high_impact_and_rejection_replans(db_session, problem_id):
    analyse.analyse(db_session=db_session, problem_id=problem_id)
    plan.plan(db_session=db_session, problem_id=problem_id)
    spec = change.ChangeSpec(title="Raise pool size")
    small = change.raise_change(db_session=db_session, problem_id=problem_id, attempt=1, spec=spec)
    assert not small.needs_approval and small.state == ChangeState.approved
    risky = change.raise_change(db_session=db_session, problem_id=problem_id, attempt=2,
                                spec=spec.model_copy(update={"needs_approval": True}))
    assert risky.state == ChangeState.awaiting_approval
    rejected = change.conclude_approval(db_session=db_session, change_request_id=risky.id, approved=False)
    assert rejected.state == ChangeState.rejected
    assert db_session.get(Problem, problem_id).state == ProblemState.root_cause_analysis
    assert db_session.scalar(select(func.count()).select_from(ChangeRequest)) == 2


def test_rejection_can_close_as_risk_accepted(db_session, problem_id):
    analyse.analyse(db_session=db_session, problem_id=problem_id)
    plan.plan(db_session=db_session, problem_id=problem_id)
    c = change.raise_change(db_session=db_session, problem_id=problem_id, attempt=1,
                            spec=change.ChangeSpec(needs_approval=True))
    change.conclude_approval(db_session=db_session, change_request_id=c.id, approved=False, on_reject="accept_risk")
    problem = db_session.get(Problem, problem_id)
    assert problem.state == ProblemState.closed and problem.closure_code == ClosureCode.risk_accepted


def test_resolve_review_close(db_session, problem_id):
    analyse.analyse(db_session=db_session, problem_id=problem_id)
    analyse.record_root_cause(db_session=db_session, problem_id=problem_id, analysis_in=RootCauseIn(
        root_cause="Pool too small", whys=["why 1"], factors=[FactorIn(category=FactorCategory.technology,
                                                                          description="pool size")]))
    plan.plan(db_session=db_session, problem_id=problem_id)
    known_error.record_known_error(db_session=db_session, problem_id=problem_id)
    c = change.raise_change(db_session=db_session, problem_id=problem_id, attempt=1, spec=change.ChangeSpec())
    change.implement(db_session=db_session, change_request_id=c.id)
    read = resolve.resolve(db_session=db_session, problem_id=problem_id)
    assert read.state == ProblemState.resolved and read.verify_until > read.resolved_at
    problem = db_session.get(Problem, problem_id)
    assert {l.incident.state for l in problem.incident_links} == {IncidentState.resolved}
    assert db_session.scalar(select(KnownError)).state == KnownErrorState.fixed
    r = review.review_and_close(db_session=db_session, problem_id=problem_id, closure=review.Closure(
        manager="carol", lessons="Size pools from load tests", actions=["add a load test"]))
    assert r.metrics["incidents_before_fix"] == 3 and r.metrics["incidents_after_fix"] == 0
    assert r.metrics["time_to_root_cause_hours"] is not None and "carol" in r.participants
    assert problem.state == ProblemState.closed and problem.closure_code == ClosureCode.fix_applied
    db_session.commit()
    db_session.expire_all()  # as read back from the database: plain strings
    title, body = notices.outcome_notice(db_session=db_session, problem_id=problem_id)
    assert title.startswith("PRB0000001 closed (fix_applied): Checkout") and "closure code fix_applied" in body


@pytest.mark.integration
def test_analyse_waits_for_a_slot_of_the_team_wip_limit(prefect_server, db_session, problem_id, monkeypatch):
    import contextvars
    import threading
    import time

    from prefect.concurrency.sync import concurrency

    from problemflow.models.settings import get_settings

    monkeypatch.setattr(get_settings(), "wip_limits", {"payments": 1})
    from problemflow.tasks.problem.wip import ensure_wip_limits

    ensure_wip_limits(limits={"payments": 1})
    finished = threading.Event()
    with concurrency("wip-payments", occupy=1, strict=True):  # the team is at its limit
        # the thread runs in this context, where Prefect's settings name the test server
        # (a bare thread would see none and start a temporary server of its own)
        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run,
                                  args=(lambda: (analyse.analyse_task(problem_id), finished.set()),))
        worker.start()
        time.sleep(3)
        assert not finished.is_set()
    worker.join(timeout=60)
    assert finished.is_set()
    db_session.expire_all()
    assert db_session.get(Problem, problem_id).state == ProblemState.root_cause_analysis
