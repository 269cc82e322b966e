"""Problem plans: dependency order, cycle rejection, idempotent re-planning."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from problemflow.models.errors import DependencyCycle
from problemflow.models.problem import ProblemCreate, ProblemTask, ProblemTaskCreate
from problemflow.models.services import problems


def plan(*specs: tuple[str, list[str]]) -> list[ProblemTaskCreate]:
    return [ProblemTaskCreate(key=k, title=f"task {k}", depends_on=d) for k, d in specs]


def test_check_plan_orders_dependencies_first():
    order = problems.check_plan(plan(("deploy", ["test"]), ("test", ["build"]), ("build", [])))
    assert order.index("build") < order.index("test") < order.index("deploy")


def test_check_plan_rejects_a_cycle_and_names_it():
    with pytest.raises(DependencyCycle) as raised:
        problems.check_plan(plan(("a", ["b"]), ("b", ["c"]), ("c", ["a"])))
    assert set(raised.value.path) == {"a", "b", "c"}
    assert "dependency cycle rejected" in str(raised.value)


def test_check_plan_rejects_self_dependency():
    with pytest.raises(DependencyCycle):
        problems.check_plan(plan(("a", ["a"])))


def test_check_plan_rejects_unknown_dependency():
    with pytest.raises(ValueError, match="unknown task"):
        problems.check_plan(plan(("a", ["ghost"])))


def test_check_plan_rejects_duplicate_keys():
    with pytest.raises(ValueError, match="unique"):
        problems.check_plan(plan(("a", []), ("a", [])))


def test_set_plan_twice_keeps_one_row_per_key(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    tasks_in = [
        ProblemTaskCreate(key="rca", title="Find the cause", owner="ana", due_date=date(2026, 12, 1)),
        ProblemTaskCreate(key="fix", title="Fix it", owner="bo", depends_on=["rca"]),
    ]
    problems.set_plan(db_session=db_session, problem=problem, tasks_in=tasks_in)
    tasks_in[1] = ProblemTaskCreate(key="fix", title="Fix it properly", owner="cy", depends_on=["rca"])
    created = problems.set_plan(db_session=db_session, problem=problem, tasks_in=tasks_in)
    count = db_session.scalar(select(func.count()).select_from(ProblemTask))
    assert count == 2
    fix = next(t for t in created if t.key == "fix")
    assert fix.title == "Fix it properly" and fix.owner == "cy"
    assert [d.key for d in fix.depends_on] == ["rca"]


def test_adding_a_dependency_that_closes_a_loop_is_rejected(db_session):
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(statement="p"))
    first, second = problems.set_plan(
        db_session=db_session,
        problem=problem,
        tasks_in=plan(("first", []), ("second", ["first"])),
    )
    with pytest.raises(DependencyCycle):
        problems.add_task_dependency(db_session=db_session, task=first, depends_on=second)
    assert first.depends_on == []
