"""What problemflow stores, how it is validated, and the rules on its states."""

from models.alert import AlertEvent
from models.audit import AuditEvent
from models.base import Base
from models.change import Approval, ChangeRequest
from models.incident import Incident
from models.kedb import KnownError, KnownErrorIncident, Workaround
from models.person import Person
from models.problem import (
    ContributingFactor,
    Problem,
    ProblemIncident,
    ProblemTask,
    RootCauseAnalysis,
)
from models.recurrence import RecurrenceGroup, RecurrenceMember, ScanRun
from models.review import Review

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
