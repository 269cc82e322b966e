"""What the team is told about an escalated incident, and the run's summary document."""

from __future__ import annotations

from typing import Optional

from prefect import task
from pydantic import BaseModel
from sqlalchemy.orm import Session

from problemflow.models.services import incidents, kedb
from problemflow.tasks.common.documents import cell_md, render, text_md, when
from problemflow.tasks.kedb.match import KedbMatch


class ResponseSummary(BaseModel):
    """One incident's response, ready to send and to publish."""

    incident_id: int
    number: str
    priority: str
    known_error: Optional[str] = None
    recipients: str
    notification_title: str
    notification_body: str
    markdown: str
    generated_at: str

    @property
    def artifact_key(self) -> str:
        return f"{self.number.lower()}-response"


def summarize(*, db_session: Session, incident_id: int,
              candidates: list[KedbMatch] | None = None) -> ResponseSummary:
    """Read the incident and its attached known error, and write both texts."""
    from problemflow.models.base import utcnow

    i = incidents.get_or_raise(db_session=db_session, incident_id=incident_id)
    ke = kedb.get(db_session=db_session, known_error_id=i.known_error_id) if i.known_error_id else None
    recipients = " / ".join(x for x in (i.assignment_group, i.owner) if x) or "incident managers"
    generated = when(utcnow())
    facts = [
        ("Priority", i.priority), ("Impact / urgency", f"{i.impact} / {i.urgency}"),
        ("State", i.state), ("Service", i.service), ("Configuration item", i.configuration_item),
        ("Category", " / ".join(x for x in (i.category, i.subcategory) if x) or None),
        ("Owner", i.owner), ("Assignment group", i.assignment_group), ("Source", i.source),
        ("Opened", when(i.opened_at)), ("Responded", when(i.responded_at)),
    ]
    link = next((l for l in ke.incident_links if l.incident_id == i.id), None) if ke else None
    ke_view = None
    if ke is not None:
        signals = ", ".join(f"{k} {v:.2f}" for k, v in (link.matched if link else {}).items())
        ke_view = {"number": ke.number, "title": text_md(ke.title), "score": f"{i.known_error_score or 0:.2f}",
                   "workaround": text_md(ke.workaround or None), "signals": signals}
    others = [c for c in (candidates or []) if c.known_error_id != i.known_error_id]
    markdown = render(
        "incident/response.md.j2", generated_at=generated,
        i={"number": i.number, "title": text_md(i.title)},
        facts=[(label, cell_md(value)) for label, value in facts],
        ke=ke_view,
        candidates=[{"number": c.number, "score": f"{c.score:.2f}", "title": cell_md(c.title)} for c in others],
        description=text_md(i.description) if i.description else "",
    )
    lines = [f"{i.number} needs {recipients}: priority {i.priority}, service {i.service or '-'}."]
    if ke is not None:
        lines.append(f"Known error {ke.number}: {ke.title}")
        if ke.workaround:
            lines.append(f"Workaround: {ke.workaround}")
    else:
        lines.append("No known error matches: diagnosis needed.")
    return ResponseSummary(
        incident_id=i.id, number=i.number, priority=str(i.priority),
        known_error=ke.number if ke else None, recipients=recipients,
        notification_title=f"[{i.priority}] {i.number} for {recipients}: {i.title}",
        notification_body="\n".join(lines), markdown=markdown, generated_at=generated,
    )


@task(name="summarize-response")
def summarize_task(incident_id: int, candidates: list[KedbMatch] | None = None) -> ResponseSummary:
    """Read the incident's response and write its notification and summary."""
    from problemflow.models.db import session_scope

    with session_scope() as db_session:
        return summarize(db_session=db_session, incident_id=incident_id, candidates=candidates)


@task(name="publish-response-summary")
def publish_summary_task(summary: ResponseSummary) -> str:
    """Publish the summary as a Markdown artifact of the run; returns its key."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=summary.markdown, key=summary.artifact_key,
                             description=f"Response to {summary.number}")
    return summary.artifact_key
