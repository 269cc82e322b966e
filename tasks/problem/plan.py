"""Step 3, plan: the problem's tasks with owners, due dates and dependencies."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Optional, Sequence

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.enums import Priority, ProblemState
from problemflow.models.problem import ProblemTaskCreate, ProblemTaskRead
from problemflow.models.services import problems
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step

# working days allowed for the whole fix, by problem priority
DAYS_BY_PRIORITY = {
    Priority.critical: 2,
    Priority.high: 5,
    Priority.moderate: 10,
    Priority.low: 20,
    Priority.planning: 40,
}


def default_plan(
    *, priority: Priority, owner: Optional[str], team: Optional[str], today: date,
    has_workaround: bool, needs_change: bool = True,
) -> list[ProblemTaskCreate]:
    """The usual plan for a fix, with due dates spread over the priority's budget."""
    budget = DAYS_BY_PRIORITY[Priority(priority)]

    def due(share: float) -> date:
        return today + timedelta(days=max(1, round(budget * share)))

    items = [
        ProblemTaskCreate(key="confirm-root-cause", title="Confirm the root cause with evidence",
                          owner=owner, team=team, due_date=due(0.2)),
    ]
    if has_workaround:
        items.append(ProblemTaskCreate(
            key="communicate-workaround", title="Tell the linked incidents' owners about the workaround",
            owner=owner, team=team, due_date=due(0.2), depends_on=["confirm-root-cause"]))
    items += [
        ProblemTaskCreate(key="publish-known-error", title="Publish the known error record",
                          owner=owner, team=team, due_date=due(0.3), depends_on=["confirm-root-cause"]),
        ProblemTaskCreate(key="prepare-fix", title="Prepare and test the permanent fix",
                          owner=owner, team=team, due_date=due(0.7), depends_on=["confirm-root-cause"]),
    ]
    if needs_change:
        items.append(ProblemTaskCreate(key="implement-change", title="Implement the change request",
                                       owner=owner, team=team, due_date=due(0.9), depends_on=["prepare-fix"]))
    last = "implement-change" if needs_change else "prepare-fix"
    items.append(ProblemTaskCreate(key="verify-fix", title="Verify the fix holds through the verification window",
                                   owner=owner, team=team, due_date=due(1.0), depends_on=[last]))
    return items


def plan(
    *,
    db_session: Session,
    problem_id: int,
    tasks_in: Sequence[ProblemTaskCreate] = (),
    has_workaround: bool = False,
    today: Optional[date] = None,
    actor: str = ACTOR,
) -> list[ProblemTaskRead]:
    """Set the plan (the one given, or the usual one) and start the fix."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    if not tasks_in:
        tasks_in = default_plan(
            priority=Priority(problem.priority), owner=problem.owner, team=problem.assignment_group,
            today=today or date.today(), has_workaround=has_workaround,
        )
    rows = problems.set_plan(db_session=db_session, problem=problem, tasks_in=tasks_in, actor=actor)
    problems.advance_to(db_session=db_session, problem=problem, to_state=ProblemState.fix_in_progress, actor=actor)
    return [
        ProblemTaskRead.model_validate(row).model_copy(update={"depends_on_keys": [d.key for d in row.depends_on]})
        for row in rows
    ]


@task(name="plan", **STEP_OPTIONS)
def plan_task(
    problem_id: int, tasks_in: list[ProblemTaskCreate], has_workaround: bool, attempt: int = 1
) -> list[ProblemTaskRead]:
    """Step 3: plan the fix (tasks, owners, due dates, dependencies)."""
    return run_step(plan, problem_id=problem_id, tasks_in=tasks_in, has_workaround=has_workaround)
