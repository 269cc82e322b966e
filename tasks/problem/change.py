"""Step 6, change: the change request that carries the fix, its approval and its implementation."""

from __future__ import annotations

from typing import Literal, Optional

from prefect import task
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from problemflow.models.change import ChangeRequestCreate, ChangeRequestRead
from problemflow.models.enums import ChangeState, ChangeType, ClosureCode, Level, ProblemScale, ProblemState
from problemflow.models.services import changes, problems
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step


class ChangeSpec(BaseModel):
    """What the analyst proposes as the fix."""

    title: str = Field(default="", max_length=500, description="Empty: named after the problem")
    description: str = Field(default="", max_length=20_000)
    implementation_plan: str = Field(default="", max_length=20_000)
    backout_plan: str = Field(default="", max_length=20_000)
    risk: Level = Level.medium
    needs_approval: bool = Field(default=False, description="Ask for approval even if not major")
    requested_by: Optional[str] = Field(default=None, max_length=120)


def needs_approval(*, scale: ProblemScale, impact: Level, risk: Level, asked: bool) -> bool:
    """Major or high-impact problems, risky changes, or the analyst's say-so."""
    return asked or ProblemScale(scale) == ProblemScale.major or Level(impact) == Level.high or Level(risk) == Level.high


def raise_change(
    *, db_session: Session, problem_id: int, attempt: int, spec: ChangeSpec, actor: str = ACTOR
) -> ChangeRequestRead:
    """The change for this attempt (created once), sent for approval when it needs one."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    approval = needs_approval(scale=problem.scale, impact=problem.impact, risk=spec.risk, asked=spec.needs_approval)
    change = changes.get_or_create(
        db_session=db_session,
        change_in=ChangeRequestCreate(
            title=spec.title or f"Fix {problem.number}: {problem.statement}"[:500],
            description=spec.description or (problem.root_cause_summary or ""),
            change_type=ChangeType.normal if approval else ChangeType.standard,
            risk=spec.risk,
            needs_approval=approval,
            implementation_plan=spec.implementation_plan,
            backout_plan=spec.backout_plan,
            requested_by=spec.requested_by or actor,
            problem_id=problem.id,
            attempt=attempt,
        ),
        actor=actor,
    )
    if ChangeState(change.state) == ChangeState.draft:
        target = ChangeState.awaiting_approval if change.needs_approval else ChangeState.approved
        reason = "" if change.needs_approval else "standard change, no approval needed"
        changes.transition(db_session=db_session, change=change, to_state=target, actor=actor, reason=reason)
    db_session.flush()
    return ChangeRequestRead.model_validate(change)


def conclude_approval(
    *,
    db_session: Session,
    change_request_id: int,
    approved: bool,
    on_reject: Literal["replan", "accept_risk"] = "replan",
    actor: str = ACTOR,
    reason: str = "",
) -> ChangeRequestRead:
    """Apply the approvers' verdict; a rejection sends the problem back to
    analysis and planning, or closes it as risk accepted."""
    change = changes.get_or_raise(db_session=db_session, change_request_id=change_request_id)
    target = ChangeState.approved if approved else ChangeState.rejected
    if ChangeState(change.state) == ChangeState.awaiting_approval:
        changes.transition(db_session=db_session, change=change, to_state=target, actor=actor, reason=reason)
    if not approved and change.problem_id is not None:
        problem = problems.get_or_raise(db_session=db_session, problem_id=change.problem_id)
        if on_reject == "accept_risk" and ProblemState(problem.state) != ProblemState.closed:
            problems.transition(db_session=db_session, problem=problem, to_state=ProblemState.closed,
                                actor=actor, reason=reason or f"{change.number} rejected",
                                closure_code=ClosureCode.risk_accepted)
        elif on_reject == "replan" and ProblemState(problem.state) == ProblemState.fix_in_progress:
            problems.transition(db_session=db_session, problem=problem,
                                to_state=ProblemState.root_cause_analysis, actor=actor,
                                reason=reason or f"{change.number} rejected; re-planning")
    db_session.flush()
    return ChangeRequestRead.model_validate(change)


def implement(*, db_session: Session, change_request_id: int, actor: str = ACTOR) -> ChangeRequestRead:
    """Mark the approved change implemented (once)."""
    change = changes.get_or_raise(db_session=db_session, change_request_id=change_request_id)
    if ChangeState(change.state) == ChangeState.approved:
        changes.transition(db_session=db_session, change=change, to_state=ChangeState.implemented, actor=actor)
    db_session.flush()
    return ChangeRequestRead.model_validate(change)


@task(name="raise-change", **STEP_OPTIONS)
def raise_change_task(problem_id: int, attempt: int, spec: ChangeSpec) -> ChangeRequestRead:
    """Step 6: raise the change request for this attempt."""
    return run_step(raise_change, problem_id=problem_id, attempt=attempt, spec=spec)


@task(name="conclude-approval", **STEP_OPTIONS)
def conclude_approval_task(
    change_request_id: int, approved: bool, on_reject: Literal["replan", "accept_risk"], reason: str = ""
) -> ChangeRequestRead:
    """Apply the change approvers' verdict."""
    return run_step(conclude_approval, change_request_id=change_request_id, approved=approved,
                    on_reject=on_reject, reason=reason)


@task(name="implement-change", **STEP_OPTIONS)
def implement_task(change_request_id: int) -> ChangeRequestRead:
    """Step 6: the change is implemented."""
    return run_step(implement, change_request_id=change_request_id)
