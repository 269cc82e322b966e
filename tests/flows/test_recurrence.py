"""The ``recurrence-scan`` flow run once against a real Prefect server."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from problemflow.models.db import session_scope
from problemflow.models.problem import Problem
from tests.tasks.recurrence.conftest import DAY, add

pytestmark = [pytest.mark.integration]


def opened_events(api_url: str, problem_id: int, since) -> list[dict]:
    """Events of this problem since the test began (ids restart per test; the server lives on)."""
    body = {"filter": {"event": {"name": ["problemflow.problem.opened"]}, "occurred": {"since": since.isoformat()},
                       "resource": {"id": [f"problemflow.problem.{problem_id}"]}}, "limit": 10}
    response = httpx.post(f"{api_url}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


def test_the_flow_opens_a_problem_and_announces_it(prefect_server, clean_db):
    from problemflow.flows.recurrence import ScanParameters, recurrence_scan
    from problemflow.models.base import utcnow

    started = utcnow() - timedelta(seconds=1)
    with session_scope(clean_db) as db:
        ids = [
            add(db, d * DAY + m, "Certificate expired on api gateway", fingerprint="cert-gw", service="gateway")
            for d, m in ((0, 0), (1, 5), (2, 9))
        ]
    state = recurrence_scan(ScanParameters(mode="full", threshold=3), return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result.mode == "full" and len(result.problems_opened) == 1
    problem_id = result.problems_opened[0]
    with session_scope(clean_db) as db:
        problem = db.get(Problem, problem_id)
        assert problem.group_key == f"rec-{ids[0]}"
    deadline = time.monotonic() + 30
    while not (events := opened_events(prefect_server, problem_id, started)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(events) == 1 and events[0]["payload"] == {"problem_id": problem_id}
    # a second (incremental) run finds nothing new and opens nothing
    again = recurrence_scan(ScanParameters())
    assert again.incidents_new == 0 and again.problems_opened == []
    with session_scope(clean_db) as db:
        assert len(db.scalars(select(Problem)).all()) == 1


def test_the_deployment_is_scheduled_and_incremental():
    from problemflow.flows.recurrence import deployments

    (deployment,) = deployments()
    assert deployment.name == "recurrence-scan"
    assert deployment.parameters == {"params": {"mode": "incremental"}}
    assert deployment.schedules[0].schedule.interval == timedelta(minutes=15)
    # the UI renders the run form from the parameter model
    schema = deployment._parameter_openapi_schema.model_dump()
    fields = schema["definitions"]["ScanParameters"]["properties"]
    assert {"mode", "threshold", "threshold_days", "burst_minutes"} <= set(fields)
    assert fields["mode"]["enum"] == ["incremental", "full"]
