"""Finding the known errors that explain an incident.

Each known error stores a :class:`models.kedb.Signature`; a search scores every
published (or fixed) known error against what is known about the incident:
fingerprint, labels, service, category, subcategory, symptom, keywords and the
TF-IDF cosine similarity of the text. Each signal gives a contribution in
[0, 1] (see :data:`tasks.kedb_index.WEIGHTS`), they combine as independent
evidence (``1 - prod(1 - c)``), and evidence against a known error (another
service, a conflicting label value, already fixed) scales the score down.
Retired, draft and expired known errors never match.
"""

from __future__ import annotations

from typing import Any, Optional

from prefect import task
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from problemflow.models.enums import KnownErrorState
from problemflow.models.kedb import NUMBER_PREFIX
from problemflow.models.numbers import format_number
from problemflow.models.services import incidents
from problemflow.tasks.kedb.index import get_index, now_ts
from problemflow.tasks.kedb.signals import PENALTIES, Query


class KedbMatch(BaseModel):
    """One known error that fits, with why."""

    known_error_id: int
    number: str
    title: str
    state: KnownErrorState
    fixed: bool = Field(description="the known error is marked fixed: this may be a recurrence")
    score: float = Field(ge=0, le=1)
    signals: dict[str, float] = Field(
        default_factory=dict, description="each signal's contribution before penalties"
    )

    @property
    def signals_text(self) -> str:
        return ", ".join(f"{name} {value:.2f}" for name, value in self.signals.items())


def _matches(index, results) -> list[KedbMatch]:
    out = []
    for i, score, signals in results:
        doc = index.docs[i]
        out.append(
            KedbMatch(
                known_error_id=doc.id,
                number=format_number(NUMBER_PREFIX, doc.id),
                title=doc.title,
                state=KnownErrorState.fixed if doc.fixed else KnownErrorState.published,
                fixed=doc.fixed,
                score=round(min(max(score, 0.0), 1.0), 4),
                signals=signals,
            )
        )
    return out


def search(
    *,
    db_session: Session,
    text: str = "",
    labels: Optional[dict[str, Any]] = None,
    service: Optional[str] = None,
    category: Optional[str] = None,
    subcategory: Optional[str] = None,
    symptom: Optional[str] = None,
    fingerprint: Optional[str] = None,
    top: int = 5,
    min_score: float = 0.0,
) -> list[KedbMatch]:
    """The ``top`` known errors that best fit, best first (only those scoring above ``min_score``)."""
    if top < 1:
        raise ValueError("top must be at least 1")
    query = Query.build(
        text=text, labels=labels, service=service, category=category,
        subcategory=subcategory, symptom=symptom, fingerprint=fingerprint,
    )
    index = get_index(db_session)
    return _matches(index, index.top(query, top, now_ts(), min_score))


def search_brute_force(*, db_session: Session, top: int = 5, min_score: float = 0.0, **query_in) -> list[KedbMatch]:
    """The same search scoring each known error one at a time (for checks and benchmarks)."""
    index = get_index(db_session)
    return _matches(index, index.brute_force(Query.build(**query_in), top, now_ts(), min_score))


def query_of(incident) -> dict[str, Any]:
    """The search arguments that describe a stored incident."""
    text = incident.title if not incident.description else f"{incident.title}\n{incident.description}"
    return {
        "text": text,
        "labels": incident.labels or {},
        "service": incident.service,
        "category": incident.category,
        "subcategory": incident.subcategory,
        "symptom": incident.symptom,
        "fingerprint": incident.fingerprint,
    }


def match_incident(*, db_session: Session, incident_id: int | str, top: int = 5) -> list[KedbMatch]:
    """The known errors that best fit a stored incident."""
    incident = incidents.get_or_raise(db_session=db_session, incident_id=incident_id)
    return search(db_session=db_session, top=top, **query_of(incident))


@task(name="kedb-match")
def match_incident_task(incident_id: int, top: int = 5) -> list[KedbMatch]:
    """Search the KEDB for an incident."""
    from problemflow.models.db import session_scope

    with session_scope() as db_session:
        return match_incident(db_session=db_session, incident_id=incident_id, top=top)


__all__ = ["KedbMatch", "PENALTIES", "match_incident", "match_incident_task", "query_of", "search"]
