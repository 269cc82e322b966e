"""Concurrent deliveries of one alert make one incident, across several worker processes."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from problemflow.models.alert import AlertEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_subprocess

ALERT = {"fingerprint": "0badc0de0badc0de", "labels": {"alertname": "Flap", "severity": "error"}}


@pytest.fixture
def intake_process(clean_db, tmp_path):
    """``problemflow intake --workers 2`` as a person starts it."""
    with intake_subprocess(clean_db, tmp_path, workers=2) as url:
        yield url


async def _post_many(url: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        body = alertmanager_payload(ALERT)
        responses = await asyncio.gather(*(client.post("/v1/alerts/alertmanager", json=body) for _ in range(count)))
    return [r.status_code for r in responses]


def test_parallel_duplicates_make_one_incident(intake_process, clean_db):
    count = 120
    statuses = asyncio.run(_post_many(intake_process, count))
    assert statuses == [200] * count
    with session_scope(clean_db) as session:
        [incident] = session.scalars(select(Incident)).all()
        outcomes = [e.outcome for e in session.scalars(select(AlertEvent))]
    assert incident.occurrence_count == count
    assert len(outcomes) == count
    assert outcomes.count("created") == 1 and outcomes.count("deduplicated") == count - 1
    # counters of both workers, summed (prometheus-client multiprocess mode)
    text = httpx.get(f"{intake_process}/metrics").text
    received = re.search(r'problemflow_intake_alerts_received_total\{source="alertmanager"\} (\S+)', text)
    assert received and float(received.group(1)) == count
    assert 'problemflow_incidents_open{priority="2-high"} 1.0' in text
