"""Step 3, prioritization: impact and urgency.

The priority itself follows from impact x urgency by the ITIL matrix in
``models/states.py`` when the incident is stored.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from problemflow.models.enums import Level
from problemflow.models.incident import IncidentCreate
from problemflow.models.states import priority_for
from problemflow.tasks.incident.facts import facts_of
from problemflow.tasks.incident.rules import Rules, get_rules


def prioritize(incident_in: IncidentCreate, rules: Rules | None = None) -> IncidentCreate:
    """Impact and urgency: from the alert severity, then the first matching priority rule.

    Impact or urgency given explicitly in the input always win.
    """
    rules = rules or get_rules()
    explicit = incident_in.model_fields_set
    keep_impact = "impact" in explicit
    keep_urgency = "urgency" in explicit
    if keep_impact and keep_urgency:
        return incident_in
    impact: Level | None = None
    urgency: Level | None = None
    severity = incident_in.labels.get("severity")
    if severity is not None:
        levels = rules.severity.get(str(severity).strip().lower())
        if levels is not None:
            impact, urgency = levels.impact, levels.urgency
    if rules.priorities:
        facts = facts_of(incident_in)
        for compiled in rules.priorities:
            if compiled.condition.holds(facts):
                impact = compiled.rule.impact or impact
                urgency = compiled.rule.urgency or urgency
                break
    update: dict[str, Any] = {}
    if impact is not None and not keep_impact and impact != incident_in.impact:
        update["impact"] = impact
    if urgency is not None and not keep_urgency and urgency != incident_in.urgency:
        update["urgency"] = urgency
    return incident_in.model_copy(update=update) if update else incident_in


def expected_priority(incident_in: IncidentCreate):
    """The priority the incident will get when stored (ITIL matrix)."""
    return priority_for(incident_in.impact, incident_in.urgency)


@task(name="prioritize")
def prioritize_task(incident_in: IncidentCreate) -> IncidentCreate:
    """Prioritization: impact and urgency from severity and rules."""
    return prioritize(incident_in)
