"""The problem documents: their shape (snapshots), user text kept as data, files written.

Regenerate the golden files after an intended change with
``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/tasks/common/test_documents.py``.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from problemflow.models.audit import AuditEventRead
from problemflow.models.change import ApprovalRead, ChangeRequestRead
from problemflow.models.enums import (
    ChangeState,
    ChangeType,
    ClosureCode,
    Decision,
    FactorCategory,
    IncidentSource,
    IncidentState,
    KnownErrorState,
    Level,
    Priority,
    ProblemScale,
    ProblemState,
    Role,
    TaskStatus,
)
from problemflow.models.incident import IncidentRead
from problemflow.models.kedb import KnownErrorRead, Signature
from problemflow.models.problem import FactorIn, ProblemIncidentRead, ProblemRead, ProblemTaskRead, RootCauseRead
from problemflow.models.review import ReviewRead
from problemflow.tasks.common import documents
from problemflow.tasks.common.documents import Dossier

SNAPSHOTS = Path(__file__).parents[1] / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def at(hours: float) -> datetime:
    from datetime import timedelta

    return T0 + timedelta(hours=hours)


def dossier(statement: str = "Checkout times out under load", comment: str = "tested in staging") -> Dossier:
    problem = ProblemRead(
        id=7, number="PRB0000007", statement=statement, description="Seen | every evening\nat peak",
        scale=ProblemScale.major, impact=Level.high, urgency=Level.medium, owner="pat", assignment_group="payments",
        state=ProblemState.closed, priority=Priority.high, source="recurrence", reopen_count=0, opened_at=T0,
        root_cause_summary="Pool too small", closure_code=ClosureCode.fix_applied, root_cause_at=at(5),
        resolved_at=at(50), closed_at=at(52), verify_until=at(50 + 14 * 24),
    )
    incidents = [IncidentRead(
        id=n, number=f"INC000000{n}", title=f"Checkout API timeout <{n}>", source=IncidentSource.alertmanager,
        service="checkout", priority=Priority.moderate, state=IncidentState.resolved, opened_at=at(-n),
        resolved_at=at(50), occurrence_count=n, impact=Level.medium, urgency=Level.medium,
    ) for n in (1, 2)]
    return Dossier(
        problem=problem,
        incidents=incidents,
        links=[ProblemIncidentRead(problem_id=7, incident_id=n, reason="same fingerprint", score=0.9,
                                   linked_by="scan", linked_at=T0) for n in (1, 2)],
        plan=[ProblemTaskRead(id=1, problem_id=7, key="confirm-root-cause", title="Confirm the root cause",
                              owner="pat", due_date=date(2026, 11, 3), status=TaskStatus.done),
              ProblemTaskRead(id=2, problem_id=7, key="prepare-fix", title="Prepare the fix", owner="ana",
                              due_date=date(2026, 11, 6), status=TaskStatus.todo,
                              depends_on_keys=["confirm-root-cause"])],
        analysis=RootCauseRead(id=1, problem_id=7, root_cause="Pool too small", whys=["Timeouts", "No connections"],
                               evidence={}, analyst="ana", signed_off_by="pat", signed_off_at=at(5),
                               factors=[FactorIn(category=FactorCategory.technology, description="fixed pool")]),
        known_error=KnownErrorRead(
            id=3, number="KE0000003", title=statement, symptoms="HTTP 504", root_cause="Pool too small",
            workaround="Restart the pods", state=KnownErrorState.fixed, problem_id=7, hit_count=0,
            created_at=at(6), updated_at=at(50),
            signature=Signature(fingerprints=["fp-1"], labels={"alertname": "CheckoutTimeout"},
                                services=["checkout"], category="Application", keywords=["checkout", "timeout"])),
        changes=[ChangeRequestRead(
            id=4, number="CHG0000004", problem_id=7, attempt=1, title="Raise the pool to 50",
            description="Pool too small", change_type=ChangeType.normal, risk=Level.medium, needs_approval=True,
            state=ChangeState.implemented, implementation_plan="Roll out v42", backout_plan="Roll back to v41",
            requested_by="ana", implemented_at=at(49), created_at=at(6))],
        approvals=[ApprovalRead(id=1, gate="change", decision=Decision.approved, approver="cab-alex",
                                role=Role.change_approver, comment=comment, problem_id=7, change_request_id=4,
                                decided_at=at(20))],
        review=ReviewRead(id=1, problem_id=7, participants=["ana", "cab-alex", "pat"],
                          metrics={"time_to_root_cause_hours": 5.0, "time_to_fix_hours": 50.0,
                                   "incidents_before_fix": 2, "incidents_after_fix": 0, "services": ["checkout"]},
                          lessons="Size pools from load tests", actions=["Add a load test"], created_at=at(52)),
        audit=[AuditEventRead(id=1, at=T0, actor="scan", action="create", record_type="problem", record_id=7,
                              to_state="new", detail={}),
               AuditEventRead(id=2, at=at(52), actor="pat", action="transition", record_type="problem",
                              record_id=7, from_state="resolved", to_state="closed", detail={})],
        roles={"problem_manager": ["pat"], "change_approver": ["cab-alex"]},
        generated_at=at(53),
    )


@pytest.mark.parametrize("name", documents.DOCUMENTS)
@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_document_matches_its_snapshot(name, fmt):
    rendered = documents.RENDERERS[name](dossier())
    body = getattr(rendered, fmt)
    path = SNAPSHOTS / f"{name}.{'md' if fmt == 'markdown' else 'html'}"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(body, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"snapshot {path.name} was missing and has been written; check it and run again")
    assert body == path.read_text(encoding="utf-8"), f"{path.name} changed; UPDATE_SNAPSHOTS=1 to accept"


@pytest.mark.parametrize("hostile", ["{{ 7*7 }}", "{% raw %}", "{% include 'base.md.j2' %}", "<script>x</script>"])
@pytest.mark.parametrize("name", documents.DOCUMENTS)
def test_user_text_is_data_not_template_code(name, hostile):
    rendered = documents.RENDERERS[name](dossier(statement=f"Title {hostile} end", comment=hostile))
    md, html = rendered.markdown, rendered.html
    literal_md = documents.text_md(hostile)  # as typed, with Markdown's own characters escaped
    assert f"Title {literal_md} end" in md or name == "change-request" and literal_md in md
    assert "49" not in md.replace("2026", "") or "{{ 7*7 }}" not in hostile
    assert "<script>" not in html and "<script>" not in md
    escaped = hostile.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
    assert escaped in html


@pytest.mark.parametrize("hostile", ["[x](javascript:alert(1))", "![x](data:image/png;base64,AAAA)",
                                     "<a href='javascript:x'>y</a>", "**bold** _em_ `code` ~~gone~~", "# Heading\n- item"])
def test_outside_text_never_becomes_markup_or_a_link(hostile):
    """In Markdown documents and artifacts outside text is shown, never rendered: no links,
    images, emphasis, code or blocks (the Prefect UI renders artifacts' Markdown)."""
    from collections import Counter

    import markdown_it

    parser = markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough")
    markup = {"link_open", "image", "em_open", "strong_open", "code_inline", "s_open", "html_inline", "html_block",
              "heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "hr"}

    def kinds(statement: str) -> Counter:
        md = documents.render_kickoff(dossier(statement=statement, comment=statement)).markdown
        tokens = parser.parse(md)
        return Counter(t.type for tok in tokens for t in [tok, *(tok.children or [])] if t.type in markup)

    assert kinds(hostile) == kinds("plain words"), "outside text added markup"


def test_markdown_tables_survive_pipes_and_line_breaks():
    md = documents.render_kickoff(dossier(statement="A | B\nC")).markdown
    assert "A \\| B C" in md


def test_documents_are_written_under_the_problem_folder(tmp_path):
    rendered = documents.render_kickoff(dossier())
    paths = documents.write_document(rendered, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["PRB0000007/kickoff.md", "PRB0000007/kickoff.html"]
    assert paths[0].read_text() == rendered.markdown
    assert documents.artifact_key(rendered) == "prb0000007-kickoff"
