"""Step 5, closure: the resolution recorded, nothing it depends on left open."""

from __future__ import annotations

import re
from typing import Optional

from prefect import task
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from problemflow.models.enums import IncidentState
from problemflow.models.services import incidents

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./-]*$")


class Closure(BaseModel):
    """A resolution code and the notes kept with it."""

    code: str = Field(min_length=1, max_length=64, description="e.g. workaround_applied, fix_applied")
    notes: str = Field(default="", max_length=20_000, description="what was done, for the next person")

    @field_validator("code")
    @classmethod
    def _code_is_a_word(cls, value: str) -> str:
        value = value.strip()
        if not _CODE.match(value):
            raise ValueError("the resolution code must be letters, digits, spaces or _ . / -")
        return value


class ClosureOutcome(BaseModel):
    incident_id: int
    number: str
    state: IncidentState
    code: Optional[str]
    already_closed: bool = False
    recurring: bool = Field(description="seen more than once: a candidate for problem management")


def close(*, db_session: Session, incident_id: int | str, code: str, notes: str = "",
          actor: str = "system") -> ClosureOutcome:
    """Close an incident with its resolution; refuses (naming them) while dependencies are open.

    Closing an incident that is already closed changes nothing.
    """
    closure = Closure(code=code, notes=notes)
    incident = incidents.get_or_raise(db_session=db_session, incident_id=incident_id)
    already = IncidentState(incident.state) == IncidentState.closed
    if not already:
        incidents.close(db_session=db_session, incident=incident, code=closure.code,
                        notes=closure.notes or None, actor=actor)
        db_session.flush()
    return ClosureOutcome(
        incident_id=incident.id, number=incident.number, state=IncidentState(incident.state),
        code=incident.resolution_code, already_closed=already,
        recurring=incident.occurrence_count > 1 or incident.recurrence_of_id is not None,
    )


@task(name="close-incident")
def close_task(incident_id: int, code: str, notes: str = "", actor: str = "system") -> ClosureOutcome:
    """Closure with resolution code and notes."""
    from problemflow.models.db import session_scope

    with session_scope() as db_session:
        return close(db_session=db_session, incident_id=incident_id, code=code, notes=notes, actor=actor)
