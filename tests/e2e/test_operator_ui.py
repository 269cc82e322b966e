"""An operator works a problem end to end in the Prefect UI, in a real browser.

Start ``open-incident`` from its form, start ``problem-management`` for that
incident, and answer each gate in the Resume dialog of the suspended run; then
check the database and the documents. Screenshots of every screen are saved
(``PROBLEMFLOW_SCREENSHOTS`` chooses where; default: the test's tmp dir).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.approvers import Approvers
from tests.e2e.ui import Select, Typed
from tests.waiting import Stop, wait_until

pytestmark = pytest.mark.sqlite_only


def read_state(run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def wait_for_state(run_id: str, states: set[str], timeout: float = 120) -> str:
    def reached(state) -> bool:
        if state and state.name in states:
            return True
        if state and state.is_final():
            raise Stop(f"run {run_id} ended {state.name}: {state.message}")
        return False

    state = wait_until(lambda: read_state(run_id), reached, what=f"run {run_id} in {states}",
                       timeout=timeout, interval=1, show=lambda s: s and s.name)
    return state.name


def wait_at_gate(run_id: str, pause_key: str, timeout: float = 120) -> None:
    """The run waits at exactly this gate (its pause key): not an earlier one asked again."""

    def reached(state) -> bool:
        if state and state.is_paused() and state.state_details.pause_key == pause_key:
            return True
        if state and state.is_final():
            raise Stop(f"run {run_id} ended {state.name} before the gate {pause_key}: {state.message}")
        return False

    wait_until(lambda: read_state(run_id), reached, what=f"run {run_id} waiting at {pause_key}", timeout=timeout,
               interval=1, show=lambda s: s and f"{s.name} {s.state_details.pause_key}")


def wait_deployments(names: set[str], timeout: float = 90) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        wait_until(lambda: {d.name for d in client.read_deployments()}, lambda served: names <= served,
                   what=f"deployments {names} to be served", timeout=timeout, interval=1)


def test_operator_works_a_problem_in_the_prefect_ui(operator, clean_db, problemflow_home):
    from problemflow.models import Approval, Incident, KnownError, Problem, ProblemIncident, Review
    from problemflow.models.db import session_scope
    from problemflow.models.enums import ClosureCode, IncidentState, ProblemState

    wait_deployments({"open-incident", "problem-management"})

    # 1. the service desk opens an incident from the deployment's form
    run_id = operator.custom_run("open-incident", {
        "Title": "Orders database disk above 95%",
        "Description": "Checkout slow; /var/lib/postgresql nearly full",
    })
    wait_for_state(run_id, {"Completed"})
    with session_scope(clean_db) as session:
        incident = session.scalars(select(Incident)).one()
        incident_id, incident_number = incident.id, incident.number
        assert incident.title == "Orders database disk above 95%"
        assert incident.source == "service_desk"

    # 2. a problem manager starts problem management for that incident
    run_id = operator.custom_run("problem-management", {
        "Statement": Typed("str", "Orders database disk keeps filling up"),
        "Incident Ids": [incident_id],
    })
    wait_at_gate(run_id, "root-cause-1r1-1")

    # 3. gate 1: root-cause sign-off, asking for change approval
    approvers = Approvers(clean_db, {"problem_manager": ["mia"], "change_approver": ["bob"]})
    operator.resume(run_id, {
        "Approver": "mia",
        "Code": lambda: approvers.code("mia"),
        "Root Cause": "WAL archiving stalled and kept every segment",
        "Workaround": "Move old WAL segments to the archive volume",
        "Change Title": "Alert on archive lag and repair archive_command",
        "Needs Change Approval": True,
    }, name="root-cause", brief="Root-cause sign-off: PRB")
    wait_at_gate(run_id, "change-1r1-1")

    # 4. gate 2: a change approver approves
    operator.resume(run_id, {"Approver": "bob", "Code": lambda: approvers.code("bob"), "Decision": Select("approve"),
                             "Comment": "Low risk"},
                    name="change", brief="Change approval: PRB")
    wait_at_gate(run_id, "closure-1-1")

    # 5. gate 3: closure after the review
    operator.resume(run_id, {
        "Approver": "mia",
        "Code": lambda: approvers.code("mia"),
        "Closure Code": Select("fix_applied"),
        "Lessons": "Watch archive lag, not only disk usage",
    }, name="closure", brief="Closure: PRB")
    wait_for_state(run_id, {"Completed"}, timeout=180)
    operator.open_run(run_id)
    operator.shot("completed")

    with session_scope(clean_db) as session:
        problem = session.scalars(select(Problem)).one()
        assert problem.state == ProblemState.closed and problem.closure_code == ClosureCode.fix_applied
        assert session.scalar(select(ProblemIncident.incident_id)) == incident_id
        assert session.get(Incident, incident_id).state in (IncidentState.resolved, IncidentState.closed)
        known_error = session.scalars(select(KnownError)).one()
        assert known_error.problem_id == problem.id and "WAL" in known_error.root_cause
        decisions = [(a.gate, a.decision, a.approver, a.method)
                     for a in session.scalars(select(Approval).order_by(Approval.id))]
        assert decisions == [("root-cause", "approved", "mia", "totp"), ("change", "approved", "bob", "totp"),
                             ("closure", "approved", "mia", "totp")]
        assert session.scalar(select(func.count()).select_from(Review)) == 1
        number = problem.number

    folder = problemflow_home / "output" / number
    written = {p.name for p in folder.iterdir()}
    for document in ("kickoff", "known-error", "change-request", "review", "incident-log"):
        assert any(name.startswith(document) and name.endswith(".md") for name in written), (document, written)
        assert any(name.startswith(document) and name.endswith(".html") for name in written), (document, written)
    assert incident_number in (folder / next(n for n in written if n.startswith("incident-log") and n.endswith(".md"))).read_text()
    assert len(operator.taken) >= 10
