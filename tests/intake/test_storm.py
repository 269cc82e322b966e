"""Alert storms and crafted bodies against ``problemflow intake`` started as a person starts it.

* Bodies of every size up to the limit, their text full of pickle opcodes that
  once made a writer process run a shell command, run nothing, and the small
  alert after each is answered at once.
* Batched notifications from many senders at once: every alert answered 2xx is
  stored exactly once; every refusal is a documented 503 with Retry-After, and a
  refused notification sent again is stored once.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from problemflow.models.alert import AlertEvent
from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_subprocess

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 1_048_576  # the default body limit
PROMPT_SECONDS = 5  # far below the old wedge (30 s); a wedged intake times out here


class _Touch:
    """Unpickling this runs ``touch PATH``."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def _crafted(marker: str, size: int, serial: int) -> bytes:
    """An Alertmanager body of exactly ``size`` bytes whose annotation is pickle streams
    (with and without a length header) repeated, as a sender would craft them."""
    stream = pickle.dumps(_Touch(marker), protocol=2)
    framed = len(stream).to_bytes(4, "big") + stream
    # every byte as the code point of the same value: what a pickle reader would see again
    unit = (framed + stream).decode("latin-1")
    body = alertmanager_payload({
        "fingerprint": f"crafted-{serial}",
        "labels": {"alertname": "Crafted", "severity": "warning"},
        "annotations": {"summary": "crafted", "description": ""},
    })
    encoded = httpx.Request("POST", "/", json=body).content
    room = size - len(encoded)
    assert room > 0, size
    padding = (unit * (room // len(unit) + 1))
    # JSON escapes some of these characters: trim until the encoded body has the exact size
    text = padding[:room]
    while True:
        body["alerts"][0]["annotations"]["description"] = text
        encoded = httpx.Request("POST", "/", json=body).content
        if len(encoded) <= size:
            break
        text = text[: len(text) - max(1, (len(encoded) - size) // 2)]
    return encoded + b" " * (size - len(encoded))


def _sizes() -> list[int]:
    """Around every power of two from 4 KiB (pipe and socket buffers, frame headers) to the
    limit, and the limit itself."""
    sizes = set()
    for power in range(12, 21):
        for delta in (-5, -1, 0, 1, 5):
            sizes.add(2**power + delta)
    return sorted(s for s in sizes | {LIMIT - 1, LIMIT} if s <= LIMIT)


def test_crafted_bodies_of_every_size_run_nothing_and_never_wedge(clean_db, tmp_path):
    marker = tmp_path / "ran"
    with intake_subprocess(clean_db, tmp_path) as url, httpx.Client(base_url=url, headers=HEADERS) as client:
        for serial, size in enumerate(_sizes()):
            body = _crafted(str(marker), size, serial)
            assert len(body) == size
            big = client.post("/v1/alerts/alertmanager", content=body, timeout=30,
                              headers={"content-type": "application/json"})
            assert big.status_code in (200, 503), f"{size} bytes: {big.status_code} {big.text[:300]}"
            small = client.post("/v1/alerts/alertmanager", timeout=PROMPT_SECONDS,
                                json=alertmanager_payload({"fingerprint": f"small-{serial}"}))
            assert small.status_code == 200, f"after {size} bytes: {small.status_code} {small.text[:300]}"
        over = client.post("/v1/alerts/alertmanager", content=_crafted(str(marker), LIMIT + 1, 999),
                           headers={"content-type": "application/json"}, timeout=30)
        assert over.status_code == 413, over.text
        assert client.get("/healthz").status_code == 200
    assert not marker.exists(), "a crafted body ran a command"
    with session_scope(clean_db) as session:
        small = session.scalar(select(func.count()).select_from(Incident).where(Incident.fingerprint.like("small-%")))
    assert small == len(_sizes())


def _notification(sender: int, number: int, size: int, run: str) -> dict:
    alerts = [
        {"fingerprint": f"{run}-{sender}-{number}-{i}",
         "labels": {"alertname": "NodeDown", "severity": "critical", "instance": f"node-{sender}-{i}:9100"},
         "annotations": {"summary": f"node-{sender}-{i} is down"}}
        for i in range(size)
    ]
    return alertmanager_payload(*alerts)


async def _storm(url: str, senders: int, notifications: int, size: int, run: str) -> list[tuple[dict, httpx.Response]]:
    """Each sender posts its notifications one after the other, as Alertmanager does."""
    limits = httpx.Limits(max_connections=senders)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=60) as client:
        async def sender(number: int) -> list[tuple[dict, httpx.Response]]:
            answers = []
            for n in range(notifications):
                body = _notification(number, n, size, run)
                answers.append((body, await client.post("/v1/alerts/alertmanager", json=body)))
            return answers

        return [pair for answers in await asyncio.gather(*(sender(s) for s in range(senders))) for pair in answers]


@pytest.mark.parametrize("senders,notifications,size", [(32, 10, 50), (8, 10, 100)])
def test_batched_storm_stores_every_accepted_alert_exactly_once(clean_db, tmp_path, senders, notifications, size):
    run = uuid.uuid4().hex[:8]
    with intake_subprocess(clean_db, tmp_path) as url:
        answers = asyncio.run(_storm(url, senders, notifications, size, run))
        refused = []
        for body, response in answers:
            if response.status_code == 200:
                assert len(response.json()["alerts"]) == size
                continue
            assert response.status_code == 503, f"{response.status_code} {response.text[:300]}"
            assert response.headers.get("retry-after"), response.headers
            assert response.json()["stored"] in ("nothing", "maybe"), response.text
            refused.append(body)
        accepted = {a["fingerprint"] for b, r in answers if r.status_code == 200 for a in b["alerts"]}
        print(f"{senders} x {notifications} x {size}: {len(answers) - len(refused)} of {len(answers)} "
              f"notifications answered 200, {len(refused)} refused")
        with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:
            for body in refused:  # what Alertmanager does with a 503: send the same notification again
                again = client.post("/v1/alerts/alertmanager", json=body)
                assert again.status_code == 200, again.text
    with session_scope(clean_db) as session:
        incidents = Counter(session.scalars(select(Incident.fingerprint).where(Incident.fingerprint.like(f"{run}-%"))))
        events = Counter(session.scalars(select(AlertEvent.fingerprint).where(AlertEvent.fingerprint.like(f"{run}-%"))))
    expected = senders * notifications * size
    assert len(incidents) == expected, f"{expected - len(incidents)} alerts lost"
    assert set(incidents.values()) == {1}, [f for f, n in incidents.items() if n > 1][:5]
    assert accepted <= set(incidents)
    once = [f for f in accepted if events[f] != 1]
    assert not once, f"{len(once)} accepted alerts not stored exactly once, e.g. {once[:3]}"
