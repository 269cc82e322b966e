"""Step 1, identification: service, configuration item, owner and assignment group."""

from __future__ import annotations

from typing import Any

from prefect import task

from problemflow.models.incident import IncidentCreate
from problemflow.tasks.common.retry import RETRIES
from problemflow.tasks.incident.facts import facts_of
from problemflow.tasks.incident.rules import Rules, get_rules


def _first_label(labels: dict[str, Any], names: list[str]) -> str | None:
    for name in names:
        value = labels.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def identify(incident_in: IncidentCreate, rules: Rules | None = None) -> IncidentCreate:
    """Fill service and configuration item from alert labels, then route by the first matching rule.

    Values already present in the input are kept.
    """
    rules = rules or get_rules()
    update: dict[str, Any] = {}
    labels = incident_in.labels
    if incident_in.service is None:
        service = _first_label(labels, rules.spec.identify.service_labels)
        if service is not None:
            update["service"] = service[:200]
    if incident_in.configuration_item is None:
        item = _first_label(labels, rules.spec.identify.ci_labels)
        if item is not None:
            update["configuration_item"] = item[:200]
    current = incident_in.model_copy(update=update) if update else incident_in
    if current.owner is None or current.assignment_group is None:
        facts = facts_of(current)
        for compiled in rules.routes:
            if compiled.condition.holds(facts):
                route = compiled.rule
                owner = route.owner or (labels.get(route.owner_label) if route.owner_label else None)
                group = route.assignment_group or (
                    labels.get(route.group_label) if route.group_label else None
                )
                if current.owner is None and owner:
                    update["owner"] = str(owner)[:120]
                if current.assignment_group is None and group:
                    update["assignment_group"] = str(group)[:120]
                break
    return incident_in.model_copy(update=update) if update else incident_in


@task(name="identify")
def identify_task(incident_in: IncidentCreate) -> IncidentCreate:
    """Identification: service, configuration item, owner, assignment group."""
    return identify(incident_in)


def record(*, db_session, incident_in: IncidentCreate, key: str, actor: str = "system"):
    """Store the identified incident once: a retry with the same key finds the first one."""
    from problemflow.models.services import incidents, records

    ref = records.storable(incident_in.external_ref or key[:120])  # as create stores it (no NUL)
    existing = incidents.get_by_external_ref(db_session=db_session, external_ref=ref)
    if existing is not None:
        return existing
    return incidents.create(db_session=db_session, incident_in=incident_in.model_copy(update={"external_ref": ref}),
                            actor=actor)




@task(name="record-incident", **RETRIES)
def record_task(incident_in: IncidentCreate, key: str, actor: str = "service-desk"):
    """Store the incident (idempotent by key); returns it as IncidentRead."""
    from problemflow.models.db import session_scope
    from problemflow.models.incident import IncidentRead

    with session_scope() as db_session:
        incident = record(db_session=db_session, incident_in=incident_in, key=key, actor=actor)
        return IncidentRead.model_validate(incident)
