"""What problemflow stores, how it is validated, and the rules on its states."""

from problemflow.models.alert import AlertEvent
from problemflow.models.audit import AuditEvent
from problemflow.models.base import Base
from problemflow.models.change import Approval, ChangeRequest
from problemflow.models.incident import Incident
from problemflow.models.kedb import KnownError, KnownErrorIncident, Workaround
from problemflow.models.person import Person
from problemflow.models.problem import (
    ContributingFactor,
    Problem,
    ProblemIncident,
    ProblemTask,
    RootCauseAnalysis,
)
from problemflow.models.recurrence import RecurrenceGroup, RecurrenceMember, ScanRun
from problemflow.models.review import Review

__all__ = [
    "AlertEvent",
    "Approval",
    "AuditEvent",
    "Base",
    "ChangeRequest",
    "ContributingFactor",
    "Incident",
    "KnownError",
    "KnownErrorIncident",
    "Person",
    "Problem",
    "ProblemIncident",
    "ProblemTask",
    "RootCauseAnalysis",
    "RecurrenceGroup",
    "RecurrenceMember",
    "Review",
    "ScanRun",
    "Workaround",
]
