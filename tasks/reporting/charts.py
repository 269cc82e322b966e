"""SVG charts of the KPI report, drawn with pygal and embedded inline.

pygal writes standalone SVG with its own stylesheet inside; we switch off its
JavaScript (tooltips need a script from its website) and drop its comments and
configuration script, so a chart is one ``<svg>`` element that needs nothing
from outside and prints as it shows.
"""

from __future__ import annotations

import re
from typing import Optional

import pygal
from pygal.style import Style

from problemflow.tasks.reporting.kpi.schemas import KpiReport

FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#666666",
    colors=("#2b6cb0", "#a0aec0", "#c53030", "#2f855a", "#d69e2e", "#6b46c1"),
    font_family=FONT,
    label_font_family=FONT,
    major_label_font_family=FONT,
    value_font_family=FONT,
    value_label_font_family=FONT,
    tooltip_font_family=FONT,
    title_font_family=FONT,
    legend_font_family=FONT,
    no_data_font_family=FONT,
    title_font_size=15,
    legend_font_size=12,
    label_font_size=11,
    major_label_font_size=11,
    no_data_font_size=24,
    opacity=".85",
    transition="0ms",
)
# within target / breached
SLA_STYLE = Style(**{**STYLE.to_dict(), "colors": ("#2f855a", "#c53030")})
TOP = 10
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _chart(kind, title: str, *, width: int = 640, height: int = 320, style=STYLE, **options):
    return kind(
        title=title,
        style=style,
        width=width,
        height=height,
        js=[],
        disable_xml_declaration=True,
        legend_at_bottom=True,
        print_values=False,
        no_data_text="No data in this period",
        **options,
    )


def to_inline_svg(chart) -> str:
    """The chart as one self-contained ``<svg>`` element."""
    svg = chart.render(is_unicode=True)
    svg = _SCRIPT.sub("", _COMMENT.sub("", svg))
    return svg.replace("<svg ", '<svg role="img" ', 1)


def _round(value: Optional[float], digits: int = 1) -> Optional[float]:
    return None if value is None else round(value, digits)


def incidents_by_priority(report: KpiReport) -> str:
    now, before = report.current.incidents.by_priority, report.previous.incidents.by_priority
    priorities = sorted(set(now) | set(before))
    chart = _chart(pygal.Bar, "Incidents by priority")
    chart.x_labels = priorities
    chart.add("this period", [now.get(p, 0) for p in priorities])
    chart.add("previous period", [before.get(p, 0) for p in priorities])
    return to_inline_svg(chart)


def incidents_by_category(report: KpiReport) -> str:
    top = list(report.current.incidents.by_category.items())[:TOP]
    chart = _chart(pygal.HorizontalBar, f"Incidents by category (top {TOP})", show_legend=False)
    chart.x_labels = [name for name, _ in reversed(top)]
    chart.add("incidents", [count for _, count in reversed(top)])
    return to_inline_svg(chart)


def incidents_per_day(report: KpiReport) -> str:
    days = report.current.incidents.by_day
    chart = _chart(
        pygal.Line,
        "Incidents opened per day",
        show_legend=False,
        x_label_rotation=30,
        show_minor_x_labels=False,
        include_x_axis=True,
        fill=True,
    )
    chart.x_labels = list(days)
    chart.x_labels_major_count = 8
    chart.add("incidents", list(days.values()))
    return to_inline_svg(chart)


def mean_times(report: KpiReport) -> str:
    def series(snapshot):
        return [
            _round(snapshot.time_to_acknowledge.mean_hours),
            _round(snapshot.time_to_resolve.mean_hours),
            _round(snapshot.time_to_root_cause.mean_hours),
            _round(snapshot.time_to_fix.mean_hours),
        ]

    chart = _chart(pygal.Bar, "Mean times (hours)")
    chart.x_labels = ["acknowledge", "resolve", "root cause", "fix"]
    chart.add("this period", series(report.current))
    chart.add("previous period", series(report.previous))
    return to_inline_svg(chart)


def sla_breaches(report: KpiReport) -> str:
    rows = report.current.sla
    chart = _chart(pygal.StackedBar, "Incidents within and past the SLA target", style=SLA_STYLE)
    chart.x_labels = [row.priority for row in rows]
    chart.add("within target", [row.incidents - row.breached for row in rows])
    chart.add("breached", [row.breached for row in rows])
    return to_inline_svg(chart)


def backlog_age(report: KpiReport) -> str:
    buckets = report.current.problems.age_buckets
    chart = _chart(pygal.Bar, "Problem backlog by age at period end", show_legend=False)
    chart.x_labels = list(buckets)
    chart.add("problems", list(buckets.values()))
    return to_inline_svg(chart)


def mtbf(report: KpiReport) -> str:
    rows = report.current.mtbf[:TOP]
    chart = _chart(
        pygal.HorizontalBar, f"Mean time between failures, hours (top {TOP} services)",
        show_legend=False,
    )
    chart.x_labels = [row.service for row in reversed(rows)]
    chart.add("hours", [_round(row.mean_hours_between) for row in reversed(rows)])
    return to_inline_svg(chart)


def all_charts(report: KpiReport) -> dict[str, str]:
    """Every chart of the report, by name, as inline SVG."""
    return {
        "incidents_per_day": incidents_per_day(report),
        "incidents_by_priority": incidents_by_priority(report),
        "incidents_by_category": incidents_by_category(report),
        "mean_times": mean_times(report),
        "sla_breaches": sla_breaches(report),
        "backlog_age": backlog_age(report),
        "mtbf": mtbf(report),
    }
