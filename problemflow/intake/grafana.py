"""Grafana alerting's webhook contact point (unified alerting)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from problemflow.intake.alertmanager import Count, Timestamp
from problemflow.intake.common import NormalAlert, identity, labelled_alert
from problemflow.models.enums import IncidentSource

SOURCE = IncidentSource.grafana.value

Labels = dict[str, str]


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: Labels = Field(description="`alertname`, `grafana_folder` and the rule's labels")
    annotations: Labels = Field(default_factory=dict)
    startsAt: Timestamp = None
    endsAt: Timestamp = None
    values: Optional[dict[str, Any]] = None
    valueString: str = ""
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=200, description="Grafana's alert identity")
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""


class GrafanaWebhook(BaseModel):
    """What a Grafana webhook contact point posts."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "receiver": "problemflow",
                    "status": "firing",
                    "orgId": 1,
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {"alertname": "HighLatency", "severity": "warning", "service": "checkout"},
                            "annotations": {"summary": "p99 latency above 2 s"},
                            "startsAt": "2026-11-24T10:00:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "fingerprint": "57c6d9296de2ad39",
                            "valueString": "[ var='A' value=2.4 ]",
                        }
                    ],
                    "groupLabels": {"alertname": "HighLatency"},
                    "commonLabels": {"alertname": "HighLatency"},
                    "commonAnnotations": {},
                    "externalURL": "http://grafana:3000/",
                    "version": "1",
                    "groupKey": '{}:{alertname="HighLatency"}',
                    "truncatedAlerts": 0,
                    "title": "[FIRING:1] HighLatency",
                    "state": "alerting",
                    "message": "",
                }
            ]
        },
    )

    receiver: str = ""
    status: Literal["firing", "resolved"]
    orgId: Optional[Count] = None
    alerts: list[GrafanaAlert] = Field(min_length=1, max_length=10_000)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = ""
    version: str = ""
    groupKey: str = Field(default="", max_length=10_000)
    truncatedAlerts: Count = Field(default=0, ge=0)
    title: str = ""
    state: str = ""
    message: str = ""


def to_alerts(webhook: GrafanaWebhook) -> list[NormalAlert]:
    """One normal alert per alert in the notification."""
    alerts = []
    for alert in webhook.alerts:
        fingerprint = identity(alert.fingerprint)
        payload = alert.model_dump(mode="json")
        payload["receiver"] = webhook.receiver
        payload["orgId"] = webhook.orgId
        description = None
        if alert.status == "firing":
            description = alert.annotations.get("description") or ""
            if alert.valueString:
                description = f"{description}\n\nValues: {alert.valueString}".strip()
        alerts.append(labelled_alert(
            source=SOURCE, fingerprint=fingerprint, firing=alert.status == "firing", payload=payload,
            labels=alert.labels, annotations=alert.annotations, started_at=alert.startsAt, description=description,
        ))
    return alerts
