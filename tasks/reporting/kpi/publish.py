"""Prefect steps that write the KPI report and show its numbers in the Prefect UI."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from prefect import task

from problemflow.models.settings import get_settings
from problemflow.tasks.common.neutralise import confined
from problemflow.tasks.reporting.kpi.render import ReportFiles, render_markdown, write_report
from problemflow.tasks.reporting.kpi.schemas import KpiReport

TABLE_KEY = "kpi-report"
MARKDOWN_KEY = "kpi-report-summary"


def report_dir(out_dir: Optional[str]) -> Path:
    """Where a flow writes report files: ``<home>/output/reports``, or the given directory,
    which must lie inside ``<home>/output`` (a flow parameter comes from anyone who can
    reach Prefect's API; it never names a directory elsewhere)."""
    output = get_settings().output_dir
    return confined(out_dir, output) if out_dir else confined("reports", output)


def summary_table(report: KpiReport) -> list[dict[str, object]]:
    """The headline numbers, unformatted, one row per metric."""
    return [
        {
            "metric": t.metric,
            "current": t.current,
            "previous": t.previous,
            "change": t.change,
            "trend": t.verdict,
        }
        for t in report.trends
    ]


@task(name="write-kpi-report")
def write_report_task(report: KpiReport, out_dir: Optional[str] = None) -> ReportFiles:
    """Write the HTML, Markdown and CSV files (named by period: a rerun overwrites them)."""
    return write_report(report, report_dir(out_dir))


@task(name="publish-kpi-artifacts")
def publish_report_task(report: KpiReport) -> None:
    """The summary as a table artifact and the whole report as a markdown artifact."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    period = report.current.period.label()
    scope = report.current.scope.label()
    create_table_artifact(
        table=summary_table(report), key=TABLE_KEY, description=f"KPIs {period} ({scope})"
    )
    create_markdown_artifact(
        markdown=render_markdown(report), key=MARKDOWN_KEY, description=f"KPI report {period}"
    )
