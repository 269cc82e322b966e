"""State machines of every record type, and the ITIL priority matrix.

All allowed transitions live here; services call :func:`check_transition`
before changing a state, so no other module decides what may follow what.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Mapping

from problemflow.models.enums import (
    ChangeState,
    IncidentState,
    KnownErrorState,
    Level,
    Priority,
    ProblemState,
)


class IllegalTransition(ValueError):
    """A state change that the record's state machine does not allow."""

    def __init__(self, kind: str, current: StrEnum, target: StrEnum, allowed: set[StrEnum]):
        self.kind = kind
        self.current = current
        self.target = target
        self.allowed = sorted(a.value for a in allowed)
        allowed_text = ", ".join(self.allowed) or "none (final state)"
        super().__init__(
            f"{kind} cannot go from '{current.value}' to '{target.value}'; "
            f"allowed next states: {allowed_text}"
        )


_I = IncidentState
# an incident still being worked; the database's unique index of open fingerprints uses the same set
OPEN_INCIDENT_STATES = (_I.new, _I.in_progress, _I.on_hold)
# the same, for SQL written by hand: ('new', 'in_progress', 'on_hold')
OPEN_INCIDENT_STATES_SQL = "(" + ", ".join(f"'{s.value}'" for s in OPEN_INCIDENT_STATES) + ")"

INCIDENT_TRANSITIONS: Mapping[IncidentState, set[IncidentState]] = {
    _I.new: {_I.in_progress, _I.on_hold, _I.resolved, _I.cancelled},
    _I.in_progress: {_I.on_hold, _I.resolved, _I.cancelled},
    _I.on_hold: {_I.in_progress, _I.resolved, _I.cancelled},
    _I.resolved: {_I.closed, _I.in_progress},
    _I.closed: set(),
    _I.cancelled: set(),
}

_P = ProblemState
PROBLEM_TRANSITIONS: Mapping[ProblemState, set[ProblemState]] = {
    _P.new: {_P.assessed, _P.closed},
    _P.assessed: {_P.root_cause_analysis, _P.closed},
    _P.root_cause_analysis: {_P.fix_in_progress, _P.closed},
    # back to analysis when a change is rejected and re-planned
    _P.fix_in_progress: {_P.resolved, _P.root_cause_analysis, _P.closed},
    # a recurrence inside the verification window reopens the problem
    _P.resolved: {_P.closed, _P.root_cause_analysis},
    # a recurrence inside the verification window reopens a closed fix too
    _P.closed: {_P.root_cause_analysis},
}

_K = KnownErrorState
KNOWN_ERROR_TRANSITIONS: Mapping[KnownErrorState, set[KnownErrorState]] = {
    _K.draft: {_K.published, _K.retired},
    _K.published: {_K.fixed, _K.retired},
    _K.fixed: {_K.published, _K.retired},
    _K.retired: set(),
}

_C = ChangeState
CHANGE_TRANSITIONS: Mapping[ChangeState, set[ChangeState]] = {
    _C.draft: {_C.awaiting_approval, _C.approved, _C.cancelled},
    _C.awaiting_approval: {_C.approved, _C.rejected, _C.cancelled},
    _C.approved: {_C.implemented, _C.failed, _C.cancelled},
    _C.rejected: set(),
    _C.implemented: set(),
    _C.failed: set(),
    _C.cancelled: set(),
}

MACHINES: Mapping[type[StrEnum], tuple[str, Mapping]] = {
    IncidentState: ("incident", INCIDENT_TRANSITIONS),
    ProblemState: ("problem", PROBLEM_TRANSITIONS),
    KnownErrorState: ("known error", KNOWN_ERROR_TRANSITIONS),
    ChangeState: ("change request", CHANGE_TRANSITIONS),
}


def allowed_next(current: StrEnum) -> set[StrEnum]:
    """The states that may follow ``current`` in its record type's machine."""
    _, table = MACHINES[type(current)]
    return set(table[current])


def check_transition(current: StrEnum, target: StrEnum) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is allowed."""
    kind, table = MACHINES[type(current)]
    if type(target) is not type(current):
        target = type(current)(target)
    if target not in table[current]:
        raise IllegalTransition(kind, current, target, table[current])


_L = Level
PRIORITY_MATRIX: Mapping[tuple[Level, Level], Priority] = {
    (_L.high, _L.high): Priority.critical,
    (_L.high, _L.medium): Priority.high,
    (_L.high, _L.low): Priority.moderate,
    (_L.medium, _L.high): Priority.high,
    (_L.medium, _L.medium): Priority.moderate,
    (_L.medium, _L.low): Priority.low,
    (_L.low, _L.high): Priority.moderate,
    (_L.low, _L.medium): Priority.low,
    (_L.low, _L.low): Priority.planning,
}


def priority_for(impact: Level | str, urgency: Level | str) -> Priority:
    """Priority from impact (row) and urgency (column) by the ITIL matrix."""
    return PRIORITY_MATRIX[(Level(impact), Level(urgency))]
