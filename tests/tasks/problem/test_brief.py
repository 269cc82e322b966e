"""The gate's brief: the evidence an approver decides on, with outside text kept as text."""

from __future__ import annotations

import re

from problemflow.models.change import ApprovalCreate, ChangeRequestCreate
from problemflow.models.enums import Decision, KnownErrorState, Role
from problemflow.models.kedb import KnownErrorCreate, Signature
from problemflow.models.services import changes, kedb, problems
from problemflow.tasks.problem.brief import gate_brief

from .conftest import make_problem


def test_root_cause_brief_lists_incidents_why_they_belong_and_the_kedb_candidates(db_session):
    problem_id = make_problem(db_session, count=3)
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    for link in problem.incident_links:
        link.reason = "recurrence group rec-1: fingerprint, text 0.91"
    candidate = kedb.create(db_session=db_session, known_error_in=KnownErrorCreate(
        title="Checkout pool exhausted under load", symptoms="Checkout API timeout on pods",
        signature=Signature(services=["checkout"], labels={"alertname": "CheckoutTimeout"})))
    kedb.transition(db_session=db_session, known_error=candidate, to_state=KnownErrorState.published)
    db_session.commit()
    brief = gate_brief(db_session=db_session, problem_id=problem_id, gate="root-cause")
    assert brief.startswith(f"### Root-cause sign-off: PRB{problem_id:07d}")
    for link in problem.incident_links:
        assert f"INC{link.incident_id:07d}" in brief
    assert "Checkout API timeout on pod 0" in brief and "Checkout API timeout on pod 2" in brief
    assert "recurrence group rec-1: fingerprint, text 0.91" in brief
    assert candidate.number in brief and "Checkout pool exhausted under load" in brief
    assert "Incidents: 3" in brief and "checkout" in brief


def test_change_brief_shows_the_change_request_and_its_approvals(db_session):
    problem_id = make_problem(db_session, count=2)
    change = changes.get_or_create(db_session=db_session, change_in=ChangeRequestCreate(
        title="Raise the checkout pool to 50", implementation_plan="Roll out config v42",
        backout_plan="Roll back to v41", problem_id=problem_id, risk="high"))
    changes.record_approval(db_session=db_session, approval_in=ApprovalCreate(
        gate="change", decision=Decision.approved, approver="cab-alex", role=Role.change_approver,
        problem_id=problem_id, change_request_id=change.id, answer_key="run:change-1r1-1"))
    db_session.commit()
    brief = gate_brief(db_session=db_session, problem_id=problem_id, gate="change")
    assert f"#### Change {change.number}" in brief
    for text in ("Raise the checkout pool to 50", "Roll out config v42", "Roll back to v41", "high",
                 "cab-alex approved"):
        assert text in brief, text


def test_outside_text_stays_text_in_the_brief(db_session):
    problem_id = make_problem(db_session, count=1, statement="[click](javascript:alert(1)) <img src=x> **loud**")
    brief = gate_brief(db_session=db_session, problem_id=problem_id, gate="root-cause")
    assert not re.search(r"(?<!\\)\]\(javascript:", brief), brief
    assert "<img" not in brief and "**loud**" not in brief and "\\*\\*loud\\*\\*" in brief
