"""Writing imported ServiceNow incidents: bulk inserts, idempotent on the ServiceNow number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from problemflow.models.audit import AuditEvent
from problemflow.models.base import utcnow
from problemflow.models.enums import IncidentSource
from problemflow.models.incident import Incident
from problemflow.models.states import priority_for
from problemflow.tasks.servicenow.parse import Event, ImportedIncident, iter_states

BATCH = 5000
EVENT_ACTION = "servicenow_event"
# the incident columns an import writes (and compares, to tell "unchanged" from "updated")
COMPARED = (
    "title", "category", "subcategory", "symptom", "configuration_item", "assignment_group",
    "owner", "impact", "urgency", "priority", "state", "opened_at", "resolved_at", "closed_at",
    "resolution_code", "labels",
)


@dataclass
class LoadCounts:
    created: int = 0
    unchanged: int = 0
    updated: int = 0
    history_events: int = 0
    updated_refs: list[str] = field(default_factory=list)


def _batches(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def incident_values(item: ImportedIncident) -> dict[str, Any]:
    """The incident row for one imported incident (priority from the matrix if absent)."""
    values = dict(item.fields)
    if values["priority"] is None:
        values["priority"] = priority_for(values["impact"], values["urgency"])
    for key in ("impact", "urgency", "priority", "state"):
        values[key] = str(values[key])
    return values


def _existing(db_session: Session, numbers: set[str]) -> dict[str, dict[str, Any]]:
    columns = [Incident.id, Incident.external_ref] + [getattr(Incident, c) for c in COMPARED]
    rows = db_session.execute(select(*columns).where(Incident.external_ref.is_not(None)))
    return {row.external_ref: row._asdict() for row in rows if row.external_ref in numbers}


def _history_keys(db_session: Session, incident_ids: Iterable[int]) -> set[tuple]:
    """Events already recorded for these incidents, so a re-import adds only new ones."""
    keys: set[tuple] = set()
    ids = list(incident_ids)
    for chunk in _batches(ids, 900):
        stmt = select(AuditEvent.record_id, AuditEvent.at, AuditEvent.to_state, AuditEvent.detail).where(
            AuditEvent.record_type == "incident",
            AuditEvent.action == EVENT_ACTION,
            AuditEvent.record_id.in_(chunk),
        )
        for record_id, at, to_state, detail in db_session.execute(stmt):
            keys.add((record_id, at, to_state, (detail or {}).get("sys_mod_count")))
    return keys


def _state_text(event: Event) -> str:
    return str(event.state) if event.state else event.raw_state[:64]


def _event_rows(incident_id: int, item: ImportedIncident, known: set[tuple]) -> list[dict[str, Any]]:
    rows = []
    for event, previous in iter_states(item.events):
        at = event.at or item.fields["opened_at"]
        to_state = _state_text(event)
        if (incident_id, at, to_state, event.mod_count) in known:
            continue
        rows.append(
            {
                "at": at,
                "actor": event.actor[:120],
                "action": EVENT_ACTION,
                "record_type": "incident",
                "record_id": incident_id,
                "from_state": _state_text(previous) if previous else None,
                "to_state": to_state,
                "detail": {
                    "servicenow_state": event.raw_state,
                    "sys_mod_count": event.mod_count,
                    "line": event.line,
                },
            }
        )
    return rows


def load(
    db_session: Session,
    incidents: dict[str, ImportedIncident],
    on_progress: Callable[[int], None] | None = None,
) -> LoadCounts:
    """Insert new incidents, update changed ones, leave the rest; then their history."""
    counts = LoadCounts()
    existing = _existing(db_session, set(incidents))
    now = utcnow()
    new_rows, changed_rows = [], []
    for number, item in incidents.items():
        values = incident_values(item)
        found = existing.get(number)
        if found is None:
            values.update(
                external_ref=number,
                source=str(IncidentSource.servicenow),
                description="",
                template=None,  # the export has no message: its title is composed from its fields
                occurrence_count=1,
                last_occurrence_at=values["opened_at"],
                created_at=now,
                updated_at=now,
            )
            new_rows.append(values)
        elif any(found[c] != values[c] for c in COMPARED):
            values.update(b_id=found["id"], updated_at=now)
            changed_rows.append(values)
            counts.updated_refs.append(number)
        else:
            counts.unchanged += 1
    table = Incident.__table__
    for chunk in _batches(new_rows):
        db_session.execute(insert(table), chunk)
        counts.created += len(chunk)
        if on_progress:
            on_progress(len(chunk))
    if changed_rows:
        stmt = update(table).where(table.c.id == bindparam("b_id")).values(
            {c: bindparam(c) for c in (*COMPARED, "updated_at")}
        )
        for chunk in _batches(changed_rows):
            db_session.execute(stmt, chunk)
            counts.updated += len(chunk)
            if on_progress:
                on_progress(len(chunk))
    ids = dict(
        db_session.execute(
            select(Incident.external_ref, Incident.id).where(Incident.source == str(IncidentSource.servicenow))
        ).all()
    )
    changed_ids = [ids[n] for n in counts.updated_refs] + [existing[n]["id"] for n in existing]
    known = _history_keys(db_session, set(changed_ids))
    events: list[dict[str, Any]] = []
    for number, item in incidents.items():
        events.extend(_event_rows(ids[number], item, known))
    for chunk in _batches(events, 10_000):
        db_session.execute(insert(AuditEvent.__table__), chunk)
    counts.history_events = len(events)
    if counts.updated_refs:
        db_session.execute(
            insert(AuditEvent.__table__),
            [
                {
                    "at": now, "actor": "servicenow-import", "action": "servicenow_update",
                    "record_type": "incident", "record_id": ids[n], "from_state": None,
                    "to_state": None, "detail": {"servicenow_number": n},
                }
                for n in counts.updated_refs
            ],
        )
    return counts
