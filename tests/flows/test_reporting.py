"""The kpi-report and kanban-board flows against a real Prefect server, and ``problemflow report kpi``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from problemflow.models.enums import ProblemState
from problemflow.models.incident import IncidentCreate
from problemflow.models.problem import ProblemCreate
from problemflow.models.services import incidents, problems

UTC = timezone.utc
EXECUTABLE = Path(sys.executable).parent / "problemflow"


@pytest.fixture
def week(db_session):
    """Four incidents in the week of 2026-03-02 (one breaches), two the week before; one problem."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for i, resolve_hours in enumerate([1, 2, 30, None]):
        incident = incidents.create(
            db_session=db_session,
            incident_in=IncidentCreate(
                title=f"checkout slow {i}", opened_at=start + timedelta(days=i),
                service="shop", category="software", assignment_group="web",
            ),
        )
        if resolve_hours is not None:
            incidents.resolve(db_session=db_session, incident=incident, code="fixed")
            incident.resolved_at = incident.opened_at + timedelta(hours=resolve_hours)
    for i in range(2):
        incidents.create(
            db_session=db_session,
            incident_in=IncidentCreate(title=f"old {i}", opened_at=start - timedelta(days=5 - i), service="shop"),
        )
    problem = problems.create(
        db_session=db_session,
        problem_in=ProblemCreate(statement="checkout slow", assignment_group="web"),
    )
    problems.advance_to(db_session=db_session, problem=problem, to_state=ProblemState.root_cause_analysis)
    problem.opened_at = start
    db_session.commit()
    return db_session


def test_parameters_default_to_the_week_before_today():
    from problemflow.flows.reporting import KpiReportParameters

    period = KpiReportParameters().period(today=date(2026, 3, 9))
    assert (period.start, period.end) == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
    month = KpiReportParameters(days=31, end=date(2026, 1, 31)).period()
    assert month.start == datetime(2026, 1, 1, tzinfo=UTC)


def test_deployments_are_registered_with_their_schedules():
    from problemflow.flows.deployments import all_deployments

    found = {d.name: d for d in all_deployments()}
    weekly = found["kpi-report-weekly"]
    assert weekly.schedules[0].schedule.cron == "0 6 * * 1"
    assert found["kanban-board"].schedules[0].schedule.interval == timedelta(minutes=15)
    from prefect.utilities.callables import parameter_schema

    from problemflow.flows.reporting import kpi_report

    schema = parameter_schema(kpi_report).model_dump()
    fields = schema["definitions"]["KpiReportParameters"]["properties"]
    assert {"days", "end", "service", "category", "team", "out_dir"} <= set(fields)
    assert fields["days"]["maximum"] == 366


def test_kpi_report_flow_writes_files_and_publishes_artifacts(week, prefect_server, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from problemflow.flows.reporting import KpiReportParameters, kpi_report
    from problemflow.models.settings import get_settings

    monkeypatch.setenv("PROBLEMFLOW_WIP_LIMITS", json.dumps({"web": 0}))
    get_settings.cache_clear()
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    try:
        files = kpi_report(KpiReportParameters(end=date(2026, 3, 8), out_dir="weekly"))
    finally:
        get_settings.cache_clear()
    out = tmp_path / "output" / "weekly"
    assert files.csv.parent == out
    rows = {(r["section"], r["metric"], r["key"]): r for r in csv.DictReader(files.csv.open())}
    assert rows[("summary", "incidents", "")]["current"] == "4"
    assert rows[("summary", "incidents", "")]["previous"] == "2"
    # 3-moderate target 24 h: the 30 h one breaches; the open one is 2 days old at the end
    assert rows[("sla", "breached", "3-moderate")]["current"] == "2"
    assert files.html.exists() and (out / "board.html").exists()
    assert 'class="over"' in (out / "board.html").read_text()
    with get_client(sync_client=True) as client:
        found = {
            a.key: a
            for a in reversed(
                client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        key=ArtifactFilterKey(any_=["kpi-report", "kpi-report-summary", "kanban-board"])
                    ),
                    sort=ArtifactSort.CREATED_DESC,
                )
            )
        }
    assert set(found) == {"kpi-report", "kpi-report-summary", "kanban-board"}
    table = found["kpi-report"].data
    table = json.loads(table) if isinstance(table, str) else table
    incidents_row = next(r for r in table if r["metric"] == "incidents")
    assert (incidents_row["current"], incidents_row["previous"], incidents_row["trend"]) == (4, 2, "worse")
    assert "| Incidents opened | 4 | 2 | +2 |" in found["kpi-report-summary"].data
    assert "Over the WIP limit: web" in found["kanban-board"].data


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXECUTABLE), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_out_dir_outside_the_output_root_is_refused(tmp_path, monkeypatch):
    """A flow parameter comes from anyone who reaches Prefect's API: it never names a
    directory outside <home>/output, whether from the UI form or the API."""
    import pydantic

    from problemflow.flows.reporting import KpiReportParameters
    from problemflow.models.settings import get_settings

    monkeypatch.setattr(get_settings(), "home", tmp_path)
    for hostile in ("../../../etc", "/etc", str(tmp_path), "reports/../../x", "a\x00b"):
        with pytest.raises(pydantic.ValidationError, match="outside|NUL"):
            KpiReportParameters(out_dir=hostile)
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "escape").symlink_to("/tmp")
    with pytest.raises(pydantic.ValidationError, match="outside"):
        KpiReportParameters(out_dir="escape")
    assert KpiReportParameters(out_dir="team-a/weekly").out_dir == "team-a/weekly"


def test_report_kpi_command(week, tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    out = tmp_path / "reports"
    result = cli("report", "kpi", "--from", "2026-03-02", "--to", "2026-03-08", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "Incidents opened" in result.stdout and "kpi-report-20260302-20260308.html" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "kpi-report-20260302-20260308.csv",
        "kpi-report-20260302-20260308.html",
        "kpi-report-20260302-20260308.md",
    ]
    scoped = cli(
        "report", "kpi", "--from", "2026-03-02", "--to", "2026-03-08", "--team", "web",
        "--out", str(out), "--json", env=env,
    )
    data = json.loads(scoped.stdout)
    assert data["current"]["incidents"]["total"] == 4 and data["previous"]["incidents"]["total"] == 0
    assert data["current"]["problems"]["backlog"] == 1
    assert data["files"]["html"].endswith("kpi-report-20260302-20260308-web.html")


def test_report_kpi_rejects_a_backwards_period(db_url, tmp_path):
    env = {**os.environ}
    result = cli("report", "kpi", "--from", "2026-03-08", "--to", "2026-03-02", "--out", str(tmp_path), env=env)
    assert result.returncode == 1
    assert "--to (2026-03-02) is before --from (2026-03-08)" in result.stderr
    assert list(tmp_path.iterdir()) == []
    bad = cli("report", "kpi", "--from", "March", env=env)
    assert bad.returncode == 2 and "--from" in bad.stderr


def test_kanban_board_flow_refreshes_the_page_and_artifact(week, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from problemflow.flows.reporting import kanban_board

    page = Path(kanban_board(team="web"))
    assert page.name == "board.html" and "checkout slow" in page.read_text()
    with get_client(sync_client=True) as client:
        counts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["kanban-board-counts"])),
            sort=ArtifactSort.CREATED_DESC,
        )
    table = counts[0].data
    table = json.loads(table) if isinstance(table, str) else table
    row = next(r for r in table if r["column"] == "root_cause_analysis")
    assert (row["team"], row["cards"]) == ("web", 1)


def test_a_lost_database_connection_is_retried(week, prefect_server, tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import problemflow.tasks.reporting.kpi.report as report_module
    from problemflow.flows.reporting import KpiReportParameters, kpi_report
    from problemflow.models.settings import get_settings

    real = report_module.compute_report
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(**kwargs)

    monkeypatch.setattr(report_module, "compute_report", flaky)
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    files = kpi_report(KpiReportParameters(end=date(2026, 3, 8)))
    assert len(calls) == 2 and files.csv.exists()
