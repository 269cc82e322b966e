"""A real intake server (uvicorn in a thread of the test process) on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import uvicorn

from problemflow.models.settings import Settings
from problemflow.prefect_server import free_port

TOKEN = "test-intake-token"
EXECUTABLE = Path(sys.executable).parent / "problemflow"


@contextmanager
def serve_intake(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` on 127.0.0.1; yields its base URL."""
    from problemflow.intake import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the intake did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def intake_settings(db_url: str, **overrides) -> Settings:
    values = {"database_url": db_url, "intake_token": TOKEN, "intake_respond": False}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def intake(clean_db: str) -> Iterator[httpx.Client]:
    """An HTTP client on a running intake with the test token, on an empty database."""
    with serve_intake(intake_settings(clean_db)) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            yield client


def alertmanager_payload(*alerts: dict, status: str | None = None) -> dict:
    """A version 4 webhook with the given alerts (each: status, labels, annotations, fingerprint)."""
    full = []
    for alert in alerts:
        full.append(
            {
                "status": alert.get("status", "firing"),
                "labels": alert.get("labels", {"alertname": "Test"}),
                "annotations": alert.get("annotations", {}),
                "startsAt": alert.get("startsAt", "2026-11-24T10:00:00Z"),
                "endsAt": alert.get("endsAt", "0001-01-01T00:00:00Z"),
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": alert["fingerprint"],
            }
        )
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status or full[0]["status"],
        "receiver": "problemflow",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": full,
    }


@contextmanager
def intake_subprocess(db_url: str, home: Path, *, workers: int = 1, respond: bool = False) -> Iterator[str]:
    """``problemflow intake`` started as a person starts it; yields its base URL."""
    port = free_port()
    env = dict(
        os.environ,
        PROBLEMFLOW_DATABASE_URL=db_url,
        PROBLEMFLOW_INTAKE_TOKEN=TOKEN,
        PROBLEMFLOW_INTAKE_RESPOND=str(respond).lower(),
        PROBLEMFLOW_HOME=str(home),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = home / "intake.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(EXECUTABLE), "intake", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the intake did not start"
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(30)
