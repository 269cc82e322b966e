"""Every state machine: each legal move passes, each illegal one names the way out."""

from __future__ import annotations

import itertools

import pytest

from problemflow.models.enums import ChangeState, IncidentState, KnownErrorState, Level, Priority, ProblemState
from problemflow.models.states import (
    MACHINES,
    IllegalTransition,
    allowed_next,
    check_transition,
    priority_for,
)

ALL_PAIRS = [
    (current, target)
    for state_type in (IncidentState, ProblemState, KnownErrorState, ChangeState)
    for current, target in itertools.product(state_type, state_type)
]


@pytest.mark.parametrize("current,target", ALL_PAIRS, ids=lambda s: s.value)
def test_every_pair_is_legal_exactly_when_the_table_says(current, target):
    _, table = MACHINES[type(current)]
    if target in table[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as raised:
            check_transition(current, target)
        assert raised.value.current == current
        assert raised.value.allowed == sorted(s.value for s in table[current])


def test_every_state_has_an_entry_and_targets_of_its_own_kind():
    for state_type, (_, table) in MACHINES.items():
        assert set(table) == set(state_type)
        for targets in table.values():
            assert all(isinstance(t, state_type) for t in targets)


def test_error_message_names_current_target_and_allowed():
    with pytest.raises(IllegalTransition) as raised:
        check_transition(ProblemState.new, ProblemState.resolved)
    message = str(raised.value)
    assert "problem cannot go from 'new' to 'resolved'" in message
    assert "allowed next states: assessed, closed" in message


def test_final_states_say_so():
    with pytest.raises(IllegalTransition, match=r"none \(final state\)"):
        check_transition(IncidentState.closed, IncidentState.new)
    assert allowed_next(ChangeState.implemented) == set()


def test_target_given_as_text_is_accepted():
    check_transition(IncidentState.new, "resolved")


def test_the_usual_problem_path_is_open_end_to_end():
    path = [
        ProblemState.new,
        ProblemState.assessed,
        ProblemState.root_cause_analysis,
        ProblemState.fix_in_progress,
        ProblemState.resolved,
        ProblemState.closed,
    ]
    for current, target in zip(path, path[1:]):
        check_transition(current, target)


@pytest.mark.parametrize(
    "impact,urgency,expected",
    [
        ("high", "high", Priority.critical),
        ("high", "medium", Priority.high),
        ("high", "low", Priority.moderate),
        ("medium", "high", Priority.high),
        ("medium", "medium", Priority.moderate),
        ("medium", "low", Priority.low),
        ("low", "high", Priority.moderate),
        ("low", "medium", Priority.low),
        ("low", "low", Priority.planning),
    ],
)
def test_itil_priority_matrix(impact, urgency, expected):
    assert priority_for(impact, urgency) == expected
    assert priority_for(Level(impact), Level(urgency)) == expected


def test_priority_rank_orders_critical_first():
    assert sorted(Priority, key=lambda p: p.rank)[0] == Priority.critical
    assert Priority.planning.rank == 5


def test_unknown_level_is_rejected():
    with pytest.raises(ValueError):
        priority_for("huge", "high")
