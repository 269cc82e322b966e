"""The five incident steps: identify, categorize, prioritize, respond, close.

``triage`` runs the first three (pure and fast, no database) on an
``IncidentCreate`` before it is stored; ``respond`` and ``close`` work on a
stored incident through the services.
"""

from __future__ import annotations

from problemflow.models.incident import IncidentCreate
from problemflow.tasks.incident.categorize import categorize, categorize_task
from problemflow.tasks.incident.close import Closure, ClosureOutcome, close, close_task
from problemflow.tasks.incident.identify import identify, identify_task
from problemflow.tasks.incident.prioritize import prioritize, prioritize_task
from problemflow.tasks.incident.respond import ResponseOutcome, respond, respond_task
from problemflow.tasks.incident.rules import Rules, RulesError, get_rules


def triage(incident_in: IncidentCreate, rules: Rules | None = None) -> IncidentCreate:
    """Identification, categorization and prioritization, in that order."""
    rules = rules or get_rules()
    return prioritize(categorize(identify(incident_in, rules), rules), rules)


__all__ = [
    "Closure",
    "ClosureOutcome",
    "ResponseOutcome",
    "Rules",
    "RulesError",
    "categorize",
    "categorize_task",
    "close",
    "close_task",
    "get_rules",
    "identify",
    "identify_task",
    "prioritize",
    "prioritize_task",
    "respond",
    "respond_task",
    "triage",
]
