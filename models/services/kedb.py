"""Known error database: queries and writes."""

from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.enums import KnownErrorState
from problemflow.models.errors import KnownErrorNotFound
from problemflow.models.kedb import NUMBER_PREFIX, KnownError, KnownErrorCreate, KnownErrorIncident, Workaround
from problemflow.models.services import audit, records

RECORD = "known_error"


def get(*, db_session: Session, known_error_id: int) -> Optional[KnownError]:
    return db_session.get(KnownError, known_error_id)


def get_or_raise(*, db_session: Session, known_error_id: int | str) -> KnownError:
    return records.get_or_raise(db_session, KnownError, known_error_id, prefix=NUMBER_PREFIX,
                                not_found=KnownErrorNotFound)


def get_for_problem(*, db_session: Session, problem_id: int) -> Optional[KnownError]:
    return db_session.scalar(select(KnownError).where(KnownError.problem_id == problem_id))


def list(
    *,
    db_session: Session,
    limit: int = 50,
    offset: int = 0,
    states: Sequence[KnownErrorState] | None = None,
) -> Sequence[KnownError]:
    return records.list_recent(db_session, KnownError, limit=limit, offset=offset, states=states)


def create(
    *, db_session: Session, known_error_in: KnownErrorCreate, actor: str = "system"
) -> KnownError:
    known_error = KnownError(
        **known_error_in.model_dump(exclude={"signature"}),
        signature=known_error_in.signature.model_dump(),
    )
    db_session.add(known_error)
    db_session.flush()
    records.create_audit(db_session, known_error, record_type=RECORD, actor=actor, detail={})
    return known_error


def upsert_for_problem(
    *, db_session: Session, known_error_in: KnownErrorCreate, actor: str = "system"
) -> KnownError:
    """The problem's one known error: created the first time, updated after."""
    if known_error_in.problem_id is None:
        raise ValueError("upsert_for_problem needs a problem_id")
    known_error = get_for_problem(db_session=db_session, problem_id=known_error_in.problem_id)
    if known_error is None:
        return create(db_session=db_session, known_error_in=known_error_in, actor=actor)
    for field, value in known_error_in.model_dump(exclude={"signature"}).items():
        setattr(known_error, field, value)
    known_error.signature = known_error_in.signature.model_dump()
    audit.record(
        db_session=db_session, actor=actor, action="update", record_type=RECORD, record_id=known_error.id
    )
    return known_error


def transition(
    *,
    db_session: Session,
    known_error: KnownError,
    to_state: KnownErrorState,
    actor: str = "system",
    reason: str = "",
) -> KnownError:
    records.change_state(db_session, known_error, KnownErrorState(to_state), record_type=RECORD, actor=actor,
                         reason=reason)
    return known_error


def link_incident(
    *,
    db_session: Session,
    known_error: KnownError,
    incident_id: int,
    score: float,
    matched: dict | None = None,
) -> KnownErrorIncident:
    """Record that an incident is an occurrence of a known error (once)."""
    existing = db_session.get(KnownErrorIncident, (known_error.id, incident_id))
    if existing is not None:
        return existing
    link = KnownErrorIncident(
        known_error=known_error, incident_id=incident_id, score=score, matched=matched or {}
    )
    known_error.hit_count += 1
    db_session.add(link)
    return link


def upsert_workaround(
    *, db_session: Session, problem_id: int, description: str, actor: str = "system"
) -> Workaround:
    """The problem's one workaround: created the first time, updated after."""
    workaround = db_session.scalar(select(Workaround).where(Workaround.problem_id == problem_id))
    if workaround is None:
        workaround = Workaround(problem_id=problem_id, description=description, created_by=actor)
        db_session.add(workaround)
        db_session.flush()
        audit.record(
            db_session=db_session,
            actor=actor,
            action="create",
            record_type="workaround",
            record_id=workaround.id,
            detail={"problem_id": problem_id},
        )
    else:
        workaround.description = description
    return workaround
