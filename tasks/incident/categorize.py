"""Step 2, categorization: category, subcategory, symptom and the team it goes to."""

from __future__ import annotations

from typing import Any

from prefect import task

from problemflow.models.incident import IncidentCreate
from problemflow.tasks.incident.facts import facts_of
from problemflow.tasks.incident.rules import Rules, get_rules


def categorize(incident_in: IncidentCreate, rules: Rules | None = None) -> IncidentCreate:
    """Apply the first category rule that matches.

    A category given in the input is kept; then only rules of that category may
    fill in the subcategory, symptom and assignment group.
    """
    rules = rules or get_rules()
    given = incident_in.category.casefold() if incident_in.category else None
    if given and incident_in.subcategory and incident_in.symptom and incident_in.assignment_group:
        return incident_in
    facts = facts_of(incident_in)
    for compiled in rules.categories:
        rule = compiled.rule
        if given is not None and rule.category.casefold() != given:
            continue
        if not compiled.condition.holds(facts):
            continue
        update: dict[str, Any] = {}
        if incident_in.category is None:
            update["category"] = rule.category
        if incident_in.subcategory is None and rule.subcategory:
            update["subcategory"] = rule.subcategory
        if incident_in.symptom is None and rule.symptom:
            update["symptom"] = rule.symptom
        if incident_in.assignment_group is None and rule.assignment_group:
            update["assignment_group"] = rule.assignment_group
        return incident_in.model_copy(update=update) if update else incident_in
    return incident_in


@task(name="categorize")
def categorize_task(incident_in: IncidentCreate) -> IncidentCreate:
    """Categorization: category, subcategory, symptom, assignment group."""
    return categorize(incident_in)
