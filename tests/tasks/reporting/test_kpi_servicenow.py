"""KPIs on the real ServiceNow event log, checked against numbers read straight from the CSV.

The log (141,712 events, 24,918 incidents) is imported once for the module with
``tasks.servicenow.import_export``. The expected numbers are computed here from
the CSV alone: the final row of each incident (highest ``sys_mod_count``, then
latest update) gives its priority, category and times.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = Path(
    os.environ.get("PROBLEMFLOW_SERVICENOW_LOG", REPO / "../shared/data/incident_event_log.csv.gz")
)
UTC = timezone.utc
ALL_TIME = (datetime(2016, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC))
MARCH = (datetime(2016, 3, 1, tzinfo=UTC), datetime(2016, 4, 1, tzinfo=UTC))
PRIORITY = {"1": "1-critical", "2": "2-high", "3": "3-moderate", "4": "4-low", "5": "5-planning"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"the ServiceNow log is not at {DATA}"),
]


def when(text: str) -> datetime | None:
    if text == "?":
        return None
    return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=UTC)


def final_rows() -> list[dict]:
    """The last state of every incident, straight from the CSV."""
    final: dict[str, tuple] = {}
    with gzip.open(DATA, "rt", encoding="utf-8", newline="") as text:
        for line, row in enumerate(csv.DictReader(text)):
            order = (int(row["sys_mod_count"]), when(row["sys_updated_at"]), line)
            if row["number"] not in final or order > final[row["number"]][0]:
                final[row["number"]] = (order, row)
    rows = []
    for _, row in final.values():
        rows.append(
            {
                "priority": PRIORITY[row["priority"].split("-")[0].strip()],
                "category": None if row["category"] == "?" else " ".join(row["category"].split()),
                "opened": when(row["opened_at"]),
                "resolved": when(row["resolved_at"]),
            }
        )
    return rows


def empty_tables(url: str) -> None:
    """Empty every table of ours, fast also after a large import."""
    from sqlalchemy import text

    from problemflow.models.base import Base
    from problemflow.models.db import get_engine

    engine = get_engine(url)
    tables = list(reversed(Base.metadata.sorted_tables))
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    # row-by-row foreign key checks (incident.recurrence_of_id has no index) make
    # emptying 25,000 incidents take minutes; every table goes, so skip them
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for table in tables:
            connection.execute(table.delete())
        connection.commit()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


@pytest.fixture(scope="module")
def imported(db_url):
    """The log imported once into the emptied test database."""
    from problemflow.models.db import session_scope
    from problemflow.tasks.servicenow import import_export

    empty_tables(db_url)
    with session_scope(db_url) as db_session:
        summary = import_export(db_session=db_session, path=DATA)
    assert summary.incidents == 24_918 and not summary.skipped
    yield db_url
    empty_tables(db_url)


@pytest.fixture(scope="module")
def expected() -> list[dict]:
    return final_rows()


def snapshot(url, bounds, **targets):
    from problemflow.models.db import session_scope
    from problemflow.tasks.reporting.kpi import Period, Scope, compute_snapshot

    with session_scope(url) as db_session:
        return compute_snapshot(
            db_session=db_session,
            period=Period(start=bounds[0], end=bounds[1]),
            scope=Scope(),
            sla_targets=targets or None,
        )


def test_incident_counts_match_the_csv(imported, expected):
    kpis = snapshot(imported, ALL_TIME)
    assert kpis.incidents.total == len(expected) == 24_918
    assert kpis.incidents.by_priority == dict(sorted(Counter(r["priority"] for r in expected).items()))
    by_category = Counter(r["category"] or "(none)" for r in expected)
    assert kpis.incidents.by_category == dict(by_category)
    march = snapshot(imported, MARCH)
    in_march = [r for r in expected if MARCH[0] <= r["opened"] < MARCH[1]]
    assert march.incidents.total == len(in_march)
    assert march.incidents.by_day == dict(sorted(Counter(f"{r['opened']:%Y-%m-%d}" for r in in_march).items()))


def test_mean_time_to_resolve_matches_the_csv(imported, expected):
    kpis = snapshot(imported, ALL_TIME)
    resolved = [
        (r["resolved"] - r["opened"]).total_seconds() / 3600
        for r in expected
        if r["resolved"] is not None and ALL_TIME[0] <= r["resolved"] < ALL_TIME[1]
    ]
    assert kpis.time_to_resolve.count == len(resolved)
    assert kpis.time_to_resolve.mean_hours == pytest.approx(sum(resolved) / len(resolved), rel=1e-9)


def test_sla_breaches_match_the_csv(imported, expected):
    targets = {"1-critical": 8.0, "2-high": 24.0, "3-moderate": 72.0, "4-low": 120.0, "5-planning": 240.0}
    kpis = snapshot(imported, MARCH, **targets)
    counted: Counter = Counter()
    breached: Counter = Counter()
    for r in expected:
        if not MARCH[0] <= r["opened"] < MARCH[1]:
            continue
        counted[r["priority"]] += 1
        finish = r["resolved"] or MARCH[1]
        if (finish - r["opened"]).total_seconds() > targets[r["priority"]] * 3600:
            breached[r["priority"]] += 1
    assert {row.priority: (row.incidents, row.breached) for row in kpis.sla} == {
        p: (counted[p], breached[p]) for p in targets
    }
    assert sum(breached.values()) > 0


def test_report_renders_for_the_whole_log(imported, tmp_path):
    from problemflow.models.db import session_scope
    from problemflow.tasks.reporting.kpi import Period, compute_report
    from problemflow.tasks.reporting.kpi.render import write_report

    with session_scope(imported) as db_session:
        report = compute_report(db_session=db_session, period=Period(start=ALL_TIME[0], end=ALL_TIME[1]))
    files = write_report(report, tmp_path)
    html = files.html.read_text()
    assert html.count("<svg") == 7 and "24,918" in html
