"""/metrics: intake counters and gauges read from the database."""

from __future__ import annotations

import re

from sqlalchemy import inspect, text

from problemflow.models.db import get_engine, session_scope
from problemflow.models.problem import ProblemCreate
from problemflow.models.services import problems
from tests.intake.conftest import alertmanager_payload


def _value(metrics: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)"
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


def test_counters_and_database_gauges(intake, clean_db):
    before = intake.get("/metrics").text
    source = 'source="alertmanager"'
    a = {"fingerprint": "m1", "labels": {"alertname": "A", "severity": "critical"}}
    b = {"fingerprint": "m2", "labels": {"alertname": "B", "severity": "info"}}
    intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(a, b, a))
    intake.post("/v1/alerts/alertmanager", json={"version": "4"})  # refused: 422
    with session_scope(clean_db) as session:
        problems.create(db_session=session, problem_in=ProblemCreate(statement="Disk fills up every week"))
    scan_table = inspect(get_engine(clean_db)).has_table("scan_run")
    if scan_table:
        with get_engine(clean_db).begin() as connection:
            connection.execute(text(
                "INSERT INTO scan_run (mode, status, algorithm_version, started_at, incidents_new, "
                "incidents_considered, links, groups_touched, problems_opened, problems_linked, duration_seconds) "
                "VALUES ('incremental', 'finished', 'v1', CURRENT_TIMESTAMP, 0, 0, 0, 0, 0, 0, 1.25)"
            ))
    after = intake.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    after = after.text
    received = "problemflow_intake_alerts_received_total"
    assert _value(after, received, source) - _value(before, received, source) == 3
    dedup = "problemflow_intake_alerts_deduplicated_total"
    assert _value(after, dedup, source) - _value(before, dedup, source) == 1
    rejected = "problemflow_intake_requests_rejected_total"
    labels = 'reason="invalid",source="alertmanager"'
    assert _value(after, rejected, labels) - _value(before, rejected, labels) == 1
    assert "problemflow_intake_batch_alerts_bucket" in after
    # gauges are cached a few seconds: this scrape may predate the writes above, so ask again fresh
    from problemflow.intake.metrics import DatabaseCollector, render

    fresh = render(DatabaseCollector(get_engine(clean_db))).decode()
    assert _value(fresh, "problemflow_incidents_open", 'priority="1-critical"') == 1
    assert _value(fresh, "problemflow_incidents_open", 'priority="4-low"') == 1
    assert _value(fresh, "problemflow_problems_open", 'state="new"') == 1
    assert _value(fresh, "problemflow_database_up") == 1
    if scan_table:
        assert _value(fresh, "problemflow_scan_last_duration_seconds", 'mode="incremental"') == 1.25
