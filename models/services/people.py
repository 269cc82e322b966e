"""People: who they are, which roles they hold, and the proof that an answer is theirs.

The proof is an RFC 6238 time-based one-time code from the person's authenticator
app. A code counts once: the time step of the last accepted code is kept, and a
code of that step or an older one is refused, so an answer copied from Prefect's
database (where every answer is readable) cannot be replayed. After
``LOCKOUT_FAILURES`` wrong or reused codes within ``LOCKOUT_MINUTES``, every answer
in the person's name is refused until the window has passed.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Optional, Sequence

import pyotp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.change import Approval
from problemflow.models.errors import NotFound, ProblemflowError
from problemflow.models.person import Person, PersonCreate
from problemflow.models.secrets import seal, unseal
from problemflow.models.services import audit

RECORD = "person"
ISSUER = "problemflow"
STEP_SECONDS = 30  # what every authenticator app uses
DRIFT_STEPS = 1  # a code of the step before or after is accepted (clock drift, typing time)
LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15

# why an answer was refused: stored on the approval row and in the audit trail
NO_SUCH_PERSON = "no such person"
DISABLED = "person disabled"
NOT_ENROLLED = "not enrolled for one-time codes"
WRONG_CODE = "wrong code"
REUSED_CODE = "reused code"
LOCKED_OUT = "locked out"
NO_ROLE = "no role"
FAILED_PROOFS = (WRONG_CODE, REUSED_CODE)


class PersonNotFound(NotFound):
    kind = "person"


class PersonExists(ProblemflowError):
    """A person of that name exists already."""


def normal_name(name: str) -> str:
    """A user name as stored and compared: trimmed, lower case."""
    return name.strip().lower()


def get_by_name(*, db_session: Session, name: str) -> Optional[Person]:
    return db_session.scalar(select(Person).where(Person.name == normal_name(name)))


def get_or_raise(*, db_session: Session, name: str) -> Person:
    person = get_by_name(db_session=db_session, name=name)
    if person is None:
        raise PersonNotFound(name)
    return person


def list(*, db_session: Session, role: Optional[str] = None) -> Sequence[Person]:  # noqa: A001 - the verb set
    people = db_session.scalars(select(Person).order_by(Person.name)).all()
    return [p for p in people if role is None or role in p.roles]


def create(*, db_session: Session, person_in: PersonCreate, actor: str = "cli") -> Person:
    if get_by_name(db_session=db_session, name=person_in.name) is not None:
        raise PersonExists(f"{person_in.name} exists already (see: problemflow people show {person_in.name})")
    person = Person(
        name=person_in.name, display_name=person_in.display_name,
        roles=sorted({str(r) for r in person_in.roles}), notify_urls=person_in.notify_urls,
    )
    db_session.add(person)
    db_session.flush()
    audit.record(db_session=db_session, actor=actor, action="create", record_type=RECORD, record_id=person.id,
                 detail={"name": person.name, "roles": person.roles})
    return person


def set_enabled(*, db_session: Session, person: Person, enabled: bool, actor: str = "cli") -> Person:
    person.enabled = enabled
    audit.record(db_session=db_session, actor=actor, action="enable" if enabled else "disable",
                 record_type=RECORD, record_id=person.id, detail={"name": person.name})
    return person


def enroll(*, db_session: Session, person: Person, actor: str = "cli") -> str:
    """Give the person a new one-time-code secret (any earlier one stops working); returns the
    otpauth:// URI for their authenticator app. The secret is stored sealed, never in clear."""
    secret = pyotp.random_base32()
    person.secret = seal(secret)
    person.enrolled_at = utcnow()
    person.last_step = None
    audit.record(db_session=db_session, actor=actor, action="enroll", record_type=RECORD, record_id=person.id,
                 detail={"name": person.name, "method": "totp"})
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=person.name, issuer_name=ISSUER)


def seed(*, db_session: Session, roles: dict[str, list[str]]) -> int:
    """Make sure everyone named in ``PROBLEMFLOW_ROLES`` exists and holds those roles (roles
    given here are added, never removed); returns how many people were added or changed.
    A seeded person still needs ``problemflow people enroll`` before answering a gate."""
    from problemflow.models.enums import Role

    changed = 0
    for role, names in roles.items():
        Role(role)  # an unknown role in the setting is an error a person can act on
        for name in names:
            person = get_by_name(db_session=db_session, name=name)
            if person is None:
                person = create(db_session=db_session, person_in=PersonCreate(name=normal_name(name)), actor="settings")
            if role not in person.roles:
                person.roles = sorted({*person.roles, role})
                changed += 1
    db_session.flush()
    return changed


def _failures(db_session: Session, name: str, since: datetime) -> int:
    return db_session.scalar(
        select(func.count()).select_from(Approval)
        .where(Approval.approver == name, Approval.reason.in_(FAILED_PROOFS), Approval.decided_at >= since)
    ) or 0


def check_proof(*, db_session: Session, name: str, code: str, role: str, at: Optional[datetime] = None) -> Optional[str]:
    """Why an answer in ``name``'s name with ``code`` is refused for a gate of ``role``, or
    None when it counts. A code that counts is used up (the caller commits)."""
    at = at or utcnow()
    person = db_session.scalar(select(Person).where(Person.name == normal_name(name)).with_for_update())
    if person is None:
        return NO_SUCH_PERSON
    if not person.enabled:
        return DISABLED
    if _failures(db_session, person.name, at - timedelta(minutes=LOCKOUT_MINUTES)) >= LOCKOUT_FAILURES:
        return LOCKED_OUT
    if person.secret is None:
        return NOT_ENROLLED
    totp = pyotp.TOTP(unseal(person.secret), interval=STEP_SECONDS)
    now_step = int(at.timestamp()) // STEP_SECONDS
    matched = None
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code.strip()):
            matched = step
    if matched is None:
        return WRONG_CODE
    if person.last_step is not None and matched <= person.last_step:
        return REUSED_CODE
    if role not in person.roles:
        return NO_ROLE
    person.last_step = matched
    return None


def holding(*, db_session: Session, role: str) -> list[str]:
    """Names of the enabled, enrolled people who hold ``role``: who may answer its gates."""
    return [p.name for p in list(db_session=db_session, role=role) if p.enabled and p.secret is not None]
