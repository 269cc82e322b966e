"""Rendering documents from ``templates/``: one Jinja environment, configured once.

Templates named ``*.html.j2`` are autoescaped; ``*.md.j2`` are not. Values are
formatted in Python before rendering; what users typed is passed as data and
never compiled as template code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@lru_cache
def environment() -> Environment:
    """The one Jinja environment of the project. Markdown templates escape outside text
    with the ``md`` filter (``{{ lane.team | md }}``: :func:`cell_md`)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = cell_md
    return env


def render(template_name: str, **context: Any) -> str:
    """Render one template with already-formatted values."""
    return environment().get_template(template_name).render(**context)


# ---- problem documents ---------------------------------------------------------
# One typed render function per document; each takes a :class:`Dossier` (every
# record of one problem, read from the database by tasks/problem/dossier.py).

import re
from datetime import date, datetime

from pydantic import BaseModel, Field

from problemflow.models.audit import AuditEventRead
from problemflow.models.change import ApprovalRead, ChangeRequestRead
from problemflow.models.incident import IncidentRead
from problemflow.models.kedb import KnownErrorRead, WorkaroundRead
from problemflow.models.problem import ProblemIncidentRead, ProblemRead, ProblemTaskRead, RootCauseRead
from problemflow.models.review import ReviewRead

DOCUMENTS = ("kickoff", "known-error", "change-request", "review", "incident-log")


class Dossier(BaseModel):
    """Everything one problem's documents show."""

    problem: ProblemRead
    incidents: list[IncidentRead] = Field(default_factory=list)
    links: list[ProblemIncidentRead] = Field(default_factory=list)
    plan: list[ProblemTaskRead] = Field(default_factory=list)
    analysis: RootCauseRead | None = None
    workaround: WorkaroundRead | None = None
    known_error: KnownErrorRead | None = None
    changes: list[ChangeRequestRead] = Field(default_factory=list)
    approvals: list[ApprovalRead] = Field(default_factory=list)
    review: ReviewRead | None = None
    audit: list[AuditEventRead] = Field(default_factory=list)
    roles: dict[str, list[str]] = Field(default_factory=dict)
    generated_at: datetime


class Rendered(BaseModel):
    """One document in both formats."""

    name: str
    problem_number: str
    markdown: str
    html: str


# characters that make inline Markdown (emphasis, code, links, images, strike-through)
_MD_INLINE = re.compile(r"([\\`*_\[\]~])")
# what makes a block when it starts a line: headings, quotes, lists, rules
_MD_LINE_START = re.compile(r"^([ \t]*)(?:([#>+=-])(?=[\s#=-]|$)|(\d+)([.)])(?=\s|$))", re.M)


def text_md(value: object) -> str:
    """User text for Markdown: shown as typed, never as markup, a link or HTML."""
    if value is None or value == "":
        return "-"
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_block, text)


def _escape_block(match: re.Match) -> str:
    indent, marker, digits, closer = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{digits}\\{closer}"


def cell_md(value: object) -> str:
    """User text for one Markdown table cell (pipes and line breaks kept out)."""
    return re.sub(r"\s*\n\s*", " ", text_md(value)).replace("|", "\\|")


def when(value: datetime | date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _both(name: str, template: str, number: str, md: dict, html: dict, generated_at: datetime) -> Rendered:
    stamp = when(generated_at)
    return Rendered(
        name=name,
        problem_number=number,
        markdown=render(f"problem/{template}.md.j2", generated_at=stamp, **md),
        html=render(f"problem/{template}.html.j2", generated_at=stamp, **html),
    )


def _problem_facts(p: ProblemRead) -> list[tuple[str, str]]:
    return [
        ("Number", p.number), ("State", p.state.value), ("Priority", p.priority.value),
        ("Impact / urgency", f"{p.impact.value} / {p.urgency.value}"), ("Scale", p.scale.value),
        ("Owner", p.owner or "-"), ("Team", p.assignment_group or "-"), ("Opened", when(p.opened_at)),
    ]


def _view(values: dict, cell) -> dict:
    return {k: cell(v) for k, v in values.items()}


def _both_views(build) -> tuple[dict, dict]:
    """The same context for Markdown (escaped for Markdown) and HTML (autoescaped)."""
    return build(cell_md, text_md), build(lambda v: "-" if v in (None, "") else str(v), lambda v: "" if v is None else str(v))


def render_kickoff(d: Dossier) -> Rendered:
    """The kickoff: statement, scale, linked incidents, plan, roles and priorities."""
    p = d.problem
    services = sorted({i.service for i in d.incidents if i.service})
    opened = sorted(i.opened_at for i in d.incidents)
    span = f", over {(opened[-1] - opened[0]).total_seconds() / 3600:.1f} h" if len(opened) > 1 else ""
    scale_text = (f"{p.scale.value}: {len(d.incidents)} incident(s) on "
                  f"{len(services)} service(s){span}.")

    def build(cell, text):
        return {
            "p": {"number": p.number, "statement": cell(p.statement), "description": text(p.description) if p.description else ""},
            "facts": [(label, cell(value)) for label, value in _problem_facts(p)],
            "scale_text": text(scale_text) if cell is cell_md else scale_text,
            "incidents": [_view({"number": i.number, "opened": when(i.opened_at), "priority": i.priority.value,
                                 "service": i.service, "state": i.state.value, "title": i.title}, cell)
                          for i in d.incidents],
            "plan": [_view({"key": t.key, "title": t.title, "owner": t.owner, "due": when(t.due_date),
                            "depends_on": ", ".join(t.depends_on_keys), "status": t.status.value}, cell)
                     for t in d.plan],
            "roles": [(role, cell(", ".join(people) or "-")) for role, people in sorted(d.roles.items())],
        }

    md, html = _both_views(build)
    return _both("kickoff", "kickoff", p.number, md, html, d.generated_at)


def render_known_error(d: Dossier) -> Rendered:
    """The known-error record as published in the KEDB."""
    if d.known_error is None:
        raise ValueError(f"{d.problem.number} has no known error yet")
    ke = d.known_error
    sig = ke.signature
    signals = [
        ("Fingerprints", ", ".join(sig.fingerprints)), ("Labels", ", ".join(f"{k}={v}" for k, v in sig.labels.items())),
        ("Services", ", ".join(sig.services)), ("Category", sig.category), ("Subcategory", sig.subcategory),
        ("Symptom", sig.symptom), ("Keywords", ", ".join(sig.keywords)),
    ]

    def build(cell, text):
        return {
            "ke": {"number": ke.number, "title": cell(ke.title), "symptoms": text(ke.symptoms),
                   "root_cause": text(ke.root_cause), "workaround": text(ke.workaround) if ke.workaround else ""},
            "facts": [(label, cell(v)) for label, v in (("Problem", d.problem.number), ("State", ke.state.value),
                                                       ("Updated", when(ke.updated_at)), ("Hits", ke.hit_count))],
            "signature": [(label, cell(v)) for label, v in signals],
        }

    md, html = _both_views(build)
    return _both("known-error", "known_error", d.problem.number, md, html, d.generated_at)


def render_change_request(d: Dossier) -> Rendered:
    """The latest change request of the problem, with every approval given."""
    if not d.changes:
        raise ValueError(f"{d.problem.number} has no change request yet")
    c = max(d.changes, key=lambda c: c.attempt)
    approvals = [a for a in d.approvals if a.change_request_id == c.id]

    def build(cell, text):
        return {
            "c": {"number": c.number, "title": cell(c.title), "description": text(c.description) if c.description else "",
                  "implementation_plan": text(c.implementation_plan) if c.implementation_plan else "",
                  "backout_plan": text(c.backout_plan) if c.backout_plan else "", "needs_approval": c.needs_approval},
            "facts": [(label, cell(v)) for label, v in (
                ("Problem", d.problem.number), ("Attempt", c.attempt), ("State", c.state.value),
                ("Type", c.change_type.value), ("Risk", c.risk.value), ("Requested by", c.requested_by),
                ("Implemented", when(c.implemented_at)))],
            "approvals": [_view({"at": when(a.decided_at), "approver": a.approver, "role": a.role.value if a.role else None,
                                 "decision": a.decision.value, "comment": a.comment}, cell) for a in approvals],
        }

    md, html = _both_views(build)
    return _both("change-request", "change_request", d.problem.number, md, html, d.generated_at)


METRIC_LABELS = {
    "time_to_root_cause_hours": "Time to root cause (h)", "time_to_fix_hours": "Time to fix (h)",
    "incidents_before_fix": "Incidents before the fix", "incidents_after_fix": "Incidents after the fix",
    "change_attempts": "Change attempts", "reopen_count": "Reopened", "services": "Services",
}


def render_review(d: Dossier) -> Rendered:
    """The post-implementation review."""
    if d.review is None:
        raise ValueError(f"{d.problem.number} has no review yet")
    r, p, a = d.review, d.problem, d.analysis
    metrics = [(METRIC_LABELS.get(k, k), ", ".join(v) if isinstance(v, list) else v) for k, v in r.metrics.items()]

    def build(cell, text):
        return {
            "p": {"number": p.number, "statement": cell(p.statement)},
            "facts": [(label, cell(value)) for label, value in
                      [*_problem_facts(p), ("Resolved", when(p.resolved_at)), ("Closed", when(p.closed_at)),
                       ("Closure code", p.closure_code.value if p.closure_code else None)]],
            "root_cause": text(a.root_cause if a else p.root_cause_summary),
            "whys": [text(w) for w in (a.whys if a else [])],
            "factors": [(f.category.value, text(f.description)) for f in (a.factors if a else [])],
            "metrics": [(label, cell(v)) for label, v in metrics],
            "participants": text(", ".join(r.participants)),
            "lessons": text(r.lessons) if r.lessons else "",
            "actions": [text(x) for x in r.actions],
            "timeline": [_view({"at": when(e.at), "actor": e.actor,
                                "what": f"{e.action} {e.to_state or ''}".strip()}, cell) for e in d.audit],
        }

    md, html = _both_views(build)
    return _both("review", "review", p.number, md, html, d.generated_at)


def render_incident_log(d: Dossier) -> Rendered:
    """Every incident of the problem, with why it was linked."""
    reasons = {l.incident_id: l.reason for l in d.links}

    def build(cell, text):
        return {
            "p": {"number": d.problem.number, "statement": cell(d.problem.statement)},
            "incidents": [_view({"number": i.number, "opened": when(i.opened_at), "resolved": when(i.resolved_at),
                                 "priority": i.priority.value, "service": i.service, "occurrences": i.occurrence_count,
                                 "state": i.state.value, "title": i.title, "reason": reasons.get(i.id)}, cell)
                          for i in d.incidents],
        }

    md, html = _both_views(build)
    return _both("incident-log", "incident_log", d.problem.number, md, html, d.generated_at)


RENDERERS = {
    "kickoff": render_kickoff,
    "known-error": render_known_error,
    "change-request": render_change_request,
    "review": render_review,
    "incident-log": render_incident_log,
}


def write_document(rendered: Rendered, output_dir: Path | None = None) -> list[Path]:
    """Write ``<output_dir>/<problem number>/<name>.md`` and ``.html``."""
    from problemflow.models.settings import get_settings

    folder = (output_dir or get_settings().output_dir) / rendered.problem_number
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, body in ((".md", rendered.markdown), (".html", rendered.html)):
        path = folder / f"{rendered.name}{suffix}"
        tmp = path.with_suffix(suffix + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


def artifact_key(rendered: Rendered) -> str:
    """``prb0000042-kickoff``: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{rendered.problem_number}-{rendered.name}".lower()).strip("-")


def publish_artifacts(rendered: list[Rendered]) -> list[str]:
    """Publish each document's Markdown as an artifact of the current Prefect run (all at
    once: see ``tasks.artifacts``); returns their keys."""
    from problemflow.tasks.common.artifacts import Markdown, publish_markdown

    documents = [Markdown(doc.markdown, artifact_key(doc), f"{doc.name} of {doc.problem_number}") for doc in rendered]
    publish_markdown(documents)
    return [doc.key for doc in documents]
