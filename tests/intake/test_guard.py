"""Authentication, size limits, malformed and hostile input: refused, nothing stored."""

from __future__ import annotations

import json
import socket

import httpx
from sqlalchemy import func, select, text

from problemflow.models.alert import AlertEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_settings, serve_intake

ALERT = {"fingerprint": "0123456789abcdef", "labels": {"alertname": "X", "severity": "warning"}}


def stored(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as session:
        return (
            session.scalar(select(func.count()).select_from(Incident)),
            session.scalar(select(func.count()).select_from(AlertEvent)),
        )


def test_missing_or_wrong_token_is_401(intake, clean_db):
    body = alertmanager_payload(ALERT)
    url = str(intake.base_url)
    assert httpx.post(f"{url}/v1/alerts/alertmanager", json=body).status_code == 401
    wrong = httpx.post(f"{url}/v1/alerts/alertmanager", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    basic = httpx.post(f"{url}/v1/alerts/alertmanager", json=body, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    # malformed JSON without a token is still a 401: auth is checked before the body
    assert httpx.post(f"{url}/v1/alerts/generic", content=b"{oops").status_code == 401
    assert stored(clean_db) == (0, 0)


def test_pagerduty_may_authenticate_with_its_routing_key(intake, clean_db):
    url = str(intake.base_url)
    event = {"routing_key": TOKEN, "event_action": "trigger", "dedup_key": "k",
             "payload": {"summary": "s", "source": "h", "severity": "info"}}
    assert httpx.post(f"{url}/v1/alerts/pagerduty", json=event).status_code == 202
    event["routing_key"] = "not-the-token"
    assert httpx.post(f"{url}/v1/alerts/pagerduty", json=event).status_code == 401
    assert stored(clean_db) == (1, 1)


def test_without_a_token_only_loopback_senders_are_accepted(clean_db):
    with serve_intake(intake_settings(clean_db, intake_token=None)) as url:
        assert httpx.post(f"{url}/v1/alerts/alertmanager", json=alertmanager_payload(ALERT)).status_code == 200
    assert stored(clean_db) == (1, 1)
    # the check itself, for a sender that is not on this machine
    from problemflow.intake.guard import Guard

    guard = Guard(None, token=None, max_body_bytes=1024)
    assert guard._refuse({"client": ("10.1.2.3", 5000)}, None, "generic") is not None
    assert guard._refuse({"client": ("127.0.0.1", 5000)}, None, "generic") is None


def test_oversized_bodies_are_413(clean_db):
    with serve_intake(intake_settings(clean_db, intake_max_body_bytes=2048)) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        big = alertmanager_payload(dict(ALERT, annotations={"description": "x" * 4000}))
        announced = httpx.post(f"{url}/v1/alerts/alertmanager", json=big, headers=headers)
        assert announced.status_code == 413 and "2048 bytes" in announced.json()["detail"]

        def chunks():  # streamed: no Content-Length, chunked transfer encoding
            data = json.dumps(big).encode()
            for i in range(0, len(data), 500):
                yield data[i : i + 500]

        streamed = httpx.post(f"{url}/v1/alerts/alertmanager", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        # a Content-Length that lies (smaller than the body sent) is cut at the limit too
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
            data = json.dumps(big).encode()
            sock.sendall(
                b"POST /v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                + f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
            )
            assert b" 413 " in sock.recv(4096).split(b"\r\n", 1)[0]
        small = httpx.post(f"{url}/v1/alerts/alertmanager", json=alertmanager_payload(ALERT), headers=headers)
        assert small.status_code == 200
    assert stored(clean_db) == (1, 1)


def test_malformed_json_is_400_and_wrong_shapes_are_422(intake, clean_db):
    bad = intake.post("/v1/alerts/alertmanager", content=b'{"version": "4", "alerts": [', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["message"]
    deep = intake.post("/v1/alerts/generic", content=b"[" * 100_000 + b"]" * 100_000, headers={"content-type": "application/json"})
    assert deep.status_code in (400, 413)
    payload = alertmanager_payload(ALERT)
    del payload["alerts"][0]["fingerprint"]
    payload["alerts"][0]["labels"] = {"alertname": 5}
    shape = intake.post("/v1/alerts/alertmanager", json=payload)
    assert shape.status_code == 422
    fields = {p["field"]: p["problem"] for p in shape.json()["detail"]}
    assert fields == {
        "alerts.0.labels.alertname": "Input should be a valid string",
        "alerts.0.fingerprint": "Field required",
    }
    assert intake.post("/v1/alerts/alertmanager", json=dict(payload, version="3")).status_code == 422
    assert intake.post("/v1/alerts/alertmanager", json=[1, 2]).status_code == 422
    assert intake.post("/v1/alerts/alertmanager", json=dict(alertmanager_payload(ALERT), alerts=[])).status_code == 422
    assert stored(clean_db) == (0, 0)


def test_text_no_database_accepts_is_cleaned(intake, clean_db):
    nasty = {
        "fingerprint": "nul\x00and",
        "labels": {"alertname": "A\x00B", "severity": "critical", "service": "s" * 5000},
        "annotations": {"summary": "nul \x00 " + "t" * 2000},
    }
    plain = dict(nasty, fingerprint="nuland")
    response = intake.post("/v1/alerts/alertmanager", json=alertmanager_payload(nasty, plain))
    assert response.status_code == 200, response.text
    assert [a["outcome"] for a in response.json()["alerts"]] == ["created", "created"]
    with session_scope(clean_db) as session:
        incidents = session.scalars(select(Incident).order_by(Incident.fingerprint.desc())).all()
        payloads = session.execute(text("SELECT payload FROM alert_event ORDER BY id")).scalars().all()
    nul, clean = incidents
    assert "\x00" not in nul.title and len(nul.title) == 500
    # a NUL cannot be stored, and dropping it would merge two identities: it is digested
    assert nul.fingerprint.startswith("sha256:") and clean.fingerprint == "nuland"
    assert len(nul.service) == 200
    assert all("\\u0000" not in (p if isinstance(p, str) else json.dumps(p)) for p in payloads)
    if clean_db.startswith("postgresql"):  # every query over the payloads still works
        with session_scope(clean_db) as session:
            names = session.execute(text("SELECT payload->'labels'->>'alertname' FROM alert_event")).scalars().all()
        assert names == ["AB", "AB"]


def test_lone_surrogates_are_422_naming_the_field(intake, clean_db):
    body = json.dumps(alertmanager_payload(dict(ALERT, fingerprint="bad\ud800"))).encode()
    response = intake.post("/v1/alerts/alertmanager", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "alerts.0.fingerprint"
    assert stored(clean_db) == (0, 0)
