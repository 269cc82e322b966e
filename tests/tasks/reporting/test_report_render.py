"""The KPI report documents: HTML (self-contained, opened in chromium), Markdown and CSV."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from problemflow.models.incident import IncidentCreate
from problemflow.models.services import incidents
from problemflow.tasks.reporting.kpi import Period, Scope, compute_report
from problemflow.tasks.reporting.kpi.render import render_markdown, write_report
from problemflow.tasks.reporting.kpi.schemas import KpiReport

UTC = timezone.utc
START = datetime(2026, 3, 2, tzinfo=UTC)
PERIOD = Period(start=START, end=START + timedelta(days=7))
SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "kpi_report.md"
CHART_NAMES = [
    "incidents_per_day", "incidents_by_priority", "incidents_by_category", "mean_times",
    "sla_breaches", "backlog_age", "mtbf",
]


def external_urls(html: str) -> list[str]:
    """Every http(s) URL outside an XML namespace declaration."""
    without_namespaces = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", html)
    return re.findall(r"https?://[^\s\"'<>)]*", without_namespaces)


@pytest.fixture
def report(db_session) -> KpiReport:
    """Twelve incidents over two weeks on three services; one category tries markup."""
    categories = ["network", "software", "<script>alert(1)</script>"]
    for i in range(12):
        opened = START - timedelta(days=7) + timedelta(hours=29 * i)
        incident = incidents.create(
            db_session=db_session,
            incident_in=IncidentCreate(
                title=f"incident {i}",
                opened_at=opened,
                service=["web", "db", "mail"][i % 3],
                category=categories[i % 3],
                impact=["high", "medium", "low"][i % 3],
                urgency="high",
            ),
        )
        if i % 4:
            incidents.resolve(db_session=db_session, incident=incident, code="fixed")
            incident.resolved_at = opened + timedelta(hours=2 * i)
    db_session.commit()
    return compute_report(db_session=db_session, period=PERIOD)


def test_write_report_makes_three_documents_named_by_period(report, tmp_path):
    files = write_report(report, tmp_path / "out")
    assert files.html.name == "kpi-report-20260302-20260308.html"
    assert all(p.exists() and p.stat().st_size > 0 for p in (files.html, files.markdown, files.csv))
    scoped = report.model_copy(
        update={"current": report.current.model_copy(update={"scope": Scope(team="Net Ops")})}
    )
    assert write_report(scoped, tmp_path).csv.name == "kpi-report-20260302-20260308-net-ops.csv"


def test_html_is_self_contained_and_escapes_what_people_typed(report, tmp_path):
    html = write_report(report, tmp_path).html.read_text()
    assert external_urls(html) == []
    assert not re.search(r"<script|<link|@import|url\(|<img", html, re.I)
    assert html.count("<svg") == len(CHART_NAMES)
    for name in CHART_NAMES:
        assert f'id="chart-{name}"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "@media print" in html


def test_csv_holds_every_number(report, tmp_path):
    rows = list(csv.DictReader(write_report(report, tmp_path).csv.open()))
    by_key = {(r["section"], r["metric"], r["key"]): r for r in rows}
    current = report.current
    assert by_key[("summary", "incidents", "")]["current"] == str(current.incidents.total)
    assert by_key[("summary", "incidents", "")]["previous"] == str(report.previous.incidents.total)
    assert current.incidents.total == 6 and report.previous.incidents.total == 6
    for priority, count in current.incidents.by_priority.items():
        assert by_key[("incidents", "by_priority", priority)]["current"] == str(count)
    for row in current.sla:
        assert by_key[("sla", "breached", row.priority)]["current"] == str(row.breached)
    mttr = float(by_key[("summary", "mean_time_to_resolve_hours", "")]["current"])
    assert mttr == pytest.approx(current.time_to_resolve.mean_hours, abs=1e-6)


def test_markdown_matches_its_snapshot():
    """A report built by hand (no database), so every value and date is fixed."""
    report = KpiReport.model_validate_json((Path(__file__).parents[1] / "snapshots" / "kpi_report.json").read_text())
    text = render_markdown(report)
    assert text == SNAPSHOT.read_text()


@pytest.mark.sqlite_only
def test_chromium_renders_the_charts(report, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    files = write_report(report, tmp_path)
    requests: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(files.html.as_uri())
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            for name in CHART_NAMES:
                chart = page.locator(f"#chart-{name} svg")
                assert chart.is_visible(), name
                box = chart.bounding_box()
                assert box["width"] > 300 and box["height"] > 120, (name, box)
                # pygal drew something: bars, lines or the no-data text
                assert chart.locator("rect, path, text").count() > 5, name
            page.emulate_media(media="print")
            page.screenshot(path=str(tmp_path / "report-print.png"), full_page=True)
            assert page.locator("#chart-sla_breaches svg").bounding_box()["width"] > 200
        finally:
            browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert [url for url in requests if not url.startswith("file://")] == []
