"""Writing imported ServiceNow incidents: bulk inserts, idempotent on the ServiceNow number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from problemflow.models.audit import AuditEvent
from problemflow.models.base import utcnow
from problemflow.models.enums import IncidentSource
from problemflow.models.incident import Incident
from problemflow.models.states import priority_for
from problemflow.tasks.servicenow.parse import FIELD_NAMES, Event, ImportedIncident, iter_states

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


def _existing(db_session: Session, numbers: list[str]) -> dict[str, dict[str, Any]]:
    columns = [Incident.id, Incident.external_ref] + [getattr(Incident, c) for c in COMPARED]
    found = {}
    for chunk in _batches(numbers, 900):
        for row in db_session.execute(select(*columns).where(Incident.external_ref.in_(chunk))):
            found[row.external_ref] = row._asdict()
    return found


def _ids(db_session: Session, numbers: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _batches(numbers, 900):
        ids.update(db_session.execute(
            select(Incident.external_ref, Incident.id).where(Incident.external_ref.in_(chunk))).all())
    return ids


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


def _event_rows(incident_id: int, item: ImportedIncident, known: set[tuple]) -> Iterator[dict[str, Any]]:
    opened_at = item.values[FIELD_NAMES.index("opened_at")]
    for event, previous in iter_states(item.events):
        at = event.at or opened_at
        to_state = _state_text(event)
        if (incident_id, at, to_state, event.mod_count) in known:
            continue
        yield {
            "at": at,
            "actor": event.actor[:120],
            "action": EVENT_ACTION,
            "record_type": "incident",
            "record_id": incident_id,
            "from_state": _state_text(previous) if previous else None,
            "to_state": to_state,
            "detail": {"servicenow_state": event.raw_state, "sys_mod_count": event.mod_count, "line": event.line},
        }


def load(
    db_session: Session,
    incidents: dict[str, ImportedIncident],
    on_progress: Callable[[int], None] | None = None,
) -> LoadCounts:
    """Insert new incidents, update changed ones, leave the rest; then their history. The
    incidents go a batch at a time and their history in chunks, so the rows built for the
    database never hold more than one batch."""
    counts = LoadCounts()
    now = utcnow()
    for batch in _batches(list(incidents.values())):
        _load_batch(db_session, batch, now, counts, on_progress)
    return counts


def _load_batch(db_session: Session, batch: list[ImportedIncident], now: datetime, counts: LoadCounts,
                on_progress: Callable[[int], None] | None) -> None:
    numbers = [item.number for item in batch]
    existing = _existing(db_session, numbers)
    new_rows, changed_rows, updated = [], [], []
    for item in batch:
        values = incident_values(item)
        found = existing.get(item.number)
        if found is None:
            values.update(
                external_ref=item.number,
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
            updated.append(item.number)
        else:
            counts.unchanged += 1
    table = Incident.__table__
    if new_rows:
        db_session.execute(insert(table), new_rows)
        counts.created += len(new_rows)
    if changed_rows:
        stmt = update(table).where(table.c.id == bindparam("b_id")).values(
            {c: bindparam(c) for c in (*COMPARED, "updated_at")}
        )
        db_session.execute(stmt, changed_rows)
        counts.updated += len(changed_rows)
        counts.updated_refs.extend(updated)
    if on_progress and (new_rows or changed_rows):
        on_progress(len(new_rows) + len(changed_rows))
    del new_rows, changed_rows
    ids = _ids(db_session, numbers)
    known = _history_keys(db_session, {ids[n] for n in updated} | {found["id"] for found in existing.values()})
    rows = (row for item in batch for row in _event_rows(ids[item.number], item, known))
    while chunk := list(islice(rows, 10_000)):
        db_session.execute(insert(AuditEvent.__table__), chunk)
        counts.history_events += len(chunk)
    if updated:
        db_session.execute(
            insert(AuditEvent.__table__),
            [
                {
                    "at": now, "actor": "servicenow-import", "action": "servicenow_update",
                    "record_type": "incident", "record_id": ids[n], "from_state": None,
                    "to_state": None, "detail": {"servicenow_number": n},
                }
                for n in updated
            ],
        )
