"""The three human gates of a problem run: their forms, the role check, and waiting.

Each form is a Prefect ``RunInput``: the Prefect UI renders it in the Resume
dialog (toggles for booleans, selects for choices, the brief as Markdown) and
``problemflow approve`` sends the same fields. A run waiting at a gate is
suspended (its process exits); on resume the flow starts again from the top,
every step before the gate returns its persisted result, and the gate returns
the answer stored under its key.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Optional, TypeVar
from uuid import UUID

import pydantic
from prefect import flow_runs, runtime
from prefect.input import RunInput
from pydantic import BaseModel, Field, field_validator

from problemflow.models.enums import Decision, Role
from problemflow.models.services.people import normal_name
from problemflow.models.settings import get_settings
from problemflow.tasks.problem.decisions import record_decision_task
from problemflow.tasks.problem.waiting import GATE_ROLES

F = TypeVar("F", bound=RunInput)


# The proof that the approver is who the form names: a code from their authenticator app.
CODE_FIELD = Field(
    min_length=6, max_length=8, pattern=r"^\s*[0-9]{6,8}\s*$",
    description="The one-time code from your authenticator app (problemflow people enroll); each code counts once",
)


class GateAnswer(RunInput):
    """What every gate's form shares: the approver's name is read as a user name (trimmed,
    lower case), so one person is one approver however they type it."""

    @field_validator("approver", check_fields=False)
    @classmethod
    def _user_name(cls, value: str) -> str:
        return normal_name(value)


class Factor(BaseModel):
    category: Literal["people", "process", "technology", "supplier", "environment"]
    description: str = Field(min_length=1, max_length=2000)


class PlanItem(BaseModel):
    key: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=1, max_length=300)
    owner: Optional[str] = Field(default=None, max_length=120)
    due_date: Optional[date] = None
    depends_on: list[str] = Field(default_factory=list)


class RootCauseSignOff(GateAnswer):
    """The analyst's findings, signed off by a problem manager."""

    approver: str = Field(min_length=1, max_length=120, description="Your user name (needs the **problem_manager** role)")
    code: str = CODE_FIELD
    approve: bool = Field(default=True, description="Sign off this root cause; off sends it back to the analyst")
    root_cause: str = Field(min_length=1, max_length=5000, description="What caused the incidents")
    whys: list[str] = Field(default_factory=list, max_length=10, description="The five whys, in order")
    factors: list[Factor] = Field(default_factory=list, description="Contributing factors by fishbone category")
    analyst: Optional[str] = Field(default=None, max_length=120, description="Who did the analysis")
    workaround: str = Field(default="", max_length=20_000, description="What keeps service going until the fix")
    plan: list[PlanItem] = Field(default_factory=list, description="Tasks of the fix; empty: the usual plan")
    change_title: str = Field(default="", max_length=500, description="The change that carries the fix")
    implementation_plan: str = Field(default="", max_length=20_000)
    backout_plan: str = Field(default="", max_length=20_000)
    change_risk: Literal["high", "medium", "low"] = "medium"
    needs_change_approval: bool = Field(default=False, description="Ask change approvers even for a small fix")
    comment: str = Field(default="", max_length=5000)


class ChangeApproval(GateAnswer):
    """A change approver's verdict on the change request."""

    approver: str = Field(min_length=1, max_length=120, description="Your user name (needs the **change_approver** role)")
    code: str = CODE_FIELD
    decision: Literal["approve", "reject"] = Field(description="Any rejection rejects the change")
    comment: str = Field(default="", max_length=5000)
    on_reject: Literal["replan", "accept_risk"] = Field(
        default="replan", description="After a rejection: back to analysis and planning, or close as risk accepted"
    )


class ClosureSignOff(GateAnswer):
    """A problem manager closes the problem after the review."""

    approver: str = Field(min_length=1, max_length=120, description="Your user name (needs the **problem_manager** role)")
    code: str = CODE_FIELD
    closure_code: Literal["fix_applied", "duplicate", "risk_accepted"] = "fix_applied"
    lessons: str = Field(default="", max_length=20_000, description="What to do better next time")
    actions: list[str] = Field(default_factory=list, description="Follow-up actions")
    comment: str = Field(default="", max_length=5000)


FORMS: dict[str, type[RunInput]] = {"root-cause": RootCauseSignOff, "change": ChangeApproval, "closure": ClosureSignOff}
ROLES: dict[str, Role] = {gate: Role(role) for gate, role in GATE_ROLES.items()}


def _with_brief(form: type[F], brief: str) -> type[F]:
    """The form with the gate's brief where the Resume dialog shows it: the description of
    its first field, which scrolls with the form (the form's own description collapses to
    nothing above a long form). A subclass, so the other fields keep their descriptions."""
    approver = form.model_fields["approver"]
    described = pydantic.create_model(
        form.__name__, __base__=form,
        approver=(str, Field(min_length=1, max_length=120, description=f"{brief}\n\n---\n\n{approver.description}")),
    )
    described._description = "The evidence for this decision is under the first field below."
    return described


# The answers stored on the current run, read in one request: a run resumed at its
# third gate starts again from the top and passes the first two on stored answers.
# Answers are written once and never change, so a hit is always right; a miss reads
# the key itself, since an answer may have arrived since. Each answer keeps the time
# Prefect's server stored it: that is when the approver sent it, and their one-time
# code is checked against that time, not against when a busy machine resumed the run.
Stored = tuple[Any, Optional[datetime]]
_stored: tuple[str, dict[str, Stored]] = ("", {})
_STORED_LIMIT = 500


def _inputs(run_id: str, prefix: str) -> dict[str, Stored]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        found = client.filter_flow_run_input(flow_run_id=UUID(run_id), key_prefix=prefix, limit=_STORED_LIMIT,
                                             exclude_keys=set())
    return {i.key: (i.decoded_value, i.created) for i in found if i.key.endswith("-response")}


def _read_answer(run_id: str, key: str) -> Stored:
    global _stored
    if _stored[0] != run_id:
        _stored = (run_id, _inputs(run_id, ""))
    stored = _stored[1].get(key)
    if stored is not None:
        return stored
    return _inputs(run_id, key).get(key, (None, None))


def answered_ahead(form: type[F], key: str) -> Optional[tuple[F, Optional[datetime]]]:
    """The answer already stored for this gate key, and when it was stored: given on an
    earlier resume of this run, or written ahead (flow run input ``suspended-<key>-response``)
    so the run goes through the gate without stopping. None when there is none or it does
    not fit the form."""
    run_id = str(runtime.flow_run.id)
    for state_name in ("suspended", "paused"):
        value, stored_at = _read_answer(run_id, f"{state_name}-{key}-response")
        if value:
            try:
                return form.model_validate(value), stored_at
            except pydantic.ValidationError as error:
                runtime_logger().warning("stored answer for %s ignored: %s", key, error)
    return None


def runtime_logger():
    from prefect.logging import get_run_logger

    return get_run_logger()


def _wait(form: type[F], key: str, brief: str) -> tuple[F, Optional[datetime]]:
    """The gate's answer and when it was sent (None: just now)."""
    ahead = answered_ahead(form, key)
    if ahead is not None:
        return ahead
    timeout = get_settings().approval_timeout_days * 86_400
    if runtime.deployment.id:
        # the process exits here; the resumed run finds the answer through answered_ahead
        return flow_runs.suspend_flow_run(wait_for_input=_with_brief(form, brief), key=key, timeout=timeout), None
    # a run without a deployment cannot be suspended; it waits in its process and sees the
    # answer within its poll interval of it being sent
    answer = flow_runs.pause_flow_run(wait_for_input=_with_brief(form, brief), key=key, timeout=timeout,
                                      poll_interval=2)
    return answer, None


def ask(
    gate: str,
    *,
    problem_id: int,
    round_key: str,
    brief: str,
    decide,
    change_request_id: Optional[int] = None,
):
    """Wait at ``gate`` until someone with its role answers and proves it; every answer,
    refusals included, is stored with its own key. Returns the valid answer and its decision."""
    form, role = FORMS[gate], ROLES[gate]
    run_id = str(runtime.flow_run.id)
    attempt = 1
    while True:
        key = f"{gate}-{round_key}-{attempt}"
        answer, sent_at = _wait(form, key, brief)
        # the answer counts only with a valid, unused code of the named person, who holds the
        # role; the code is checked against when the answer was sent
        approval = record_decision_task(
            problem_id=problem_id, gate=gate, decision=decide(answer), approver=answer.approver, role=role,
            code=answer.code, comment=answer.comment, flow_run_id=run_id, answer_key=f"{run_id}:{key}",
            change_request_id=change_request_id, sent_at=sent_at,
        )
        if approval.decision != Decision.refused:
            return answer, approval.decision
        attempt += 1


def root_cause_sign_off(*, problem_id: int, round_no: int, brief: str) -> RootCauseSignOff:
    """Gate 1: wait until a problem manager signs off a root cause."""
    rework = 1
    while True:
        answer, decision = ask("root-cause", problem_id=problem_id, round_key=f"{round_no}r{rework}", brief=brief,
                               decide=lambda a: Decision.approved if a.approve else Decision.rejected)
        if decision == Decision.approved:
            return answer
        rework += 1  # sent back to the analyst: ask again under fresh keys


def change_approval(*, problem_id: int, change_request_id: int, attempt: int, brief: str) -> ChangeApproval:
    """Gate 2: approvals from distinct change approvers until enough; any rejection
    rejects. Returns the deciding answer."""
    needed = get_settings().change_approvals_required
    approvers: set[str] = set()
    round_no = 1
    while True:
        answer, decision = ask("change", problem_id=problem_id, round_key=f"{attempt}r{round_no}", brief=brief,
                               change_request_id=change_request_id,
                               decide=lambda a: Decision.approved if a.decision == "approve" else Decision.rejected)
        if decision == Decision.rejected:
            return answer
        approvers.add(answer.approver)
        if len(approvers) >= needed:
            return answer
        round_no += 1


def closure_sign_off(*, problem_id: int, brief: str) -> ClosureSignOff:
    """Gate 3: a problem manager closes the problem."""
    answer, _ = ask("closure", problem_id=problem_id, round_key="1", brief=brief, decide=lambda a: Decision.approved)
    return answer
