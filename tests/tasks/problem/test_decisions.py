"""A gate answer's one-time code is checked against when the approver sent it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from problemflow.models.change import ApprovalCreate
from problemflow.models.enums import Decision, Role
from problemflow.models.services.people import WRONG_CODE
from problemflow.tasks.problem.decisions import record_decision
from tests.models.test_people import enrolled


def answer(db_session, name: str, code: str, key: str, sent_at=None):
    return record_decision(db_session=db_session, code=code, sent_at=sent_at, approval_in=ApprovalCreate(
        gate="root-cause", decision=Decision.approved, approver=name, role=Role.problem_manager,
        answer_key=f"run:{key}"))


def test_an_answer_checked_minutes_after_it_was_sent_counts_with_the_code_of_then(db_session):
    """A busy machine resumes the run minutes after the answer: the code was fresh when sent."""
    sent = datetime.now(timezone.utc) - timedelta(minutes=5)
    early, late = enrolled(db_session, "pat"), enrolled(db_session, "kim")
    assert answer(db_session, "pat", early.at(sent), "root-cause-1r1-1", sent_at=sent).decision == Decision.approved
    # the same five-minute-old code with nothing to say when it was sent: expired
    refused = answer(db_session, "kim", late.at(sent), "root-cause-1r1-2")
    assert (refused.decision, refused.reason) == (Decision.refused, WRONG_CODE)


def test_a_code_of_another_time_than_the_sending_is_refused(db_session):
    sent = datetime.now(timezone.utc) - timedelta(minutes=5)
    totp = enrolled(db_session, "pat")
    refused = answer(db_session, "pat", totp.now(), "root-cause-1r1-1", sent_at=sent)
    assert (refused.decision, refused.reason) == (Decision.refused, WRONG_CODE)
