"""Every step, failing transiently once after its work was committed, is retried
and still leaves exactly one record of each kind."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import problemflow.tasks.problem.common as common
from problemflow.models.change import Approval, ChangeRequest
from problemflow.models.db import session_scope
from problemflow.models.enums import ClosureCode, Decision, Role
from problemflow.models.errors import DependencyCycle
from problemflow.models.kedb import KnownError, Workaround
from problemflow.models.problem import (
    FactorIn,
    Problem,
    ProblemCreate,
    ProblemTaskCreate,
    RootCauseAnalysis,
    RootCauseIn,
)
from problemflow.models.review import Review
from problemflow.tasks.problem.analyse import analyse_task, root_cause_task
from problemflow.tasks.problem.change import ChangeSpec, implement_task, raise_change_task
from problemflow.tasks.problem.decisions import record_decision_task
from problemflow.tasks.problem.identify import identify_task, open_problem_task
from problemflow.tasks.problem.known_error import known_error_task
from problemflow.tasks.problem.plan import plan_task
from problemflow.tasks.problem.resolve import resolve_task
from problemflow.tasks.problem.review import Closure, review_task
from problemflow.tasks.problem.workaround import workaround_task
from tests.approvers import Approvers
from tests.tasks.problem.conftest import make_problem

pytestmark = pytest.mark.integration


@pytest.fixture
def flaky(monkeypatch, clean_db):
    """Each step's first transaction commits, then the connection 'drops'."""
    calls: Counter[str] = Counter()
    real = common.session_scope

    @contextmanager
    def scope(url=None):
        with real(clean_db) as session:
            yield session
        calls[current[0]] += 1
        if calls[current[0]] == 1:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    current = [""]
    real_run_step = common.run_step

    def run_step(step, /, **kwargs):
        current[0] = step.__name__
        return real_run_step(step, **kwargs)

    monkeypatch.setattr(common, "session_scope", scope)
    for module in ("identify", "analyse", "plan", "workaround", "known_error", "change", "resolve", "review",
                   "decisions"):
        monkeypatch.setattr(f"problemflow.tasks.problem.{module}.run_step", run_step)
    return calls


def test_each_step_retried_after_a_transient_failure_writes_once(prefect_server, flaky, clean_db):
    with session_scope(clean_db) as s:
        incident_ids = [i for i in _incidents(s)]
    fast = {"retry_delay_seconds": 0}
    problem_id = open_problem_task.with_options(**fast)(
        ProblemCreate(statement="Checkout times out", incident_ids=incident_ids), opened_key="run-test")
    identify_task.with_options(**fast)(problem_id)
    analyse_task.with_options(**fast)(problem_id)
    root_cause_task.with_options(**fast)(problem_id, RootCauseIn(
        root_cause="Pool too small", factors=[FactorIn(category="technology", description="pool")]), answer_key="1")
    code = Approvers(clean_db, {"problem_manager": ["pat"]}).code("pat")
    approval = record_decision_task.with_options(**fast)(
        problem_id=problem_id, gate="root-cause", decision=Decision.approved, approver="pat", code=code,
        role=Role.problem_manager, comment="", flow_run_id="run-test", answer_key="run-test:root-cause-1r1-1")
    assert approval.decision == Decision.approved  # the code, not used up by the failed first try, counted
    plan_task.with_options(**fast)(problem_id, [], True)
    workaround_task.with_options(**fast)(problem_id, "Restart the pods")
    known_error_task.with_options(**fast)(problem_id, "Restart the pods")
    change = raise_change_task.with_options(**fast)(problem_id, 1, ChangeSpec())
    implement_task.with_options(**fast)(change.id)
    resolve_task.with_options(**fast)(problem_id)
    review_task.with_options(**fast)(problem_id, Closure(manager="pat", closure_code=ClosureCode.fix_applied))

    writes = {step: n for step, n in flaky.items() if step != "team_of"}  # team_of only reads
    assert set(writes.values()) == {2} and len(writes) == 12, flaky
    with session_scope(clean_db) as s:
        counts = {m.__name__: s.scalar(select(func.count()).select_from(m))
                  for m in (Problem, RootCauseAnalysis, Workaround, KnownError, ChangeRequest, Review, Approval)}
        assert counts == {"Problem": 1, "RootCauseAnalysis": 1, "Workaround": 1, "KnownError": 1,
                          "ChangeRequest": 1, "Review": 1, "Approval": 1}
        assert s.get(Problem, problem_id).closed_at is not None


def test_a_validation_error_is_not_retried(prefect_server, monkeypatch, clean_db):
    calls = Counter()
    real = common.run_step

    def counting(step, /, **kwargs):
        calls[step.__name__] += 1
        return real(step, **kwargs)

    monkeypatch.setattr("problemflow.tasks.problem.plan.run_step", counting)
    with session_scope(clean_db) as s:
        problem_id = make_problem(s)
    cycle = [ProblemTaskCreate(key="a", title="A", depends_on=["b"]),
             ProblemTaskCreate(key="b", title="B", depends_on=["a"])]
    with pytest.raises(DependencyCycle):
        plan_task.with_options(retry_delay_seconds=0)(problem_id, cycle, False)
    assert calls["plan"] == 1


def _incidents(session):
    from problemflow.models.incident import IncidentCreate
    from problemflow.models.services import incidents

    for n in range(3):
        yield incidents.create(db_session=session, incident_in=IncidentCreate(
            title=f"Checkout timeout {n}", service="checkout", fingerprint=f"fp-{n}")).id
