"""The problem-management flow: from identification to a reviewed, verified fix.

The eight steps of problem management in order, with three human gates.
Steps are idempotent and persist their results, so a run resumed at a gate
(which starts again from the top) skips every step already done.
"""

from __future__ import annotations

from typing import Literal, Optional

from prefect import flow, runtime
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from pydantic import BaseModel, Field, model_validator

from problemflow.flows import gates
from problemflow.flows.deployments import register
from problemflow.models.enums import Level
from problemflow.models.problem import FactorIn, ProblemCreate, ProblemTaskCreate, RootCauseIn
from problemflow.tasks.common.events import OPENED_EVENT
from problemflow.tasks.problem.analyse import analyse_task, root_cause_task
from problemflow.tasks.problem.change import ChangeSpec, conclude_approval_task, implement_task, raise_change_task
from problemflow.tasks.problem.brief import gate_brief_task
from problemflow.tasks.problem.dossier import documents_task
from problemflow.tasks.problem.identify import identify_task, open_problem_task
from problemflow.tasks.problem.known_error import known_error_task
from problemflow.tasks.problem.notices import announce_task
from problemflow.tasks.problem.plan import plan_task
from problemflow.tasks.problem.resolve import resolve_task
from problemflow.tasks.problem.review import Closure, review_task
from problemflow.tasks.problem.workaround import workaround_task

DEPLOYMENT = "problem-management"


class ProblemRun(BaseModel):
    """Which problem to work: an existing one, or a new one from a statement and incidents."""

    problem_id: Optional[int] = Field(default=None, ge=1, description="An existing problem's id (e.g. 42 for PRB0000042)")
    statement: Optional[str] = Field(default=None, max_length=500, description="New problem: what keeps happening")
    incident_ids: list[int] = Field(default_factory=list, description="New problem: ids of the incidents it explains")
    impact: Level = Field(default=Level.medium, description="New problem: business impact")
    urgency: Level = Field(default=Level.medium, description="New problem: urgency")
    owner: Optional[str] = Field(default=None, max_length=120, description="New problem: the problem manager")
    assignment_group: Optional[str] = Field(default=None, max_length=120, description="New problem: the team")

    @model_validator(mode="after")
    def _one_problem(self) -> "ProblemRun":
        if self.problem_id is None and not (self.statement and self.statement.strip()):
            raise ValueError("give an existing problem_id, or a statement (and incident_ids) for a new problem")
        return self


class ProblemOutcome(BaseModel):
    problem_id: int
    outcome: Literal["closed", "risk_accepted"]
    closure_code: str
    documents: list[str]


def _root_cause_in(answer: gates.RootCauseSignOff) -> RootCauseIn:
    return RootCauseIn(root_cause=answer.root_cause, whys=answer.whys, analyst=answer.analyst,
                       factors=[FactorIn(category=f.category, description=f.description) for f in answer.factors])


def _plan_in(answer: gates.RootCauseSignOff) -> list[ProblemTaskCreate]:
    return [ProblemTaskCreate(**item.model_dump()) for item in answer.plan]


def _change_spec(answer: gates.RootCauseSignOff) -> ChangeSpec:
    return ChangeSpec(title=answer.change_title, implementation_plan=answer.implementation_plan,
                      backout_plan=answer.backout_plan, risk=answer.change_risk,
                      needs_approval=answer.needs_change_approval, requested_by=answer.analyst)


def _problem_id(params: ProblemRun) -> int:
    if params.problem_id is not None:
        return params.problem_id
    problem_in = ProblemCreate(statement=params.statement, incident_ids=params.incident_ids, impact=params.impact,
                               urgency=params.urgency, owner=params.owner, assignment_group=params.assignment_group,
                               source="problem-management")
    return open_problem_task(problem_in, opened_key=f"run-{runtime.flow_run.id}")


@flow(name="problem-management", persist_result=True, log_prints=True)
def problem_management(params: ProblemRun) -> ProblemOutcome:
    """Identify, analyse, plan, work around, record the known error, change,
    resolve and review one problem, with sign-offs by the right people."""
    problem_id = _problem_id(params)
    identify_task(problem_id)                                            # 1 identify
    analyse_task(problem_id)                                             # 2 analyse
    documents: list[str] = []
    attempt = 1
    while True:
        brief = gate_brief_task(problem_id, "root-cause", round_key=str(attempt))
        finding = gates.root_cause_sign_off(problem_id=problem_id, round_no=attempt, brief=brief)
        root_cause_task(problem_id, _root_cause_in(finding), answer_key=f"{attempt}")
        plan_task(problem_id, _plan_in(finding), bool(finding.workaround), attempt=attempt)   # 3 plan
        if finding.workaround:
            workaround_task(problem_id, finding.workaround)                                  # 4 workaround
        known_error_task(problem_id, finding.workaround, attempt=attempt)                    # 5 known error
        change = raise_change_task(problem_id, attempt, _change_spec(finding))               # 6 change
        if not change.needs_approval:
            documents += documents_task(problem_id, ["kickoff", "known-error", "change-request"], stage=f"plan-{attempt}")
            break
        documents += documents_task(problem_id, ["kickoff", "known-error"], stage=f"plan-{attempt}")
        brief = gate_brief_task(problem_id, "change", round_key=str(attempt))
        verdict = gates.change_approval(problem_id=problem_id, change_request_id=change.id, attempt=attempt, brief=brief)
        approved = verdict.decision == "approve"
        conclude_approval_task(change.id, approved, verdict.on_reject, reason=verdict.comment)
        documents += documents_task(problem_id, ["change-request"], stage=f"verdict-{attempt}")
        if approved:
            break
        if verdict.on_reject == "accept_risk":
            announce_task(problem_id, verdict.comment)
            return ProblemOutcome(problem_id=problem_id, outcome="risk_accepted", closure_code="risk_accepted",
                                  documents=documents)
        attempt += 1
    implement_task(change.id)
    resolve_task(problem_id)                                             # 7 resolve
    brief = gate_brief_task(problem_id, "closure", round_key="1")
    closing = gates.closure_sign_off(problem_id=problem_id, brief=brief)
    review_task(problem_id, Closure(manager=closing.approver, closure_code=closing.closure_code,
                                    lessons=closing.lessons, actions=closing.actions))   # 8 review
    documents += documents_task(problem_id, ["review", "incident-log"], stage="closure")
    announce_task(problem_id, closing.lessons)
    return ProblemOutcome(problem_id=problem_id, outcome="closed", closure_code=closing.closure_code,
                          documents=documents)


@register
def deployments() -> list:
    """``problem-management``: started from the UI form, by ``problemflow problem run``,
    or by the recurrence scan's ``problemflow.problem.opened`` event."""
    trigger = DeploymentEventTrigger(
        name="problem opened",
        expect={OPENED_EVENT},
        match={"prefect.resource.id": "problemflow.problem.*"},
        parameters={"params": {"__prefect_kind": "json", "value": {
            "__prefect_kind": "jinja", "template": "{{ event.payload | tojson }}"}}},
    )
    return [problem_management.to_deployment(
        name=DEPLOYMENT,
        description="Work one problem through the eight steps, with root-cause, change and closure sign-offs.",
        tags=["problemflow", "problem"],
        triggers=[trigger],
    )]
