"""The database down: 503 with Retry-After, never 2xx; service resumes once it is back."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import httpx
from sqlalchemy import create_engine, func, select, text

from problemflow.models.db import get_engine, session_scope, upgrade
from problemflow.models.incident import Incident
from tests.conftest import PG_SERVER
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_settings, serve_intake
from tests.waiting import wait_until

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


@contextmanager
def write_lock(db_url: str) -> Iterator[None]:
    """Another client holds the write lock: SQLite's database lock, PostgreSQL's table lock."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            if db_url.startswith("sqlite"):
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("BEGIN")
                connection.exec_driver_sql("LOCK TABLE incident IN ACCESS EXCLUSIVE MODE")
            yield
            connection.rollback()
    finally:
        engine.dispose()


def wait_for_health(base: str, expected: int, seconds: float = 20) -> None:
    wait_until(lambda: httpx.get(f"{base}/healthz"), lambda seen: seen.status_code == expected,
               what=f"/healthz to answer {expected}", timeout=seconds, interval=0.1,
               show=lambda seen: f"{seen.status_code} {seen.text}")


def test_a_locked_database_never_wedges_the_intake(clean_db):
    """A writer blocked by someone else's lock answers within the write timeout, refuses
    new requests at once while behind, says so on /healthz, and recovers by itself."""
    settings = intake_settings(clean_db, intake_write_timeout_seconds=3, intake_shed_after_seconds=0.5)
    with serve_intake(settings) as base:
        post = lambda fingerprint: httpx.post(  # noqa: E731
            f"{base}/v1/alerts/alertmanager", headers=HEADERS, timeout=30,
            json=alertmanager_payload({**ALERT, "fingerprint": fingerprint}))
        assert post("before").status_code == 200
        with write_lock(clean_db):
            started = time.monotonic()
            held = post("held")
            held_after = time.monotonic() - started
            assert held.status_code == 503, held.text
            assert held.json()["stored"] == "maybe" and "retrying is safe" in held.json()["detail"]
            assert held_after < 3 + 2, f"the held request was answered after {held_after:.1f} s"
            started = time.monotonic()
            shed = post("shed")
            shed_after = time.monotonic() - started
            assert shed.status_code == 503 and shed.headers["retry-after"], shed.text
            assert shed.json()["stored"] == "nothing", shed.text
            assert shed_after < 1.5, f"a request while the writer is behind waited {shed_after:.1f} s"
            unhealthy = httpx.get(f"{base}/healthz")
            assert unhealthy.status_code == 503 and "no progress" in unhealthy.json()["detail"], unhealthy.text
        wait_for_health(base, 200)
        assert post("after").status_code == 200
        assert post("shed").status_code == 200
    with session_scope(clean_db) as s:
        incidents = {i.fingerprint: i.occurrence_count for i in s.scalars(select(Incident))}
    # the held alert was refused, or stored once if its batch ran after the lock: never twice
    assert {k: v for k, v in incidents.items() if k != "held"} == {"before": 1, "after": 1, "shed": 1}
    assert incidents.get("held", 1) == 1
