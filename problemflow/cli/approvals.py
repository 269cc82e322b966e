"""``problemflow approve`` and ``problemflow approvals``: answering and listing the gates."""

from __future__ import annotations

from typing import Optional

import typer

from problemflow.cli.output import print_json, say, print_table, to_jsonable
from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX as PRB


def _factor(text: str) -> dict:
    category, sep, description = text.partition(":")
    if not sep or not description.strip():
        raise ValueError(f"--factor {text!r}: write it as CATEGORY:DESCRIPTION, e.g. process:no capacity review")
    return {"category": category.strip().lower(), "description": description.strip()}


def approve(
    run_id: str = typer.Argument(..., help="The waiting flow run's id (see `problemflow approvals`)"),
    approver: str = typer.Option(..., "--as", help="Who answers; must hold the gate's role"),
    code: str = typer.Option(..., "--code", help="Your one-time code from your authenticator app (each counts once)"),
    reject: bool = typer.Option(False, "--reject", help="Reject (root cause: send back; change: reject)"),
    comment: str = typer.Option("", help="Comment stored with the decision"),
    root_cause: Optional[str] = typer.Option(None, help="Root-cause gate: what caused the incidents"),
    why: Optional[list[str]] = typer.Option(None, "--why", help="Root-cause gate: one of the five whys (repeat)"),
    factor: Optional[list[str]] = typer.Option(None, "--factor", help="Root-cause gate: CATEGORY:DESCRIPTION (repeat)"),
    analyst: Optional[str] = typer.Option(None, help="Root-cause gate: who analysed it"),
    workaround: str = typer.Option("", help="Root-cause gate: the workaround"),
    change_title: str = typer.Option("", help="Root-cause gate: title of the fixing change"),
    implementation_plan: str = typer.Option("", help="Root-cause gate: how the change is implemented"),
    backout_plan: str = typer.Option("", help="Root-cause gate: how it is backed out"),
    risk: str = typer.Option("medium", help="Root-cause gate: change risk high/medium/low"),
    needs_change_approval: bool = typer.Option(False, help="Root-cause gate: ask change approvers"),
    on_reject: str = typer.Option("replan", help="Change gate, with --reject: replan or accept_risk"),
    closure_code: str = typer.Option("fix_applied", help="Closure gate: fix_applied, duplicate or risk_accepted"),
    lessons: str = typer.Option("", help="Closure gate: lessons learned"),
    action: Optional[list[str]] = typer.Option(None, "--action", help="Closure gate: follow-up action (repeat)"),
) -> None:
    """Answer the gate a problem run waits at, as the Prefect UI's Resume dialog does."""
    from problemflow.flows.gates import FORMS, ROLES
    from problemflow.tasks.problem.waiting import gate_of, pause_key_of, people_who_may_answer, resume

    gate = gate_of(pause_key_of(run_id))
    if gate is None:
        raise ValueError(f"flow run {run_id} waits at a pause that is not a problem gate")
    if gate == "root-cause":
        if not root_cause:
            raise ValueError("the root-cause gate needs --root-cause")
        answer = {"approver": approver, "code": code, "approve": not reject, "root_cause": root_cause, "whys": why or [],
                  "factors": [_factor(f) for f in factor or []], "analyst": analyst, "workaround": workaround,
                  "change_title": change_title, "implementation_plan": implementation_plan,
                  "backout_plan": backout_plan, "change_risk": risk, "needs_change_approval": needs_change_approval,
                  "comment": comment}
    elif gate == "change":
        answer = {"approver": approver, "code": code, "decision": "reject" if reject else "approve", "comment": comment,
                  "on_reject": on_reject}
    else:
        answer = {"approver": approver, "code": code, "closure_code": closure_code, "lessons": lessons, "actions": action or [],
                  "comment": comment}
    form = FORMS[gate].model_validate(answer)  # a clear message before anything is sent
    resume(run_id, form.model_dump(mode="json"))
    say(f"answered the {gate} gate of run {run_id} as {approver}")
    if form.approver not in people_who_may_answer(ROLES[gate].value):
        say(f"note: {approver} is not an enrolled, enabled person with the role {ROLES[gate].value}; "
                   "the run records a refusal and waits for a valid answer", err=True)


def approvals(as_json: bool = typer.Option(False, "--json", help="Print a JSON array")) -> None:
    """List problem runs waiting at a gate, oldest first."""
    from problemflow.tasks.common.events import api_configured
    from problemflow.tasks.problem.waiting import waiting_runs

    if not api_configured():
        raise ValueError("PREFECT_API_URL is not set: no Prefect server to ask for waiting runs")
    rows = waiting_runs()
    if as_json:
        print_json(to_jsonable(rows))
        return
    print_table(
        "Runs waiting at a gate",
        ["flow run", "problem", "gate", "waiting (h)", "who can answer"],
        ([w.flow_run_id, format_number(PRB, w.problem_id) if w.problem_id else "-", w.gate or w.pause_key,
          f"{w.waiting_hours:.1f}", ", ".join(w.can_answer) or "-"] for w in rows),
    )


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("approve")(approve)
    root.command("approvals")(approvals)
