"""Prometheus Alertmanager's webhook (payload version 4): grouped alerts, firing and resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from problemflow.intake.common import NormalAlert, identity, labelled_alert
from problemflow.models.enums import IncidentSource

SOURCE = IncidentSource.alertmanager.value

Labels = dict[str, str]


def _json(*kinds: type, what: str) -> BeforeValidator:
    """Only the JSON type the document gives; pydantic would also read a number as a
    time, and true or "5" as an integer."""

    def check(value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise ValueError(f"must be {what}")
        return value

    return BeforeValidator(check)


# The JSON types of a sender's times and counts, for every source
Timestamp = Annotated[Optional[datetime], _json(str, what="a date-time string, e.g. 2026-11-24T10:00:00Z")]
Count = Annotated[int, _json(int, float, what="a whole number")]


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: Labels = Field(description="Identifying labels; `severity` sets impact and urgency")
    annotations: Labels = Field(default_factory=dict, description="`summary` becomes the title")
    startsAt: Timestamp = None
    endsAt: Timestamp = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=200, description="Alertmanager's alert identity")


class AlertmanagerWebhook(BaseModel):
    """What Alertmanager posts to a `webhook_configs` receiver."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "version": "4",
                    "groupKey": '{}:{alertname="DiskFull"}',
                    "truncatedAlerts": 0,
                    "status": "firing",
                    "receiver": "problemflow",
                    "groupLabels": {"alertname": "DiskFull"},
                    "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
                    "commonAnnotations": {"summary": "Disk almost full"},
                    "externalURL": "http://alertmanager:9093",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db1"},
                            "annotations": {"summary": "Disk on db1 is 97% full"},
                            "startsAt": "2026-11-24T10:00:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "http://prometheus:9090/graph",
                            "fingerprint": "c3a1f0e0d2b4a6f8",
                        }
                    ],
                }
            ]
        },
    )

    version: Literal["4"] = Field(description="Webhook payload version; only 4 exists")
    groupKey: str = Field(default="", max_length=10_000)
    truncatedAlerts: Count = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=10_000)


def to_alerts(webhook: AlertmanagerWebhook) -> list[NormalAlert]:
    """One normal alert per alert in the group."""
    alerts = []
    for alert in webhook.alerts:
        fingerprint = identity(alert.fingerprint)
        payload = alert.model_dump(mode="json")
        payload["receiver"] = webhook.receiver
        payload["groupKey"] = webhook.groupKey
        alerts.append(labelled_alert(
            source=SOURCE, fingerprint=fingerprint, firing=alert.status == "firing", payload=payload,
            labels=alert.labels, annotations=alert.annotations, started_at=alert.startsAt,
        ))
    return alerts
