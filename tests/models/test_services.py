"""Services: records, state changes and the audit trail they leave."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from problemflow.models.change import ApprovalCreate, ChangeRequestCreate
from problemflow.models.enums import (
    ChangeState,
    ClosureCode,
    Decision,
    IncidentState,
    KnownErrorState,
    Priority,
    ProblemState,
    Role,
)
from problemflow.models.errors import IncidentNotFound, OpenDependencies, ProblemNotFound
from problemflow.models.incident import IncidentCreate, IncidentUpdate
from problemflow.models.kedb import KnownErrorCreate, Signature
from problemflow.models.problem import ProblemCreate, ProblemIncident, RootCauseIn
from problemflow.models.services import audit, changes, incidents, kedb, problems
from problemflow.models.states import IllegalTransition


def new_incident(db_session, title="Disk full", **fields):
    return incidents.create(
        db_session=db_session, incident_in=IncidentCreate(title=title, **fields), actor="tester"
    )


def test_incident_priority_comes_from_the_matrix(db_session):
    incident = new_incident(db_session, impact="high", urgency="medium")
    assert incident.priority == Priority.high
    incidents.update(
        db_session=db_session,
        incident=incident,
        incident_in=IncidentUpdate(urgency="low"),
        actor="tester",
    )
    assert incident.priority == Priority.moderate


def test_incident_lifecycle_is_audited_with_from_and_to(db_session):
    incident = new_incident(db_session)
    incidents.transition(db_session=db_session, incident=incident, to_state=IncidentState.in_progress, actor="ana")
    assert incident.acknowledged_at is not None
    incidents.resolve(db_session=db_session, incident=incident, code="fixed", notes="freed space", actor="ana")
    incidents.close(db_session=db_session, incident=incident, actor="ana")
    assert incident.state == IncidentState.closed and incident.closed_at is not None
    trail = audit.list_for(db_session=db_session, record_type="incident", record_id=incident.id)
    assert [(e.action, e.from_state, e.to_state) for e in trail] == [
        ("create", None, "new"),
        ("transition", "new", "in_progress"),
        ("transition", "in_progress", "resolved"),
        ("transition", "resolved", "closed"),
    ]
    assert {e.actor for e in trail[1:]} == {"ana"}


def test_illegal_incident_transition_changes_nothing(db_session):
    incident = new_incident(db_session)
    incidents.close(db_session=db_session, incident=incident)
    with pytest.raises(IllegalTransition):
        incidents.transition(db_session=db_session, incident=incident, to_state=IncidentState.in_progress)
    assert incident.state == IncidentState.closed


def test_close_refuses_while_a_dependency_is_open_and_names_it(db_session):
    blocker = new_incident(db_session, title="Upstream outage")
    dependent = incidents.create(
        db_session=db_session,
        incident_in=IncidentCreate(title="App errors", depends_on=[blocker.id]),
    )
    with pytest.raises(OpenDependencies, match=blocker.number):
        incidents.close(db_session=db_session, incident=dependent, code="fixed")
    assert dependent.state == IncidentState.new
    incidents.resolve(db_session=db_session, incident=blocker, code="fixed")
    incidents.close(db_session=db_session, incident=dependent, code="fixed")
    assert dependent.state == IncidentState.closed


def test_lookup_by_number_or_id_and_named_not_found(db_session):
    incident = new_incident(db_session)
    assert incidents.get_or_raise(db_session=db_session, incident_id=incident.number) is incident
    assert incidents.get_or_raise(db_session=db_session, incident_id=str(incident.id)) is incident
    with pytest.raises(IncidentNotFound, match="INC0000999 not found"):
        incidents.get_or_raise(db_session=db_session, incident_id="INC0000999")
    with pytest.raises(ProblemNotFound):
        problems.get_or_raise(db_session=db_session, problem_id="not-a-number")


def test_problem_links_are_idempotent_and_explained(db_session):
    first, second = new_incident(db_session), new_incident(db_session, title="Disk full again")
    problem = problems.create(
        db_session=db_session,
        problem_in=ProblemCreate(statement="Disks fill up", incident_ids=[first.id]),
        actor="analyst",
    )
    for _ in range(2):
        problems.link_incident(
            db_session=db_session,
            problem=problem,
            incident_id=second.id,
            reason="same fingerprint",
            score=0.9,
            linked_by="recurrence-scan",
            algorithm_version="1",
        )
    db_session.flush()
    links = db_session.scalars(select(ProblemIncident).order_by(ProblemIncident.incident_id)).all()
    assert [(l.incident_id, l.linked_by) for l in links] == [(first.id, "analyst"), (second.id, "recurrence-scan")]
    assert links[1].reason == "same fingerprint" and links[1].algorithm_version == "1"


def test_problem_walks_its_path_and_closing_needs_a_code(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    problems.advance_to(db_session=db_session, problem=problem, to_state=ProblemState.resolved)
    assert problem.root_cause_at is not None and problem.resolved_at is not None
    with pytest.raises(ValueError, match="closure code"):
        problems.transition(db_session=db_session, problem=problem, to_state=ProblemState.closed)
    problems.transition(
        db_session=db_session, problem=problem, to_state=ProblemState.closed, closure_code=ClosureCode.fix_applied
    )
    assert problem.closure_code == ClosureCode.fix_applied
    trail = audit.list_for(db_session=db_session, record_type="problem", record_id=problem.id)
    assert [e.to_state for e in trail if e.action == "transition"] == [
        "assessed", "root_cause_analysis", "fix_in_progress", "resolved", "closed",
    ]


def test_reopening_a_resolved_problem_counts(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    problems.advance_to(db_session=db_session, problem=problem, to_state=ProblemState.resolved)
    problems.transition(db_session=db_session, problem=problem, to_state=ProblemState.root_cause_analysis)
    assert problem.reopen_count == 1 and problem.resolved_at is None


def test_root_cause_is_one_per_problem_and_signed_off_once(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    analysis_in = RootCauseIn(
        root_cause="log rotation disabled",
        whys=["disk full", "logs grew", "rotation off"],
        factors=[{"category": "process", "description": "no config review"}],
    )
    first = problems.record_root_cause(db_session=db_session, problem=problem, analysis_in=analysis_in)
    second = problems.record_root_cause(db_session=db_session, problem=problem, analysis_in=analysis_in)
    assert first is second and len(second.factors) == 1
    problems.sign_off_root_cause(db_session=db_session, problem=problem, manager="mia")
    problems.sign_off_root_cause(db_session=db_session, problem=problem, manager="someone-else")
    assert problem.analysis.signed_off_by == "mia"


def test_known_error_for_a_problem_is_upserted_and_moves_by_its_machine(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    known_in = KnownErrorCreate(
        title="Disk fills", workaround="delete old logs", problem_id=problem.id,
        signature=Signature(fingerprints=["abc"], keywords=["disk"]),
    )
    first = kedb.upsert_for_problem(db_session=db_session, known_error_in=known_in)
    known_in.workaround = "run logrotate"
    second = kedb.upsert_for_problem(db_session=db_session, known_error_in=known_in)
    assert first is second and second.workaround == "run logrotate"
    kedb.transition(db_session=db_session, known_error=second, to_state=KnownErrorState.published)
    with pytest.raises(IllegalTransition):
        kedb.transition(db_session=db_session, known_error=second, to_state=KnownErrorState.draft)


def test_change_is_one_per_attempt_and_approvals_are_audited(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    change_in = ChangeRequestCreate(title="Enable rotation", problem_id=problem.id)
    change = changes.get_or_create(db_session=db_session, change_in=change_in)
    assert changes.get_or_create(db_session=db_session, change_in=change_in) is change
    changes.transition(db_session=db_session, change=change, to_state=ChangeState.awaiting_approval)
    approval = changes.record_approval(
        db_session=db_session,
        approval_in=ApprovalCreate(
            gate="change", decision=Decision.approved, approver="bob",
            role=Role.change_approver, comment="ok", problem_id=problem.id,
            change_request_id=change.id,
        ),
    )
    changes.transition(db_session=db_session, change=change, to_state=ChangeState.approved, actor="bob")
    trail = audit.list_for(db_session=db_session, record_type="change_request", record_id=change.id)
    assert [e.action for e in trail] == ["create", "transition", "approval:change", "transition"]
    assert trail[2].detail["approval_id"] == approval.id and trail[2].actor == "bob"
    assert db_session.scalar(select(func.count()).select_from(type(change))) == 1
