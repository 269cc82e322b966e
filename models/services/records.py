"""What every record service does the same way: find a record by number or id, and move it
along its state machine with an audit event."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Sequence, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.errors import NotFound
from problemflow.models.numbers import parse_number
from problemflow.models.services import audit
from problemflow.models.states import check_transition

R = TypeVar("R")
S = TypeVar("S", bound=StrEnum)


def storable(value: Any) -> Any:
    """``value`` (a dict of column values, or any JSON-like value) with NUL characters
    dropped from every text in it, keys and nested labels included: PostgreSQL refuses NUL
    in text and jsonb, and a NUL means nothing to a person."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(storable(v) for v in value)
    return value


def get_or_raise(db_session: Session, model: type[R], key: int | str, *, prefix: str, not_found: type[NotFound],
                 options: Sequence = ()) -> R:
    """The record by id or number (``PRB0000042``, ``42``, ``"42"``), or ``not_found(key)``."""
    try:
        record_id = parse_number(prefix, key)
    except ValueError:
        raise not_found(key) from None
    record = db_session.get(model, record_id, options=options)
    if record is None:
        raise not_found(key)
    return record


def list_recent(db_session: Session, model: type[R], *, limit: int, offset: int, states: Sequence | None) -> Sequence[R]:
    """Newest first, optionally only in some states."""
    stmt = select(model).order_by(model.id.desc()).limit(limit).offset(offset)
    if states:
        stmt = stmt.where(model.state.in_(states))
    return db_session.scalars(stmt).all()


def change_state(db_session: Session, record: Any, to_state: S, *, record_type: str, actor: str,
                 reason: str = "", detail: dict | None = None) -> S:
    """Check the move on the record's state machine, make it, and audit it; returns the state
    it came from (stamping times is the caller's, before or after)."""
    to_state = type(to_state)(to_state)
    current = type(to_state)(record.state)
    check_transition(current, to_state)
    record.state = to_state
    audit.record(
        db_session=db_session, actor=actor, action="transition", record_type=record_type, record_id=record.id,
        from_state=current, to_state=to_state, detail={**({"reason": reason} if reason else {}), **(detail or {})},
    )
    return current


def create_audit(db_session: Session, record: Any, *, record_type: str, actor: str, detail: dict) -> None:
    """The audit event of a record just created (flushed, so it has its id)."""
    audit.record(db_session=db_session, actor=actor, action="create", record_type=record_type,
                 record_id=record.id, to_state=record.state, detail=detail)
