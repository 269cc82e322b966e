"""The KPI report as documents: self-contained HTML, Markdown and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Optional

from pydantic import BaseModel

from problemflow.tasks.common.documents import render
from problemflow.tasks.common.neutralise import check_overwrite, csv_cell
from problemflow.tasks.reporting import charts
from problemflow.tasks.reporting.kpi.schemas import KpiReport, KpiSnapshot

HTML_TEMPLATE = "report/kpi.html.j2"
MARKDOWN_TEMPLATE = "report/kpi.md.j2"
MISSING = "–"
ARROWS = {"better": "▲ better", "worse": "▼ worse", "same": "= same", "neutral": "• changed", "n/a": ""}

# how each headline metric reads for people: label and kind of number
METRICS: dict[str, tuple[str, str]] = {
    "incidents": ("Incidents opened", "count"),
    "mean_time_to_acknowledge_hours": ("Mean time to acknowledge", "hours"),
    "mean_time_to_resolve_hours": ("Mean time to resolve", "hours"),
    "repeat_rate": ("Repeat incidents", "rate"),
    "problems_opened": ("Problems opened", "count"),
    "problems_closed": ("Problems closed", "count"),
    "problem_backlog": ("Problem backlog at period end", "count"),
    "mean_time_to_root_cause_hours": ("Mean time to root cause", "hours"),
    "mean_time_to_fix_hours": ("Mean time to fix", "hours"),
    "known_errors_added": ("Known errors added", "count"),
    "kedb_hit_rate": ("Resolved with a known error or workaround", "rate"),
    "change_success_rate": ("Change success rate", "rate"),
    "sla_breaches": ("SLA breaches", "count"),
    "sla_breach_rate": ("SLA breach rate", "rate"),
    "fixes_verified": ("Fixes verified", "count"),
    "fixes_reopened": ("Problems reopened by a recurrence", "count"),
}


def fmt_hours(value: Optional[float]) -> str:
    if value is None:
        return MISSING
    if abs(value) >= 48:
        return f"{value / 24:.1f} d"
    return f"{value:.1f} h"


def fmt_rate(value: Optional[float]) -> str:
    return MISSING if value is None else f"{value * 100:.1f} %"


def fmt_count(value: Optional[float]) -> str:
    return MISSING if value is None else f"{value:,.0f}"


def fmt(kind: str, value: Optional[float]) -> str:
    return {"hours": fmt_hours, "rate": fmt_rate, "count": fmt_count}[kind](value)


def fmt_change(kind: str, value: Optional[float]) -> str:
    if value is None:
        return MISSING
    sign = "+" if value > 0 else ("-" if value < 0 else "±")
    if kind == "rate":
        return f"{sign}{abs(value) * 100:.1f} pt"
    return sign + fmt(kind, abs(value))


def summary_rows(report: KpiReport) -> list[dict[str, str]]:
    """The headline table: one formatted row per metric."""
    rows = []
    for item in report.trends:
        label, kind = METRICS[item.metric]
        rows.append(
            {
                "metric": label,
                "current": fmt(kind, item.current),
                "previous": fmt(kind, item.previous),
                "change": fmt_change(kind, item.change),
                "verdict": item.verdict,
                "arrow": ARROWS[item.verdict],
            }
        )
    return rows


def detail(snapshot: KpiSnapshot) -> dict:
    """The detail tables of one period, formatted."""
    return {
        "by_priority": list(snapshot.incidents.by_priority.items()),
        "by_category": list(snapshot.incidents.by_category.items())[:20],
        "categories_left_out": max(0, len(snapshot.incidents.by_category) - 20),
        "sla": [
            (r.priority, fmt_hours(r.target_hours), r.incidents, r.breached, fmt_rate(r.rate))
            for r in snapshot.sla
        ],
        "mtbf": [(m.service, m.incidents, fmt_hours(m.mean_hours_between)) for m in snapshot.mtbf],
        "backlog": list(snapshot.problems.age_buckets.items()),
        "backlog_mean_age": fmt_hours(
            None if snapshot.problems.backlog_mean_age_days is None
            else snapshot.problems.backlog_mean_age_days * 24
        ),
        "waiting_groups": snapshot.problems.waiting_groups,
        "kedb": snapshot.kedb,
        "kedb_hit_rate": fmt_rate(snapshot.kedb.hit_rate),
        "changes": snapshot.changes,
        "change_success_rate": fmt_rate(snapshot.changes.success_rate),
        "fixes": snapshot.fixes,
        "counts": {
            "acknowledged": snapshot.time_to_acknowledge.count,
            "resolved": snapshot.time_to_resolve.count,
            "root_caused": snapshot.time_to_root_cause.count,
            "fixed": snapshot.time_to_fix.count,
        },
    }


def context(report: KpiReport) -> dict:
    current = report.current
    return {
        "title": f"Problem management report, {current.period.label()}",
        "period": current.period.label(),
        "previous_period": report.previous.period.label(),
        "scope": current.scope.label(),
        "generated_at": f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
        "summary": summary_rows(report),
        "detail": detail(current),
    }


def render_html(report: KpiReport) -> str:
    """One HTML file: charts as inline SVG, styles inline, nothing loaded from elsewhere."""
    return render(HTML_TEMPLATE, charts=charts.all_charts(report), **context(report))


def render_markdown(report: KpiReport) -> str:
    return render(MARKDOWN_TEMPLATE, **context(report))


def csv_rows(report: KpiReport) -> list[dict[str, object]]:
    """Every number of the report: section, metric, key, this period, previous period."""
    rows: list[dict[str, object]] = []

    def add(section, metric, key, current, previous):
        rows.append(
            {"section": section, "metric": metric, "key": key, "current": current, "previous": previous}
        )

    now, before = report.current, report.previous
    for item in report.trends:
        add("summary", item.metric, "", item.current, item.previous)
    for priority in sorted(set(now.incidents.by_priority) | set(before.incidents.by_priority)):
        add("incidents", "by_priority", priority,
            now.incidents.by_priority.get(priority, 0), before.incidents.by_priority.get(priority, 0))
    categories = [*now.incidents.by_category]
    categories += [c for c in before.incidents.by_category if c not in now.incidents.by_category]
    for category in categories:
        add("incidents", "by_category", category,
            now.incidents.by_category.get(category, 0), before.incidents.by_category.get(category, 0))
    for day, count in now.incidents.by_day.items():
        add("incidents", "by_day", day, count, "")
    previous_sla = {r.priority: r for r in before.sla}
    for row in now.sla:
        old = previous_sla.get(row.priority)
        add("sla", "incidents", row.priority, row.incidents, old.incidents if old else "")
        add("sla", "breached", row.priority, row.breached, old.breached if old else "")
    for row in now.mtbf:
        add("mtbf", "mean_hours_between", row.service, row.mean_hours_between, "")
    for bucket, count in now.problems.age_buckets.items():
        add("problems", "backlog_age", bucket, count, before.problems.age_buckets.get(bucket, 0))
    return rows


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 6)
    return csv_cell(value)  # services, categories and teams come from outside


def render_csv(report: KpiReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["section", "metric", "key", "current", "previous"])
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


class ReportFiles(BaseModel):
    html: Path
    markdown: Path
    csv: Path


CSV_HEADER = "section,metric,key,current,previous"
GENERATED_BY = "Generated by problemflow"


def write_report(report: KpiReport, out_dir: Path, force: bool = True) -> ReportFiles:
    """Write the three documents under ``out_dir``; named by period so reruns overwrite.
    Without ``force`` a file of the same name that problemflow did not write is kept
    (:class:`NotOurs`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    period = report.current.period
    last = period.end - timedelta(microseconds=1)
    stem = f"kpi-report-{period.start:%Y%m%d}-{last:%Y%m%d}"
    scope = report.current.scope
    for part in (scope.team, scope.service, scope.category):
        if part:
            stem += "-" + "".join(c if c.isalnum() else "-" for c in part.lower())
    files = ReportFiles(
        html=out_dir / f"{stem}.html", markdown=out_dir / f"{stem}.md", csv=out_dir / f"{stem}.csv"
    )
    for path, marker in ((files.html, GENERATED_BY), (files.markdown, GENERATED_BY), (files.csv, CSV_HEADER)):
        check_overwrite(path, marker, force)
    files.html.write_text(render_html(report), encoding="utf-8")
    files.markdown.write_text(render_markdown(report), encoding="utf-8")
    files.csv.write_text(render_csv(report), encoding="utf-8", newline="")
    return files
