"""Closed vocabularies of the domain: states, levels and codes."""

from enum import StrEnum


class Level(StrEnum):
    """Impact or urgency on the ITIL three-step scale."""

    high = "high"
    medium = "medium"
    low = "low"


class Priority(StrEnum):
    critical = "1-critical"
    high = "2-high"
    moderate = "3-moderate"
    low = "4-low"
    planning = "5-planning"

    @property
    def rank(self) -> int:
        return int(self.value[0])


class IncidentSource(StrEnum):
    alertmanager = "alertmanager"
    grafana = "grafana"
    pagerduty = "pagerduty"
    generic = "generic"
    service_desk = "service_desk"
    api = "api"
    servicenow = "servicenow"
    # history from any tool's export (problemflow import incidents)
    imported = "import"


class IncidentState(StrEnum):
    new = "new"
    in_progress = "in_progress"
    on_hold = "on_hold"
    resolved = "resolved"
    closed = "closed"
    cancelled = "cancelled"


class ProblemState(StrEnum):
    new = "new"
    assessed = "assessed"
    root_cause_analysis = "root_cause_analysis"
    fix_in_progress = "fix_in_progress"
    resolved = "resolved"
    closed = "closed"


class ProblemScale(StrEnum):
    quick_fix = "quick_fix"
    standard = "standard"
    major = "major"


class ClosureCode(StrEnum):
    fix_applied = "fix_applied"
    duplicate = "duplicate"
    risk_accepted = "risk_accepted"


class KnownErrorState(StrEnum):
    draft = "draft"
    published = "published"
    fixed = "fixed"
    retired = "retired"


class ChangeState(StrEnum):
    draft = "draft"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    rejected = "rejected"
    implemented = "implemented"
    failed = "failed"
    cancelled = "cancelled"


class ChangeType(StrEnum):
    standard = "standard"
    normal = "normal"
    emergency = "emergency"


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    blocked = "blocked"
    done = "done"


class FactorCategory(StrEnum):
    """Fishbone categories for contributing factors."""

    people = "people"
    process = "process"
    technology = "technology"
    supplier = "supplier"
    environment = "environment"


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"
    refused = "refused"  # the answer came from someone without the role


class Role(StrEnum):
    problem_manager = "problem_manager"
    change_approver = "change_approver"
    problem_analyst = "problem_analyst"
    incident_manager = "incident_manager"
