"""Reporting flows: the weekly ``kpi-report`` and the ``kanban-board`` snapshot.

``kpi-report`` runs every Monday morning for the week before (or on demand for
any period) and leaves its numbers in the Prefect UI as artifacts; the board is
refreshed every 15 minutes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

from prefect import flow
from pydantic import BaseModel, Field, field_validator

from problemflow.flows.deployments import register
from problemflow.tasks.reporting.board import build_board_task, publish_board_task
from problemflow.tasks.reporting.kpi.publish import publish_report_task, report_dir, write_report_task
from problemflow.tasks.reporting.kpi.render import ReportFiles
from problemflow.tasks.reporting.kpi.report import compute_report_task
from problemflow.tasks.reporting.kpi.schemas import Period, Scope

KPI_DEPLOYMENT = "kpi-report-weekly"
BOARD_DEPLOYMENT = "kanban-board"
WEEKLY = "0 6 * * 1"  # Mondays at 06:00 UTC, for the seven days before


class KpiReportParameters(BaseModel):
    """Which period and which part of the service estate to report on."""

    days: int = Field(default=7, ge=1, le=366, description="Length of the period in days")
    end: Optional[date] = Field(
        default=None, description="Last day included (UTC); empty means yesterday"
    )
    service: Optional[str] = Field(default=None, max_length=200, description="Only this service")
    category: Optional[str] = Field(default=None, max_length=120, description="Only this category")
    team: Optional[str] = Field(default=None, max_length=120, description="Only this team")
    out_dir: Optional[str] = Field(
        default=None, max_length=500,
        description="Directory for the files, inside <home>/output; empty means <home>/output/reports",
    )

    @field_validator("out_dir")
    @classmethod
    def _inside_output(cls, value: Optional[str]) -> Optional[str]:
        report_dir(value)  # raises, naming the directory it must stay inside
        return value

    def period(self, today: Optional[date] = None) -> Period:
        today = today or datetime.now(timezone.utc).date()
        last = self.end or today - timedelta(days=1)
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=timezone.utc)
        return Period(start=end - timedelta(days=self.days), end=end)

    def scope(self) -> Scope:
        return Scope(service=self.service, category=self.category, team=self.team)


@flow(name="kpi-report", log_prints=True)
def kpi_report(params: KpiReportParameters = KpiReportParameters()) -> ReportFiles:
    """Compute the KPIs, write the report, publish the numbers and the board."""
    report = compute_report_task(params.period(), params.scope())
    files = write_report_task(report, params.out_dir)
    publish_report_task(report)
    publish_board_task(build_board_task(params.team), str(report_dir(params.out_dir)))
    print(f"KPI report for {report.current.period.label()}: {files.html}")
    return files


@flow(name="kanban-board")
def kanban_board(team: Optional[str] = None) -> str:
    """Refresh the board artifact and board.html."""
    return publish_board_task(build_board_task(team), str(report_dir(None)))


@register
def deployments() -> list:
    """The weekly report and the board refreshed every 15 minutes."""
    return [
        kpi_report.to_deployment(
            name=KPI_DEPLOYMENT,
            description="KPIs of the past week against the week before: HTML, Markdown, CSV and artifacts.",
            tags=["problemflow", "reporting"],
            cron=WEEKLY,
        ),
        kanban_board.to_deployment(
            name=BOARD_DEPLOYMENT,
            description="Problems and tasks by team and state against the teams' WIP limits.",
            tags=["problemflow", "reporting"],
            interval=timedelta(minutes=15),
        ),
    ]
