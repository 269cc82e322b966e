"""The incident flows against a real Prefect server: open-incident, incident-response and its trigger."""

from __future__ import annotations

import asyncio
import importlib
import time

import pytest

from problemflow.models.db import session_scope
from problemflow.models.enums import KnownErrorState, Level
from problemflow.models.incident import IncidentCreate
from problemflow.models.kedb import KnownErrorCreate, Signature
from problemflow.models.services import incidents, kedb


def publish_known_error(url: str) -> int:
    with session_scope(url) as db_session:
        record = kedb.create(db_session=db_session, known_error_in=KnownErrorCreate(
            title="DNS resolver cache poisoned by a stale zone", workaround="Flush the resolver cache on ns1 and ns2",
            signature=Signature(keywords=["dns", "name resolution"], category="Network", subcategory="DNS")))
        kedb.transition(db_session=db_session, known_error=record, to_state=KnownErrorState.published)
        return record.id


def test_open_incident_flow_runs_the_five_steps(prefect_server, clean_db, receiver):
    from problemflow.flows.incidents import OpenIncidentForm, open_incident

    known_error_id = publish_known_error(clean_db)
    result = open_incident(form=OpenIncidentForm(
        title="DNS name resolution fails for the intranet", labels={"severity": "critical"}, owner="ana"))
    incident, response = result.incident, result.response
    assert (incident.category, incident.subcategory, incident.assignment_group) == ("Network", "DNS", "network")
    assert incident.priority.value == "1-critical" and incident.source.value == "service_desk"
    assert response.known_error.known_error_id == known_error_id and response.escalated
    assert response.notified == 1 and "[1-critical]" in receiver.bodies[0]["title"]
    with session_scope(clean_db) as db_session:
        stored = incidents.list(db_session=db_session)
        assert len(stored) == 1 and stored[0].responded_at is not None
        assert stored[0].external_ref.startswith("open-incident-")


def test_record_step_never_stores_twice(db_session):
    from problemflow.tasks.incident.identify import record

    first = record(db_session=db_session, incident_in=IncidentCreate(title="x"), key="run-1")
    again = record(db_session=db_session, incident_in=IncidentCreate(title="x"), key="run-1")
    assert first.id == again.id and len(incidents.list(db_session=db_session)) == 1


def test_open_incident_form_rejects_bad_input():
    from pydantic import ValidationError

    from problemflow.flows.incidents import OpenIncidentForm

    with pytest.raises(ValidationError, match="impact"):
        OpenIncidentForm(title="x", impact="huge")
    with pytest.raises(ValidationError, match="title"):
        OpenIncidentForm(title="")


def test_incident_response_tells_the_team_and_publishes_a_summary(prefect_server, clean_db, receiver):
    from prefect.artifacts import Artifact

    from problemflow.flows.incidents import EscalatedIncident, incident_response

    publish_known_error(clean_db)
    with session_scope(clean_db) as db_session:
        incident = incidents.create(db_session=db_session, incident_in=IncidentCreate(
            title="DNS lookups time out", impact=Level.high, urgency=Level.medium, category="Network",
            subcategory="DNS", assignment_group="network", owner="ana"))
        incident_id, number = incident.id, incident.number
    summary = incident_response(params=EscalatedIncident(incident_id=incident_id))
    # the response step ran here (escalation) and the team was told (summary)
    assert [b["title"] for b in receiver.bodies] == [
        f"[2-high] {number}: DNS lookups time out",
        f"[2-high] {number} for network / ana: DNS lookups time out",
    ]
    assert "Flush the resolver cache" in receiver.bodies[1]["message"]
    assert summary.known_error == "KE0000001"
    artifact = Artifact.get(summary.artifact_key)
    assert artifact is not None and "KE0000001" in artifact.data and "Flush the resolver cache" in artifact.data

    # run again (e.g. a second escalation event): respond does nothing new
    incident_response(params=EscalatedIncident(incident_id=incident_id))
    assert len(receiver.bodies) == 3 and "for network / ana" in receiver.bodies[2]["title"]


async def _runs_of(deployment_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with get_client() as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def test_escalation_event_starts_an_incident_response_run(prefect_server, clean_db):
    from problemflow.flows.incidents import escalation_trigger, incident_response
    from problemflow.tasks.incident import respond

    deployment_id = incident_response.to_deployment(
        name="incident-response-trigger-test", triggers=[escalation_trigger()]).apply()
    time.sleep(2)  # the server's trigger service loads new automations
    with session_scope(clean_db) as db_session:
        incident = incidents.create(db_session=db_session, incident_in=IncidentCreate(
            title="Payments down", impact=Level.high, urgency=Level.high))
        incident_id = incident.id
    with session_scope(clean_db) as db_session:
        assert respond(db_session=db_session, incident_id=incident_id).event_pending
    deadline = time.monotonic() + 45
    runs = []
    while time.monotonic() < deadline and not runs:
        runs = asyncio.run(_runs_of(deployment_id))
        time.sleep(0.5)
    assert len(runs) == 1
    assert runs[0].parameters["params"]["incident_id"] == incident_id
    assert runs[0].parameters["params"]["priority"] == "1-critical"


def test_record_step_retried_after_a_transient_error_stores_once(prefect_server, clean_db, monkeypatch):
    """The incident is stored, then the step fails with a database error: the retry finds it."""
    from prefect import flow
    from sqlalchemy.exc import OperationalError

    # the package exports the step functions under the module names, so fetch the module itself
    identify_module = importlib.import_module("problemflow.tasks.incident.identify")
    real_record = identify_module.record
    calls = []

    def flaky_record(*, db_session, incident_in, key, actor="system"):
        calls.append(key)
        if len(calls) == 1:
            with session_scope(clean_db) as other:
                real_record(db_session=other, incident_in=incident_in, key=key, actor=actor)
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
        return real_record(db_session=db_session, incident_in=incident_in, key=key, actor=actor)

    monkeypatch.setattr(identify_module, "record", flaky_record)

    @flow
    def store_one() -> int:
        return identify_module.record_task(IncidentCreate(title="Queue backlog"), key="retry-test").id

    incident_id = store_one()
    assert len(calls) == 2
    with session_scope(clean_db) as db_session:
        assert [i.id for i in incidents.list(db_session=db_session)] == [incident_id]


def test_record_step_does_not_retry_bad_input(prefect_server, clean_db):
    from prefect import flow

    from problemflow.tasks.incident.identify import record_task

    @flow
    def store_bad() -> None:
        record_task(IncidentCreate(title="x", depends_on=[999]), key="bad-input")

    from problemflow.models.errors import IncidentNotFound

    started = time.monotonic()
    with pytest.raises(IncidentNotFound):
        store_bad()
    assert time.monotonic() - started < 5  # no retry delays spent on an error that cannot heal
