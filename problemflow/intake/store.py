"""Storing a batch of alerts in one transaction: dedup, recurrence, resolution.

For each alert, in arrival order:

* firing, nothing open for its (source, fingerprint): a new incident, linked to the
  last resolved one of the same fingerprint as a recurrence when there is one;
* firing, an incident open: an occurrence of it;
* resolved: the open incident is resolved (policy ``resolve``) or the alert is
  only recorded (policy ``record``);
* acknowledged (PagerDuty): a new incident moves to in progress.

Creation is bulk: one INSERT ... ON CONFLICT DO NOTHING for the batch on the
partial unique index of open fingerprints, so a concurrent writer (another
worker) that opened the same incident first wins and this alert becomes an
occurrence of it. Creation follows ``models.services.incidents.create``:
priority by the ITIL matrix, an audit event per incident. Occurrences,
resolutions and acknowledgements go through the incident services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.intake.bulk import insert_rows, insert_together
from problemflow.intake.common import NormalAlert, clean_json
from problemflow.models.alert import AlertEvent, AlertOutcome, AlertStatus
from problemflow.models.audit import AuditEvent
from problemflow.models.base import utcnow
from problemflow.models.enums import IncidentState, Priority
from problemflow.models.incident import Incident
from problemflow.models.services import incidents
from problemflow.models.states import OPEN_INCIDENT_STATES_SQL, priority_for

ResolvePolicy = Literal["resolve", "record"]
ACTOR = "intake"
OPEN_WHERE = f"fingerprint IS NOT NULL AND state IN {OPEN_INCIDENT_STATES_SQL}"
_ON_CONFLICT = f"ON CONFLICT (source, fingerprint) WHERE {OPEN_WHERE} DO NOTHING"
# The batch's keys as a VALUES list, looked up one (source, fingerprint) at a time in the
# index. On PostgreSQL the lookup is a LATERAL subquery, so the plan stays a nested loop
# of index scans whatever the planner believes of the table: on a table that grew since
# its last ANALYZE (a fresh install in its first alert storm) a plain join or an IN list
# was planned as a scan of every open incident.
_OPEN_SQL = (
    "SELECT i.id, i.source, i.fingerprint FROM (VALUES {keys}) AS k "
    "JOIN incident i ON i.source = k.column1 AND i.fingerprint = k.column2 "
    f"WHERE i.state IN {OPEN_INCIDENT_STATES_SQL} ORDER BY i.id"
)
_CLOSED_SQL = (
    "SELECT i.source, i.fingerprint, max(i.id) FROM (VALUES {keys}) AS k "
    "JOIN incident i ON i.source = k.column1 AND i.fingerprint = k.column2 "
    "WHERE i.state IN ('resolved', 'closed') GROUP BY i.source, i.fingerprint"
)
# One round trip for both lookups, rows locked in key order (the keys are sorted):
# concurrent writers queue, never deadlock.
_LOOKUP_SQL_PG = (
    "SELECT k.column1, k.column2, o.id, c.last FROM (VALUES {keys}) AS k "
    "LEFT JOIN LATERAL (SELECT id FROM incident WHERE source = k.column1 AND fingerprint = k.column2 "
    f"AND state IN {OPEN_INCIDENT_STATES_SQL} FOR UPDATE) AS o ON true "
    "LEFT JOIN LATERAL (SELECT max(id) AS last FROM incident WHERE source = k.column1 "
    "AND fingerprint = k.column2 AND state IN ('resolved', 'closed')) AS c ON true"
)
_INCIDENT = Incident.__table__
_AUDIT = AuditEvent.__table__
_ALERT_EVENT = AlertEvent.__table__
_CREATE_EXCLUDE = {"depends_on", "opened_at"}

Key = tuple[str, str]


class ConcurrentChange(RuntimeError):
    """Another writer changed an incident this batch depends on; write the batch again."""


@dataclass(slots=True)
class _Pending:
    """An incident to create in this batch."""

    alert: NormalAlert
    recurrence_of: Optional[int]
    occurrences: int = 1
    last_at: Optional[datetime] = None
    incident_id: Optional[int] = None  # set once inserted (or found open by a concurrent writer)
    priority: str = ""  # set once inserted
    lost_race: bool = False


@dataclass(slots=True)
class Stored:
    outcome: AlertOutcome
    target: "Incident | _Pending | int | None"

    @property
    def incident_id(self) -> Optional[int]:
        target = self.target
        if isinstance(target, _Pending):
            return target.incident_id
        if isinstance(target, Incident):
            return target.id
        return target

    @property
    def final_outcome(self) -> AlertOutcome:
        if isinstance(self.target, _Pending) and self.target.lost_race and self.outcome in (
            AlertOutcome.created,
            AlertOutcome.recurrence,
        ):
            return AlertOutcome.deduplicated
        return self.outcome


@dataclass
class BatchResult:
    results: list[tuple[AlertOutcome, Optional[int]]]
    created: list[tuple[int, int]] = field(default_factory=list)  # (incident id, priority rank 1-5)


class _Batch:
    def __init__(self, db_session: Session, alerts: list[NormalAlert], policy: ResolvePolicy):
        self.db = db_session
        self.alerts = alerts
        self.policy = policy
        self.now = utcnow()
        self.open: dict[Key, Incident | _Pending] = {}
        self.last_closed: dict[Key, int] = {}
        self.pending: list[_Pending] = []
        self.created: list[_Pending] = []
        self.audits: list[dict] = []  # creation audit events, written at the end of the batch

    def _query(self, sql: str, keys: set[Key]) -> list[tuple]:
        """Plain SQL on the session's own connection (same transaction): per batch,
        SQLAlchemy's statement and result handling cost more than the query."""
        mark = "?" if self.db.connection().dialect.paramstyle == "qmark" else "%s"
        ordered = sorted(keys)
        sql = sql.format(keys=", ".join([f"({mark}, {mark})"] * len(ordered)))
        return _fetch(self.db, sql, tuple(value for key in ordered for value in key))

    def load(self) -> None:
        keys = {(a.source, a.fingerprint) for a in self.alerts}
        # Locked (FOR UPDATE on PostgreSQL; SQLite's writer holds the database lock since
        # BEGIN IMMEDIATE) so that concurrent writers add occurrences one after the other.
        if self.db.get_bind().dialect.name == "postgresql":
            open_ids = []
            for source, fingerprint, open_id, last_closed in self._query(_LOOKUP_SQL_PG, keys):
                if open_id is not None:
                    open_ids.append(open_id)
                if last_closed is not None:
                    self.last_closed[(source, fingerprint)] = last_closed
            self._load_open(open_ids)
            return
        self._load_open([row[0] for row in self._query(_OPEN_SQL, keys)])
        missing = {k for k in keys if k not in self.open}
        if missing:
            for source, fingerprint, last_id in self._query(_CLOSED_SQL, missing):
                self.last_closed[(source, fingerprint)] = last_id

    def _load_open(self, open_ids: list[int]) -> None:
        if open_ids:
            for incident in self.db.scalars(select(Incident).where(Incident.id.in_(sorted(open_ids)))):
                self.open[(incident.source, incident.fingerprint)] = incident

    def run(self) -> BatchResult:
        self.load()
        stored = [self._one(alert) for alert in self.alerts]
        self._insert_pending()
        self._record(stored)
        results = [(s.final_outcome, s.incident_id) for s in stored]
        created = [(p.incident_id, Priority(p.priority).rank) for p in self.created]
        return BatchResult(results=results, created=created)

    def _one(self, alert: NormalAlert) -> Stored:
        key = (alert.source, alert.fingerprint)
        current = self.open.get(key)
        if alert.status == AlertStatus.firing:
            if current is None:
                recurrence_of = self.last_closed.get(key)
                pending = _Pending(alert, recurrence_of)
                self.open[key] = pending
                self.pending.append(pending)
                outcome = AlertOutcome.recurrence if recurrence_of else AlertOutcome.created
                return Stored(outcome, pending)
            if isinstance(current, _Pending) and current.incident_id is None:
                current.occurrences += 1
                current.last_at = self.now
                return Stored(AlertOutcome.deduplicated, current)
            incident = self._materialize(current)
            incidents.add_occurrence(db_session=self.db, incident=incident, at=self.now)
            return Stored(AlertOutcome.deduplicated, incident)
        if current is None:
            return Stored(AlertOutcome.recorded, self.last_closed.get(key))
        if alert.status == AlertStatus.resolved and self.policy == "record":
            return Stored(AlertOutcome.recorded, current)
        incident = self._materialize(current)
        if alert.status == AlertStatus.acknowledged:
            if IncidentState(incident.state) == IncidentState.new:
                incidents.transition(
                    db_session=self.db, incident=incident, to_state=IncidentState.in_progress,
                    actor=ACTOR, reason=f"acknowledged in {alert.source}",
                )
                return Stored(AlertOutcome.acknowledged, incident)
            return Stored(AlertOutcome.recorded, incident)
        incidents.resolve(
            db_session=self.db, incident=incident, code="alert_resolved",
            notes=f"the alert was resolved in {alert.source}", actor=ACTOR,
        )
        del self.open[key]
        self.last_closed[key] = incident.id
        return Stored(AlertOutcome.resolved, incident)

    def _materialize(self, current: Incident | _Pending) -> Incident:
        """The ORM incident behind an entry, inserting pending creations first if needed."""
        if isinstance(current, _Pending):
            if current.incident_id is None:
                self._insert_pending()
            incident = self.db.get(Incident, current.incident_id)
            self.open[(current.alert.source, current.alert.fingerprint)] = incident
            return incident
        return current

    def _insert_pending(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        self.db.flush()  # resolutions before inserts: the partial unique index must see them
        # the same key order in every writer: concurrent inserts wait, they do not deadlock
        pending.sort(key=lambda p: (p.alert.source, p.alert.fingerprint))
        rows = []
        for p in pending:
            incident_in = p.alert.incident_in
            row = incident_in.model_dump(mode="json", exclude=_CREATE_EXCLUDE)
            opened_at = incident_in.opened_at or self.now
            row.update(
                priority=priority_for(incident_in.impact, incident_in.urgency).value,
                state=IncidentState.new.value,
                opened_at=opened_at,
                last_occurrence_at=p.last_at or opened_at,
                occurrence_count=p.occurrences,
                recurrence_of_id=p.recurrence_of,
                created_at=self.now,
                updated_at=self.now,
            )
            rows.append(row)
        inserted = self._insert_incidents(rows)
        audits = []
        for i, p in enumerate(pending):
            key = (p.alert.source, p.alert.fingerprint)
            new_id = inserted.get(key)
            if new_id is not None:
                p.incident_id, p.priority = new_id, rows[i]["priority"]
                self.created.append(p)
                detail = {"source": p.alert.source, "priority": rows[i]["priority"]}
                if p.recurrence_of:
                    detail["recurrence_of"] = p.recurrence_of
                audits.append(
                    {"at": self.now, "actor": ACTOR, "action": "create", "record_type": incidents.RECORD,
                     "record_id": new_id, "from_state": None, "to_state": IncidentState.new.value,
                     "detail": detail}
                )
            else:  # a concurrent writer opened it first: ours are occurrences of theirs
                p.lost_race = True
                winner = self.db.scalar(
                    select(Incident)
                    .where(
                        Incident.source == p.alert.source,
                        Incident.fingerprint == p.alert.fingerprint,
                        Incident.state.in_(incidents.OPEN_STATES),
                    )
                    .with_for_update()
                )
                if winner is None:  # opened and resolved meanwhile: the writer retries the batch
                    raise ConcurrentChange(f"{key} changed while this batch was written")
                for _ in range(p.occurrences):
                    incidents.add_occurrence(db_session=self.db, incident=winner, at=self.now)
                p.incident_id = winner.id
                self.open[key] = winner
        self.audits += audits  # written with the alert events, in _record

    def _insert_incidents(self, rows: list[dict]) -> dict[Key, int]:
        """Insert, skipping keys another writer opened meanwhile; returns the new ids by key."""
        connection = self.db.connection()
        if connection.dialect.name == "postgresql":
            found = insert_rows(connection, _INCIDENT, rows, suffix=_ON_CONFLICT, returning=("id", "source", "fingerprint"))
            return {(source, fingerprint): new_id for new_id, source, fingerprint in found}
        # SQLite: the writer holds the write lock since BEGIN IMMEDIATE, so every row above
        # the highest id before the insert is ours
        before = _fetch(self.db, "SELECT coalesce(max(id), 0) FROM incident", ())[0][0]
        inserted = insert_rows(connection, _INCIDENT, rows, suffix=_ON_CONFLICT)
        if inserted == len(rows):  # none skipped: SQLite gave them max(id) + 1, + 2, ... in order
            return {(row["source"], row["fingerprint"]): before + i for i, row in enumerate(rows, 1)}
        found = connection.execute(
            select(_INCIDENT.c.id, _INCIDENT.c.source, _INCIDENT.c.fingerprint).where(_INCIDENT.c.id > before)
        )
        return {(r.source, r.fingerprint): r.id for r in found}

    def _record(self, stored: list[Stored]) -> None:
        rows = [
            {
                "received_at": self.now,
                "source": alert.source,
                "fingerprint": alert.fingerprint,
                "status": alert.status.value,
                "outcome": s.final_outcome.value,
                "incident_id": s.incident_id,
                "payload": clean_json(alert.payload),
            }
            for alert, s in zip(self.alerts, stored)
        ]
        self.db.flush()
        insert_together(self.db.connection(), [(_AUDIT, self.audits), (_ALERT_EVENT, rows)])


def _fetch(db_session: Session, sql: str, params: tuple) -> list[tuple]:
    cursor = db_session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def store_batch(*, db_session: Session, alerts: list[NormalAlert], policy: ResolvePolicy = "resolve") -> BatchResult:
    """Store alerts (not committed: the caller commits once for the whole batch)."""
    return _Batch(db_session, alerts, policy).run()
