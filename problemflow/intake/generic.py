"""Our own alert format, for senders that speak none of the others."""

from __future__ import annotations

import hashlib
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from problemflow.intake.alertmanager import Timestamp
from problemflow.intake.common import NormalAlert, identity, incident_for
from problemflow.models.alert import AlertStatus
from problemflow.models.enums import IncidentSource

SOURCE = IncidentSource.generic.value


class GenericAlert(BaseModel):
    """One alert. Deduplicated on ``fingerprint``, or when absent on a hash of the labels."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(
        min_length=1, max_length=500, description="One line: what is wrong", examples=["Disk on db1 is 97% full"]
    )
    status: Literal["firing", "resolved"] = Field(
        default="firing", description="`resolved` resolves the open incident of this fingerprint"
    )
    severity: Optional[str] = Field(
        default=None,
        max_length=40,
        description="Sets impact and urgency through the triage rules, e.g. critical, error, warning, info",
        examples=["critical"],
    )
    description: str = Field(default="", max_length=20_000, description="What people see, what was measured")
    service: Optional[str] = Field(default=None, max_length=200, description="The affected service")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Identifying labels (alertname, instance, job, ...); their hash is the default fingerprint",
        examples=[{"alertname": "DiskFull", "instance": "db1"}],
    )
    fingerprint: Optional[str] = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The alert's identity in the sender; re-sends with the same value are deduplicated",
    )
    starts_at: Timestamp = Field(default=None, description="When the condition began (ISO 8601)")


class GenericAlerts(BaseModel):
    """A batch of alerts in problemflow's own format."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "alerts": [
                        {
                            "title": "Disk on db1 is 97% full",
                            "severity": "critical",
                            "service": "billing",
                            "labels": {"alertname": "DiskFull", "instance": "db1"},
                        }
                    ]
                }
            ]
        },
    )

    alerts: list[GenericAlert] = Field(min_length=1, max_length=10_000)


def fingerprint_of(alert: GenericAlert) -> str:
    """The sender's fingerprint, or a stable hash of labels and service (title when no labels)."""
    if alert.fingerprint:
        return identity(alert.fingerprint)
    parts = sorted(alert.labels.items())
    if alert.service:
        parts.append(("\x00service", alert.service))
    if not parts:
        parts.append(("\x00title", alert.title))
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in parts)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def to_alerts(batch: GenericAlerts) -> list[NormalAlert]:
    alerts = []
    for alert in batch.alerts:
        fingerprint = fingerprint_of(alert)
        payload = alert.model_dump(mode="json")
        if alert.status == "resolved":
            alerts.append(NormalAlert(SOURCE, fingerprint, AlertStatus.resolved, payload))
            continue
        labels = dict(alert.labels)
        if alert.severity:
            labels["severity"] = alert.severity
        alerts.append(
            NormalAlert(
                source=SOURCE,
                fingerprint=fingerprint,
                status=AlertStatus.firing,
                payload=payload,
                incident_in=incident_for(
                    source=SOURCE,
                    fingerprint=fingerprint,
                    labels=labels,
                    annotations={},
                    started_at=alert.starts_at,
                    title=alert.title,
                    description=alert.description,
                    service=alert.service,
                ),
            )
        )
    return alerts
