"""The facts rules look at, taken from an incident once."""

from __future__ import annotations

from problemflow.models.incident import IncidentCreate
from problemflow.tasks.incident.rules import Facts, words_of


def facts_of(incident_in: IncidentCreate) -> Facts:
    labels = incident_in.labels
    alertname = labels.get("alertname")
    text = incident_in.title
    if incident_in.description:
        text = f"{text}\n{incident_in.description}"
    return Facts(
        source=str(incident_in.source.value if hasattr(incident_in.source, "value") else incident_in.source),
        service=incident_in.service,
        labels=labels,
        alertname=str(alertname) if alertname is not None else None,
        text=text,
        words=words_of(text),
    )
