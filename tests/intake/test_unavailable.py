"""The database down: 503 with Retry-After, never 2xx; service resumes once it is back."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import create_engine, func, select, text

from models.db import get_engine, session_scope, upgrade
from models.incident import Incident
from tests.conftest import PG_SERVER
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_settings, serve_intake

ALERT = {"fingerprint": "feedfacecafebeef", "labels": {"alertname": "X", "severity": "critical"}}
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def test_stopped_server_is_503_with_retry_after(clean_db):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"
    with serve_intake(intake_settings(url, intake_retry_after_seconds=7)) as base:
        response = httpx.post(f"{base}/v1/alerts/alertmanager", json=alertmanager_payload(ALERT), headers=HEADERS)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert "nothing was stored" in response.json()["detail"]
        metrics = httpx.get(f"{base}/metrics").text
        assert "problemflow_database_up 0.0" in metrics
        assert 'problemflow_intake_requests_rejected_total{reason="unavailable",source="alertmanager"}' in metrics
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive; the answer to alerts is 503


def test_missing_database_then_created_and_migrated(clean_db):
    name = f"problemflow_intake_late_{uuid.uuid4().hex[:8]}"
    url = f"{PG_SERVER}/{name}".replace("postgresql://", "postgresql+psycopg://")
    admin = create_engine(PG_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with serve_intake(intake_settings(url)) as base:
            post = lambda: httpx.post(f"{base}/v1/alerts/alertmanager", json=alertmanager_payload(ALERT), headers=HEADERS)  # noqa: E731
            assert post().status_code == 503
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            upgrade(url)
            answer = post()
            assert answer.status_code == 200, answer.text
        with session_scope(url) as session:
            assert session.scalar(select(func.count()).select_from(Incident)) == 1
    finally:
        get_engine(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_database_without_schema_is_503(clean_db, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    name = f"problemflow_intake_bare_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    pg_url = f"{PG_SERVER}/{name}".replace("postgresql://", "postgresql+psycopg://")
    try:
        for bare in (url, pg_url):
            with serve_intake(intake_settings(bare)) as base:
                post = httpx.post(f"{base}/v1/alerts/alertmanager", json=alertmanager_payload(ALERT), headers=HEADERS)
                assert post.status_code == 503, post.text
                assert "retry-after" in post.headers
            get_engine(bare).dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_killed_writer_process_is_replaced_and_nothing_is_lost(clean_db):
    import multiprocessing
    import os
    import signal
    import time

    def writers() -> list:
        return [p for p in multiprocessing.active_children() if p.name == "problemflow-intake-writer"]

    with serve_intake(intake_settings(clean_db)) as base:
        post = lambda fingerprint: httpx.post(  # noqa: E731
            f"{base}/v1/alerts/alertmanager", headers=HEADERS, timeout=30,
            json=alertmanager_payload({**ALERT, "fingerprint": fingerprint}))
        assert post("before-kill").status_code == 200
        [writer] = writers()
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(10)
        deadline = time.monotonic() + 30
        while not (writers() and httpx.get(f"{base}/healthz").status_code == 200):
            assert time.monotonic() < deadline, "no new writer process after the old one was killed"
            time.sleep(0.2)
        [replacement] = writers()
        assert replacement.pid != writer.pid
        answers = [post("after-kill").status_code for _ in range(3)]
        assert answers == [200, 200, 200]  # one incident, then two occurrences of it
    with session_scope(clean_db) as s:
        incidents = {i.fingerprint: i.occurrence_count for i in s.scalars(select(Incident))}
    assert incidents == {"before-kill": 1, "after-kill": 3}
