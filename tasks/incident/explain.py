"""Which rules decide an incident's triage: for people writing or checking a rules file."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

from problemflow.models.incident import IncidentCreate
from problemflow.models.states import priority_for
from problemflow.tasks.incident.categorize import categorize
from problemflow.tasks.incident.facts import facts_of
from problemflow.tasks.incident.identify import identify
from problemflow.tasks.incident.prioritize import prioritize
from problemflow.tasks.incident.rules import Rules, get_rules


class TriageExplained(BaseModel):
    """The triaged incident and the rule behind each step."""

    result: IncidentCreate
    priority: str
    route: Optional[str] = None
    category_rule: Optional[str] = None
    priority_rule: Optional[str] = None
    severity: Optional[str] = None
    rules_file: str


def _first(compiled_rules, facts, accept=lambda rule: True) -> Optional[str]:
    for compiled in compiled_rules:
        if accept(compiled.rule) and compiled.condition.holds(facts):
            return compiled.rule.name
    return None


def explain(incident_in: IncidentCreate, rules: Rules | None = None) -> TriageExplained:
    """Triage the incident and name the first matching rule of each list."""
    rules = rules or get_rules()
    identified = identify(incident_in, rules)
    route = _first(rules.routes, facts_of(identified))
    categorized = categorize(identified, rules)
    given = identified.category.casefold() if identified.category else None
    category_rule = _first(rules.categories, facts_of(identified),
                           lambda rule: given is None or rule.category.casefold() == given)
    result = prioritize(categorized, rules)
    severity = categorized.labels.get("severity")
    known = severity is not None and str(severity).strip().lower() in rules.severity
    return TriageExplained(
        result=result, priority=priority_for(result.impact, result.urgency).value,
        route=route, category_rule=category_rule,
        priority_rule=_first(rules.priorities, facts_of(categorized)),
        severity=str(severity) if known else None, rules_file=rules.source,
    )
