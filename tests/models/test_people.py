"""People and the proof of an answer: a fresh one-time code of the named person, who holds the role."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyotp
import pytest
from sqlalchemy import select, text

from problemflow.models.change import Approval, ApprovalCreate
from problemflow.models.enums import Decision, Role
from problemflow.models.person import Person, PersonCreate
from problemflow.models.services import changes, people
from problemflow.models.services.people import (
    DISABLED,
    LOCKED_OUT,
    NO_ROLE,
    NO_SUCH_PERSON,
    NOT_ENROLLED,
    REUSED_CODE,
    WRONG_CODE,
    PersonExists,
)

AT = datetime(2026, 11, 27, 12, 0, 5, tzinfo=timezone.utc)


def enrolled(db, name: str = "mia", roles=(Role.problem_manager,)) -> pyotp.TOTP:
    person = people.create(db_session=db, person_in=PersonCreate(name=name, roles=list(roles)))
    return pyotp.TOTP(pyotp.parse_uri(people.enroll(db_session=db, person=person)).secret)


def check(db, name: str, code: str, at: datetime = AT, role: str = "problem_manager"):
    return people.check_proof(db_session=db, name=name, code=code, role=role, at=at)


def test_a_fresh_code_counts_once_and_never_an_older_one(db_session):
    totp = enrolled(db_session)
    assert check(db_session, "mia", totp.at(AT)) is None
    assert check(db_session, "mia", totp.at(AT)) == REUSED_CODE  # replayed from a stored answer
    previous = AT - timedelta(seconds=30)
    assert check(db_session, "mia", totp.at(previous)) == REUSED_CODE  # older than the last one used
    later = AT + timedelta(seconds=30)
    assert check(db_session, "mia", totp.at(later), at=later) is None
    assert check(db_session, "mia", "000000" if totp.at(later + timedelta(seconds=30)) != "000000" else "111111",
                 at=later + timedelta(seconds=30)) == WRONG_CODE


def test_clock_drift_of_one_step_is_accepted_and_no_more(db_session):
    totp = enrolled(db_session)
    assert check(db_session, "mia", totp.at(AT + timedelta(seconds=30))) is None  # the phone runs ahead
    assert check(db_session, "mia", totp.at(AT + timedelta(seconds=90))) == WRONG_CODE


def test_every_other_refusal_names_its_reason(db_session):
    totp = enrolled(db_session, roles=[Role.change_approver])
    assert check(db_session, "nobody", "123456") == NO_SUCH_PERSON
    assert check(db_session, "mia", totp.at(AT)) == NO_ROLE
    people.create(db_session=db_session, person_in=PersonCreate(name="new", roles=[Role.problem_manager]))
    assert check(db_session, "new", "123456") == NOT_ENROLLED
    person = people.get_or_raise(db_session=db_session, name="mia")
    people.set_enabled(db_session=db_session, person=person, enabled=False)
    assert check(db_session, "mia", totp.at(AT), role="change_approver") == DISABLED


def _refusal(db, name: str, reason: str, at: datetime, n: int) -> None:
    changes.record_approval(db_session=db, approval_in=ApprovalCreate(
        gate="root-cause", decision=Decision.refused, approver=name, reason=reason, answer_key=f"run:{n}"))
    db.flush()
    db.execute(text("UPDATE approval SET decided_at = :at WHERE answer_key = :key"), {"at": at, "key": f"run:{n}"})


def test_five_failed_proofs_lock_the_person_out_for_fifteen_minutes(db_session):
    totp = enrolled(db_session)
    for n in range(5):
        _refusal(db_session, "mia", WRONG_CODE if n % 2 else REUSED_CODE, AT - timedelta(minutes=10), n)
    assert check(db_session, "mia", totp.at(AT)) == LOCKED_OUT  # even the right code
    later = AT + timedelta(minutes=6)  # the failures are now 16 minutes old
    assert check(db_session, "mia", totp.at(later), at=later) is None


def test_seeding_from_the_roles_setting_adds_names_and_roles_but_no_proof(db_session):
    enrolled(db_session, "bob", roles=[Role.change_approver])
    people.seed(db_session=db_session, roles={"problem_manager": ["Mia", "bob"], "change_approver": ["bob"]})
    found = {p.name: p.roles for p in people.list(db_session=db_session)}
    assert found == {"bob": ["change_approver", "problem_manager"], "mia": ["problem_manager"]}
    assert people.holding(db_session=db_session, role="problem_manager") == ["bob"]  # mia is not enrolled
    with pytest.raises(ValueError):
        people.seed(db_session=db_session, roles={"superuser": ["eve"]})
    with pytest.raises(PersonExists):
        people.create(db_session=db_session, person_in=PersonCreate(name="bob"))


def test_the_secret_is_stored_sealed(db_session):
    totp = enrolled(db_session)
    stored = db_session.scalar(select(Person.secret).where(Person.name == "mia"))
    assert totp.secret not in stored and len(stored) > 80
    assert not db_session.scalars(select(Approval)).all()


def test_case_variations_of_a_name_are_one_person_for_the_lock_out(db_session):
    """``PAT``, ``Pat`` and `` pat`` are pat: their wrong codes count toward pat's lock-out."""
    from problemflow.flows.gates import ChangeApproval
    from problemflow.tasks.problem.decisions import record_decision

    totp = enrolled(db_session, "pat")
    wrong = "000000" if totp.now() != "000000" else "111111"
    for n, typed in enumerate(("PAT", "Pat", " pat ", "pAt", "PAt")):
        approval = record_decision(db_session=db_session, code=wrong, approval_in=ApprovalCreate(
            gate="root-cause", decision=Decision.approved, approver=typed, role=Role.problem_manager,
            answer_key=f"run:root-cause-1r1-{n}"))
        assert (approval.approver, approval.reason) == ("pat", WRONG_CODE)
    assert check(db_session, "pat", totp.now(), at=datetime.now(timezone.utc)) == LOCKED_OUT
    form = ChangeApproval(approver=" CAB-Alex ", code="123456", decision="approve")
    assert form.approver == "cab-alex"
