"""PagerDuty Events API v2: trigger, acknowledge and resolve, keyed on ``dedup_key``.

Tools that can send to PagerDuty can send here unchanged: point their events URL
at ``/v1/alerts/pagerduty``. They authenticate with the bearer token or, since
they cannot set headers, with ``routing_key`` equal to that token.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from problemflow.intake.alertmanager import Timestamp
from problemflow.intake.common import NormalAlert, identity, incident_for
from problemflow.models.alert import AlertStatus
from problemflow.models.enums import IncidentSource

SOURCE = IncidentSource.pagerduty.value

ACTIONS = {
    "trigger": AlertStatus.firing,
    "acknowledge": AlertStatus.acknowledged,
    "resolve": AlertStatus.resolved,
}


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    summary: str = Field(min_length=1, max_length=1024, description="Becomes the incident title")
    source: str = Field(min_length=1, max_length=255, description="The affected system, e.g. a host name")
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Timestamp = None
    component: Optional[str] = Field(default=None, max_length=255)
    group: Optional[str] = Field(default=None, max_length=255, description="Becomes the service")
    class_: Optional[str] = Field(default=None, alias="class", max_length=255)
    custom_details: Any = None


class PagerDutyEvent(BaseModel):
    """An Events API v2 event, exactly as PagerDuty accepts it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "routing_key": "R0UT1NGK3Y",
                    "event_action": "trigger",
                    "dedup_key": "db1/disk",
                    "payload": {
                        "summary": "Disk on db1 is 97% full",
                        "source": "db1.example.com",
                        "severity": "critical",
                        "component": "postgres",
                        "group": "billing",
                        "class": "disk",
                        "custom_details": {"free_gb": 3},
                    },
                }
            ],
            # what _needs checks, in the document: a trigger carries a payload, the others a dedup_key
            "if": {"properties": {"event_action": {"const": "trigger"}}},
            "then": {"required": ["payload"], "properties": {"payload": {"type": "object"}}},
            "else": {"required": ["dedup_key"], "properties": {"dedup_key": {"type": "string"}}},
        },
    )

    routing_key: str = Field(min_length=1, max_length=255)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Optional[str] = Field(default=None, min_length=1, max_length=200)
    payload: Optional[PagerDutyPayload] = None
    client: Optional[str] = None
    client_url: Optional[str] = None
    links: list[dict[str, Any]] = Field(default_factory=list)
    images: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs(self) -> "PagerDutyEvent":
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload is required for a trigger event")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError(f"dedup_key is required for a {self.event_action} event")
        return self


class PagerDutyAnswer(BaseModel):
    status: str = Field(examples=["success"])
    message: str = Field(examples=["Event processed"])
    dedup_key: str


def to_alert(event: PagerDutyEvent) -> NormalAlert:
    """The normal alert for one event; a trigger without dedup_key gets a fresh one."""
    dedup_key = identity(event.dedup_key or uuid.uuid4().hex)
    stored = event.model_dump(mode="json", by_alias=True)
    stored.pop("routing_key", None)  # a credential: never stored
    status = ACTIONS[event.event_action]
    if status != AlertStatus.firing:
        return NormalAlert(SOURCE, dedup_key, status, stored)
    body = event.payload
    labels = {"severity": body.severity, "host": body.source}
    for name, value in (("component", body.component), ("group", body.group), ("class", body.class_)):
        if value:
            labels[name] = value
    if body.group or body.component:
        labels.setdefault("service", body.group or body.component)
    details = body.custom_details
    description = "" if details is None else f"Details: {details}"
    return NormalAlert(
        source=SOURCE,
        fingerprint=dedup_key,
        status=status,
        payload=stored,
        incident_in=incident_for(
            source=SOURCE,
            fingerprint=dedup_key,
            labels=labels,
            annotations={},
            started_at=body.timestamp,
            title=body.summary,
            description=description,
        ),
    )
