"""Known errors entered by hand or from a file: created published, once per (title, service).

The problem flow records a known error for its problem (``tasks.problem.known_error``);
these have no problem behind them: a team's existing KEDB brought in, or a fix
someone already knows. They are published at once, so the incident response step
and ``kedb search`` find them straight away.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.enums import KnownErrorState
from problemflow.models.kedb import KnownError, KnownErrorCreate, Signature
from problemflow.models.services import kedb, records

ACTOR = "kedb-import"
Key = tuple[str, str]


def key_of(title: str, service: Optional[str]) -> Key:
    """What makes two known errors the same: the title as written (trimmed) and the service
    in any case ('' for none)."""
    return title.strip(), (service or "").strip().casefold()


def keys_of(title: str, services: Iterable[str]) -> list[Key]:
    """The keys a stored known error answers to: one per service, or one without."""
    return [key_of(title, s) for s in services] or [key_of(title, None)]


def stored_keys(db_session: Session, titles: Optional[Iterable[str]] = None) -> dict[Key, int]:
    """Key -> id of the stored known errors (of these titles only, when given), any state."""
    stmt = select(KnownError.id, KnownError.title, KnownError.signature)
    if titles is not None:
        stmt = stmt.where(KnownError.title.in_(sorted({t.strip() for t in titles})))
    found: dict[Key, int] = {}
    for known_error_id, title, signature in db_session.execute(stmt):
        for key in keys_of(title, (signature or {}).get("services") or []):
            found.setdefault(key, known_error_id)
    return found


def key_of_create(known_error_in: KnownErrorCreate) -> Key:
    services = known_error_in.signature.services
    return key_of(known_error_in.title, services[0] if services else None)


class NothingKnown(ValueError):
    """Neither a root cause nor a workaround: not yet a known error."""


def known_error_in(
    *, title: str, symptoms: str = "", root_cause: str = "", workaround: str = "", service: Optional[str] = None,
    category: Optional[str] = None, subcategory: Optional[str] = None, symptom: Optional[str] = None,
    keywords: Sequence[str] = (), fingerprints: Sequence[str] = (), labels: Optional[dict[str, str]] = None,
) -> KnownErrorCreate:
    """The record to create, checked (pydantic's ValidationError names a field that does not fit);
    NUL characters are dropped, as from every record stored."""
    title, symptoms, root_cause, workaround, service, category, subcategory, symptom = records.storable(
        (title, symptoms, root_cause, workaround, service, category, subcategory, symptom))
    keywords, fingerprints, labels = records.storable((list(keywords), list(fingerprints), dict(labels or {})))
    if not (root_cause or "").strip() and not (workaround or "").strip():
        raise NothingKnown("root_cause and workaround are both empty; a known error has at least one")
    return KnownErrorCreate(
        title=title.strip(), symptoms=symptoms.strip(), root_cause=root_cause.strip(), workaround=workaround.strip(),
        signature=Signature(
            services=[service.strip()] if service and service.strip() else [],
            category=category or None, subcategory=subcategory or None, symptom=symptom or None,
            keywords=[k.strip() for k in keywords if k.strip()],
            fingerprints=[f.strip() for f in fingerprints if f.strip()],
            labels=labels,
        ),
    )


def publish_new(*, db_session: Session, known_error_in: KnownErrorCreate, actor: str = ACTOR) -> KnownError:
    """Create the known error and publish it (two audit events: create, transition)."""
    known_error = kedb.create(db_session=db_session, known_error_in=known_error_in, actor=actor)
    kedb.transition(db_session=db_session, known_error=known_error, to_state=KnownErrorState.published,
                    actor=actor, reason="entered with its root cause or workaround known")
    db_session.flush()
    return known_error


def add(*, db_session: Session, known_error_in: KnownErrorCreate, actor: str = ACTOR) -> tuple[KnownError, bool]:
    """(the known error, True) when created and published; (the stored one, False) when one
    with the same title and service exists already, whatever its state."""
    existing = stored_keys(db_session, [known_error_in.title]).get(key_of_create(known_error_in))
    if existing is not None:
        return kedb.get_or_raise(db_session=db_session, known_error_id=existing), False
    return publish_new(db_session=db_session, known_error_in=known_error_in, actor=actor), True
