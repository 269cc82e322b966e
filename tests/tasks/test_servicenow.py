"""ServiceNow import through ``problemflow import servicenow``: quirks, idempotency, bad rows."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from problemflow.cli import app
from problemflow.models.audit import AuditEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("PROBLEMFLOW_SERVICENOW_LOG", REPO / "../shared/data/incident_event_log.csv.gz"))
HEADER = (
    "number,incident_state,active,reassignment_count,reopen_count,sys_mod_count,made_sla,caller_id,"
    "opened_by,opened_at,sys_created_by,sys_created_at,sys_updated_by,sys_updated_at,contact_type,"
    "location,category,subcategory,u_symptom,cmdb_ci,impact,urgency,priority,assignment_group,"
    "assigned_to,knowledge,u_priority_confirmation,notify,problem_id,rfc,vendor,caused_by,closed_code,"
    "resolved_by,resolved_at,closed_at"
).split(",")


def event(number: str, state: str, mod: int, updated: str, **overrides) -> dict[str, str]:
    row = {column: "?" for column in HEADER}
    row.update(
        number=number, incident_state=state, active="true", reassignment_count="0", reopen_count="0",
        sys_mod_count=str(mod), made_sla="true", caller_id="Caller 2403", opened_by="Opened by  8",
        opened_at="29/2/2016 01:16", sys_created_by="Created by 6", sys_created_at="29/2/2016 01:23",
        sys_updated_by=f"Updated by {mod + 20}", sys_updated_at=updated, contact_type="Phone",
        location="Location 143", category="Category 55", subcategory="Subcategory 170",
        u_symptom="Symptom 72", impact="2 - Medium", urgency="2 - Medium", priority="3 - Moderate",
        assignment_group="Group 56", assigned_to="?", knowledge="true", u_priority_confirmation="false",
        notify="Do Not Notify", problem_id="Problem ID  2", rfc="CHG0000007", caused_by="INC0000999",
        closed_code="code 5", resolved_by="Resolved by 149", resolved_at="29/2/2016 11:29",
        closed_at="5/3/2016 12:00",
    )
    row.update(overrides)
    return row


def write(path: Path, rows: list[dict[str, str]], *, gz: bool = True, raw_lines: list[str] = ()) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buffer.getvalue() + "".join(line + "\n" for line in raw_lines)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def sample_rows() -> list[dict[str, str]]:
    return [
        event("INC0000045", "New", 0, "29/2/2016 01:23"),
        event("INC0000045", "Active", 1, "29/2/2016 08:53"),
        event("INC0000045", "Resolved", 2, "29/2/2016 11:29"),
        event(
            "INC0000047", "New", 0, "1/3/2016 9:05", opened_at="1/3/2016 9:01", impact="1 - High",
            urgency="1 - High", priority="1 - Critical", category="?", u_symptom="Symptom  4",
            resolved_at="?", closed_at="?", assignment_group="?",
        ),
        event(
            "INC0000047", "Awaiting User Info", 1, "1/3/2016 9:30", opened_at="1/3/2016 9:01",
            impact="1 - High", urgency="1 - High", priority="1 - Critical", category="?",
            u_symptom="Symptom  4", resolved_at="?", closed_at="?", assignment_group="?",
        ),
    ]


def run(*args: str):
    result = CliRunner().invoke(app, ["import", "servicenow", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def summary(path: Path) -> dict:
    result = run(str(path), "--json")
    return json.loads(result.stdout)


def test_event_log_collapses_to_incidents_with_quirks_mapped(clean_db, tmp_path):
    data = summary(write(tmp_path / "log.csv.gz", sample_rows()))
    assert data["events_read"] == 5 and data["incidents"] == 2 and data["created"] == 2
    with session_scope() as db:
        first = db.scalar(select(Incident).where(Incident.external_ref == "INC0000045"))
        assert first.state == "resolved"
        assert first.title == "Symptom 72 in Category 55 / Subcategory 170"
        assert (first.impact, first.urgency, first.priority) == ("medium", "medium", "3-moderate")
        assert first.opened_at.isoformat() == "2016-02-29T01:16:00+00:00"
        assert first.closed_at.isoformat() == "2016-03-05T12:00:00+00:00"
        assert first.labels["opened_by"] == "Opened by 8"  # double space collapsed
        assert first.labels["caller"] == "Caller 2403" and first.labels["contact_type"] == "Phone"
        assert first.resolution_code == "code 5" and first.source == "servicenow"
        second = db.scalar(select(Incident).where(Incident.external_ref == "INC0000047"))
        assert second.state == "on_hold" and second.priority == "1-critical" and second.impact == "high"
        assert second.opened_at.isoformat() == "2016-03-01T09:01:00+00:00"
        assert second.category is None and second.assignment_group is None and second.resolved_at is None
        assert second.symptom == "Symptom 4" and second.title == "Symptom 4 in Subcategory 170"
        history = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.record_id == first.id, AuditEvent.action == "servicenow_event")
            .order_by(AuditEvent.at)
        ).all()
        assert [(e.from_state, e.to_state, e.actor) for e in history] == [
            (None, "new", "Updated by 20"), ("new", "in_progress", "Updated by 21"),
            ("in_progress", "resolved", "Updated by 22"),
        ]
        assert history[1].at.isoformat() == "2016-02-29T08:53:00+00:00"


def test_answers_are_never_stored(clean_db, tmp_path):
    run(str(write(tmp_path / "log.csv.gz", sample_rows())))
    with session_scope() as db:
        stored = json.dumps(
            [
                [i.title, i.description, i.labels, i.fingerprint, i.service, i.configuration_item]
                for i in db.scalars(select(Incident))
            ]
            + [e.detail for e in db.scalars(select(AuditEvent))]
        )
    for answer in ("Problem ID", "CHG0000007", "INC0000999"):
        assert answer not in stored


def test_importing_twice_changes_nothing_then_updates_what_moved(clean_db, tmp_path):
    path = write(tmp_path / "log.csv", sample_rows(), gz=False)
    assert summary(path)["created"] == 2
    with session_scope() as db:
        events_before = db.scalar(select(func.count()).select_from(AuditEvent))
    again = summary(path)
    assert (again["created"], again["unchanged"], again["updated"], again["history_events"]) == (0, 2, 0, 0)
    with session_scope() as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == events_before
        assert db.scalar(select(func.count()).select_from(Incident)) == 2
    moved = sample_rows() + [event("INC0000045", "Closed", 3, "5/3/2016 12:00")]
    third = summary(write(tmp_path / "log2.csv", moved, gz=False))
    assert (third["created"], third["unchanged"], third["updated"], third["history_events"]) == (0, 1, 1, 1)
    with session_scope() as db:
        incident = db.scalar(select(Incident).where(Incident.external_ref == "INC0000045"))
        assert incident.state == "closed"


def test_bad_rows_are_reported_with_line_numbers_and_skipped(clean_db, tmp_path):
    rows = sample_rows()
    rows.insert(1, event("INC0000046", "New", 0, "29/2/2016 02:00", opened_at="31/2/2016 01:00"))
    rows.append(event("", "New", 0, "29/2/2016 02:00"))
    rows.append(event("INC0000048", "New", 0, "29/2/2016 02:00", impact="9 - Unknown"))
    path = write(tmp_path / "log.csv.gz", rows, raw_lines=["INC0000049,New,true"])
    result = run(str(path))
    assert result.exit_code == 0
    assert "5 events read -> 2 incidents: 2 created" in result.stdout
    assert "4 rows skipped" in result.stdout
    assert "skipped line 3: opened_at: '31/2/2016 01:00' is not a date" in result.stderr
    assert "skipped line 8: number: missing" in result.stderr
    assert "skipped line 9: impact: '9 - Unknown' is not one of 1 - High, 2 - Medium, 3 - Low" in result.stderr
    assert "skipped line 10: expected 36 columns" in result.stderr


def test_a_file_with_nothing_readable_fails(clean_db, tmp_path):
    path = write(tmp_path / "bad.csv", [event("INC1", "New", 0, "x", opened_at="yesterday")], gz=False)
    result = run(str(path))
    assert result.exit_code == 1
    assert "no row of the file could be read" in result.stderr
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    refused = run(str(other))
    assert refused.exit_code == 2 and "not a ServiceNow incident export" in refused.stderr


def test_the_shared_log_head_imports_without_leaking_answers(clean_db, tmp_path):
    if not DATA.exists():
        pytest.skip(f"the ServiceNow event log is not at {DATA} (set PROBLEMFLOW_SERVICENOW_LOG)")
    with gzip.open(DATA, "rt") as source:
        head = [next(source) for _ in range(3001)]
    path = tmp_path / "head.csv"
    path.write_text("".join(head))
    data = summary(path)
    assert data["events_read"] == 3000 and data["skipped"] == []
    assert data["created"] == data["incidents"] > 100
    with session_scope() as db:
        labels = json.dumps([i.labels for i in db.scalars(select(Incident))])
    assert "Problem ID" not in labels
