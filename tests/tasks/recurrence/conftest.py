"""Helpers to write incidents at chosen times and read back the groups a scan made."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from problemflow.models.incident import IncidentCreate
from problemflow.models.recurrence import RecurrenceGroup, RecurrenceMember
from problemflow.models.services import incidents

# Three days ago, at 09:00: the scan opens problems only for recurrences of the present,
# so the incidents these tests write (a few days apart from T0) are recent.
T0 = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=3)
DAY = 24 * 60  # minutes


def add(db, minutes: float, title: str, **fields) -> int:
    """Open an incident ``minutes`` after T0; returns its id.

    Alerts (with a fingerprint) are resolved at once: only one incident per
    fingerprint may be open, and a recurrence is a new incident after that.
    """
    incident_in = IncidentCreate(title=title, opened_at=T0 + timedelta(minutes=minutes), **fields)
    incident = incidents.create(db_session=db, incident_in=incident_in)
    if incident.fingerprint:
        incidents.resolve(db_session=db, incident=incident, code="auto-resolved")
        db.flush()
    return incident.id


def groups(db) -> dict[str, set[int]]:
    """Group key -> incident ids."""
    rows = db.execute(
        select(RecurrenceGroup.key, RecurrenceMember.incident_id).join(
            RecurrenceMember, RecurrenceMember.group_id == RecurrenceGroup.id
        )
    ).all()
    found: dict[str, set[int]] = {}
    for key, incident_id in rows:
        found.setdefault(key, set()).add(incident_id)
    return found


@pytest.fixture
def db(db_session):
    return db_session
