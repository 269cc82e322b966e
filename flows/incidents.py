"""Incident flows: ``open-incident`` (the service desk form) and ``incident-response``
(started by the escalation event of a P1/P2 incident)."""

from __future__ import annotations

from typing import Optional

from prefect import flow, runtime
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from pydantic import BaseModel, ConfigDict, Field

from problemflow.flows.deployments import register
from problemflow.models.enums import IncidentSource, Level, Priority
from problemflow.models.incident import IncidentCreate, IncidentRead
from problemflow.tasks.common.events import ESCALATED_EVENT
from problemflow.tasks.common.notify import notify
from problemflow.tasks.incident import categorize_task, identify_task, prioritize_task, respond_task
from problemflow.tasks.incident.identify import record_task
from problemflow.tasks.incident.respond import ResponseOutcome
from problemflow.tasks.incident.summary import ResponseSummary, publish_summary_task, summarize_task

notify_once = notify.with_options(persist_result=True)


class OpenIncidentForm(BaseModel):
    """A new incident from the service desk. Leave impact and urgency empty to let the rules decide."""

    title: str = Field(min_length=1, max_length=500, description="One line: what is broken")
    description: str = Field(default="", max_length=20_000, description="What people see, since when")
    impact: Optional[Level] = Field(default=None, description="How much of the business is hit")
    urgency: Optional[Level] = Field(default=None, description="How fast it must be fixed")
    service: Optional[str] = Field(default=None, max_length=200, description="Affected service")
    configuration_item: Optional[str] = Field(default=None, max_length=200, description="Host, device or component")
    category: Optional[str] = Field(default=None, max_length=120, description="e.g. Network; empty: from rules")
    subcategory: Optional[str] = Field(default=None, max_length=120, description="e.g. DNS")
    owner: Optional[str] = Field(default=None, max_length=120, description="Incident manager")
    assignment_group: Optional[str] = Field(default=None, max_length=120, description="Team; empty: from rules")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra facts, e.g. severity, environment")
    depends_on: list[int] = Field(default_factory=list, max_length=50, description="Ids of incidents this one waits for")
    external_ref: Optional[str] = Field(default=None, max_length=120, description="Ticket id elsewhere (opens once)")

    def to_create(self) -> IncidentCreate:
        data = self.model_dump(exclude_none=True)
        return IncidentCreate(**data, source=IncidentSource.service_desk)


class OpenedIncident(BaseModel):
    incident: IncidentRead
    response: ResponseOutcome


class EscalatedIncident(BaseModel):
    """The escalation event's payload."""

    model_config = ConfigDict(extra="ignore")

    incident_id: int = Field(ge=1, description="Incident id (42 for INC0000042)")
    number: Optional[str] = None
    priority: Optional[Priority] = None


@flow(name="open-incident", log_prints=True)
def open_incident(form: OpenIncidentForm) -> OpenedIncident:
    """Identify, categorize, prioritize, record and respond to one service-desk incident."""
    incident_in = identify_task(form.to_create())
    incident_in = categorize_task(incident_in)
    incident_in = prioritize_task(incident_in)
    incident = record_task(incident_in, key=f"open-incident-{runtime.flow_run.id}")
    response = respond_task(incident.id)
    print(f"{incident.number} opened, priority {incident.priority.value}")
    return OpenedIncident(incident=incident, response=response)


@flow(name="incident-response", log_prints=True)
def incident_response(params: EscalatedIncident) -> ResponseSummary:
    """Make sure the incident was responded to, tell its team, and publish a summary."""
    outcome = respond_task(params.incident_id)
    summary = summarize_task(params.incident_id, outcome.candidates)
    notify_once(summary.notification_title, summary.notification_body, tag="incident-response")
    publish_summary_task(summary)
    return summary


def escalation_trigger() -> DeploymentEventTrigger:
    return DeploymentEventTrigger(
        name="incident escalated",
        expect={ESCALATED_EVENT},
        match={"prefect.resource.id": "problemflow.incident.*"},
        parameters={"params": {"__prefect_kind": "json", "value": {
            "__prefect_kind": "jinja", "template": "{{ event.payload | tojson }}"}}},
    )


@register
def deployments() -> list:
    """``open-incident`` (a form in the Prefect UI) and ``incident-response`` (on escalation)."""
    return [
        open_incident.to_deployment(
            name="open-incident",
            description="Open an incident from the service desk: the five incident steps up to response.",
            tags=["problemflow", "incident"],
        ),
        incident_response.to_deployment(
            name="incident-response",
            description="Respond to an escalated P1/P2 incident: KEDB, team notification, summary.",
            tags=["problemflow", "incident"],
            triggers=[escalation_trigger()],
        ),
    ]
