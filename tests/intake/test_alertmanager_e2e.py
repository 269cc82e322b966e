"""A real Prometheus Alertmanager delivering to a real intake server."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from problemflow.prefect_server import free_port
from tests.intake.conftest import TOKEN, intake_settings, serve_intake
from tests.waiting import wait_until

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.integration,
    pytest.mark.skipif(ALERTMANAGER is None, reason="needs prometheus-alertmanager (make system-deps)"),
]

CONFIG = """\
route:
  receiver: problemflow
  group_by: ["alertname", "instance"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: problemflow
    webhook_configs:
      - url: {intake}/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""

DB_DOWN = {
    "labels": {"alertname": "PostgresqlDown", "severity": "critical", "instance": "db1:9187", "job": "postgres"},
    "annotations": {"summary": "PostgreSQL on db1 is down"},
}
CRASH = {
    "labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "instance": "node3", "namespace": "shop"},
    "annotations": {"summary": "Pod shop/cart is crash looping"},
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.fixture
def alertmanager(tmp_path, clean_db):
    with serve_intake(intake_settings(clean_db)) as intake:
        port = free_port()
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(intake=intake, token=TOKEN))
        log = open(tmp_path / "alertmanager.log", "wb")
        process = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "alertmanager did not become ready"
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(10)
            log.close()


def _post(url: str, *alerts: dict) -> None:
    response = httpx.post(f"{url}/api/v2/alerts", json=list(alerts), timeout=10)
    assert response.status_code == 200, response.text


def _incidents(db_url: str) -> list[Incident]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def _wait_for(db_url: str, check, timeout: float = 30) -> list[Incident]:
    return wait_until(lambda: _incidents(db_url), check, what="the incidents Alertmanager's alerts make",
                      timeout=timeout, show=lambda found: [(i.title, i.state) for i in found])


def test_alertmanager_delivers_resolves_and_refires(alertmanager, clean_db):
    now = datetime.now(timezone.utc)
    _post(alertmanager, dict(DB_DOWN, startsAt=_iso(now)), dict(CRASH, startsAt=_iso(now)))
    incidents = _wait_for(clean_db, lambda found: len(found) == 2)
    by_name = {i.labels["alertname"]: i for i in incidents}
    db, crash = by_name["PostgresqlDown"], by_name["KubePodCrashLooping"]
    assert (db.category, db.subcategory, db.assignment_group) == ("Database", "Availability", "database")
    assert (db.priority, db.source, db.title) == ("1-critical", "alertmanager", "PostgreSQL on db1 is down")
    assert (crash.category, crash.subcategory, crash.assignment_group) == ("Kubernetes", "Pod crash looping", "platform")
    assert crash.priority == "3-moderate"
    assert len(db.fingerprint) == 16  # Alertmanager's own fingerprint of the label set

    # resolved: endsAt in the past
    ended = datetime.now(timezone.utc) - timedelta(milliseconds=200)
    assert ended > now
    _post(alertmanager, dict(DB_DOWN, startsAt=_iso(now), endsAt=_iso(ended)))
    _wait_for(clean_db, lambda found: any(i.id == db.id and i.state == "resolved" for i in found))

    # fires again: a new incident, linked to the resolved one
    time.sleep(1.5)
    _post(alertmanager, dict(DB_DOWN, startsAt=_iso(datetime.now(timezone.utc))))
    incidents = _wait_for(clean_db, lambda found: len(found) == 3)
    again = incidents[-1]
    assert again.recurrence_of_id == db.id and again.state == "new"
    assert again.fingerprint == db.fingerprint and again.priority == "1-critical"
    crash_now = next(i for i in incidents if i.id == crash.id)
    assert crash_now.state == "new"
