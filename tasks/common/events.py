"""The Prefect events problemflow emits, one way: posted to the Prefect API's ``/events``.

Ids are derived from what the event is about, so sending one again (a retried
step, a second scan) is the same event, never a second one.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Optional

import httpx

# a problem was opened: starts the problem-management deployment
OPENED_EVENT = "problemflow.problem.opened"
# a P1/P2 incident was responded to: starts the incident-response deployment
ESCALATED_EVENT = "problemflow.incident.escalated"
BATCH = 500


def api_url() -> Optional[str]:
    """The Prefect API events go to; None when none is configured."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def api_configured() -> bool:
    return api_url() is not None


def event(name: str, *, resource_id: str, resource_name: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
    """One event; ``key`` says what makes it unique (its id is derived from it)."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{key}")),
        "occurred": datetime.now(timezone.utc).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource_id, "prefect.resource.name": resource_name},
        "payload": payload,
    }


def send(events: list[dict[str, Any]]) -> int:
    """Post the events to the configured Prefect API; returns how many were sent (0 without an API).
    Raises ``httpx.HTTPError`` when the API refuses them."""
    url = api_url()
    if not url or not events:
        return 0
    from prefect.settings import PREFECT_API_KEY

    key = PREFECT_API_KEY.value()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url.rstrip("/") + "/", headers=headers, timeout=30) as client:
        for start in range(0, len(events), BATCH):
            response = client.post("events", json=events[start : start + BATCH])
            response.raise_for_status()
    return len(events)
