"""What an approver decides on, shown where they answer: the gate's brief.

The brief lists the evidence (the linked incidents, why they were grouped, what the
KEDB already knows; the change request and its approvals; what happened since the
fix) and is published as a Markdown artifact with a stable key per problem and gate.
The gate's form shows it in the description of its first field, which the Prefect
UI's Resume dialog lays out inside the scrolling form (a form's own description
collapses to nothing above a long form).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.incident import NUMBER_PREFIX as INC
from problemflow.models.kedb import KnownErrorIncident
from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX
from problemflow.tasks.common.artifacts import Markdown, publish_markdown
from problemflow.tasks.common.documents import Dossier, render, text_md, when
from problemflow.tasks.kedb.match import query_of, search
from problemflow.tasks.problem.common import STEP_OPTIONS, run_step
from problemflow.tasks.problem.dossier import gather

INCIDENTS_SHOWN = 20
CANDIDATES_SHOWN = 3
INSTRUCTIONS = {
    "root-cause": "Enter the root cause, the five whys, contributing factors, the workaround and the plan, "
                  "then sign off as a **problem manager** with your one-time code. Turn *approve* off to send "
                  "the analysis back.",
    "change": "Approve or reject the change as a **change approver** with your one-time code. Any rejection "
              "rejects; choose whether the problem goes back to planning or is closed as risk accepted.",
    "closure": "Close the problem as a **problem manager** with your one-time code: choose the closure code and "
               "enter the lessons learned for the post-implementation review.",
}
HEADINGS = {"root-cause": "Root-cause sign-off", "change": "Change approval", "closure": "Closure"}


def line_md(value: object) -> str:
    """Outside text on one line of the brief (a line break would end its paragraph)."""
    return " ".join(text_md(value).split())


def brief_key(number: str, gate: str) -> str:
    """``prb0000042-root-cause-brief``: the artifact holding the full brief."""
    return f"{number}-{gate}-brief".lower()


def _incidents(d: Dossier) -> list[dict[str, str]]:
    why = {link.incident_id: link for link in d.links}
    rows = []
    for incident in sorted(d.incidents, key=lambda i: i.last_occurrence_at or i.opened_at, reverse=True):
        link = why.get(incident.id)
        rows.append({
            "number": incident.number, "title": line_md(incident.title), "service": line_md(incident.service),
            "first": when(incident.opened_at), "last": when(incident.last_occurrence_at or incident.opened_at),
            "occurrences": str(incident.occurrence_count),
            "why": line_md(f"{link.reason} ({link.score:.2f}, {link.linked_by})" if link else ""),
        })
    return rows[:INCIDENTS_SHOWN]


def _candidates(db_session: Session, d: Dossier) -> list[dict[str, str]]:
    """The KEDB's best matches for the most recent incident, its own known error excluded."""
    if not d.incidents:
        return []
    latest = max(d.incidents, key=lambda i: i.last_occurrence_at or i.opened_at)
    own = d.known_error.id if d.known_error else None
    found = search(db_session=db_session, top=CANDIDATES_SHOWN + 1, **query_of(latest))
    return [{"number": m.number, "title": line_md(m.title), "state": m.state.value, "score": f"{m.score:.2f}",
             "signals": line_md(m.signals_text)} for m in found if m.known_error_id != own][:CANDIDATES_SHOWN]


def _since_fix(db_session: Session, d: Dossier) -> list[str]:
    """Incidents recognised as the known error since the problem was resolved."""
    resolved = d.problem.resolved_at
    if d.known_error is None or resolved is None:
        return []
    rows = db_session.execute(
        select(KnownErrorIncident.incident_id, KnownErrorIncident.linked_at)
        .where(KnownErrorIncident.known_error_id == d.known_error.id, KnownErrorIncident.linked_at > resolved)
        .order_by(KnownErrorIncident.linked_at)
    ).all()
    return [f"{format_number(INC, incident_id)} on {when(at)}" for incident_id, at in rows]


def gate_brief(*, db_session: Session, problem_id: int, gate: str) -> str:
    """The gate's brief, as Markdown; every text from outside is escaped for Markdown."""
    d = gather(db_session=db_session, problem_id=problem_id)
    p = d.problem
    context: dict[str, Any] = {
        "heading": HEADINGS[gate], "gate": gate, "instructions": INSTRUCTIONS[gate],
        "p": {"number": p.number, "statement": line_md(p.statement), "priority": p.priority.value,
              "state": p.state.value, "team": text_md(p.assignment_group), "opened": when(p.opened_at)},
        "incidents": _incidents(d), "incident_count": len(d.incidents),
        "services": text_md(", ".join(sorted({i.service for i in d.incidents if i.service}))),
        "candidates": _candidates(db_session, d),
        "analysis": None, "change": None, "approvals": [], "since_fix": [],
    }
    if d.analysis is not None:
        evidence = d.analysis.evidence
        context["analysis"] = {"root_cause": line_md(d.analysis.root_cause),
                               "timeline": len(evidence.get("timeline", [])),
                               "related": len(evidence.get("related", []))}
    if gate in ("change", "closure") and d.changes:
        c = d.changes[-1]
        context["change"] = {"number": c.number, "attempt": c.attempt, "title": line_md(c.title), "risk": c.risk.value,
                             "implementation": line_md(c.implementation_plan), "backout": line_md(c.backout_plan),
                             "state": c.state.value}
        context["approvals"] = [
            {"gate": a.gate, "who": text_md(a.approver), "decision": a.decision.value, "when": when(a.decided_at),
             "reason": text_md(a.reason) if a.reason else ""}
            for a in d.approvals if a.change_request_id == c.id
        ]
    if gate == "closure":
        context["since_fix"] = _since_fix(db_session, d)
        context["verify_until"] = when(p.verify_until)
        context["known_error"] = d.known_error.number if d.known_error else "-"
    return render("problem/gate.md.j2", **context)


@task(name="gate-brief", **STEP_OPTIONS)
def gate_brief_task(problem_id: int, gate: str, round_key: str) -> str:
    """The brief of the gate, published as the artifact ``<number>-<gate>-brief``."""
    brief = run_step(gate_brief, problem_id=problem_id, gate=gate)
    number = format_number(NUMBER_PREFIX, problem_id)
    publish_markdown([Markdown(brief, brief_key(number, gate), f"What the {gate} gate of {number} decides on")])
    return brief
