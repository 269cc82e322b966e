"""Importing incident history from any tool's export (CSV or JSON Lines).

Each record is read through the mapping (:mod:`tasks.imports.mapping`), checked
with :class:`models.incident.IncidentCreate`, and written with SQLAlchemy Core
in batches, all in the caller's one transaction. Idempotent on
``external_ref``: a row whose reference is already stored adds nothing. A file
with no reference column gets one per row from its content: ``import:`` + the
SHA-256 of the row's non-empty values + ``:n`` for the n-th identical row, so
two identical log lines stay two incidents and a second import adds neither.
Imported history is stored as finished (``closed`` unless ``resolved`` is
asked for): with no resolved_at/closed_at column, resolved at the time it opened.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable, Optional

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from problemflow.models.audit import AuditEvent
from problemflow.models.base import utcnow
from problemflow.models.enums import IncidentSource, IncidentState
from problemflow.models.incident import Incident, IncidentCreate
from problemflow.models.states import priority_for
from problemflow.models.text import template_of
from problemflow.tasks.imports.mapping import FIELDS, LABEL_PREFIX, LABELS_COLUMN, Column, MappingError, cell, resolve
from problemflow.tasks.imports.reading import Format, Record, open_export
from problemflow.tasks.imports.summary import BadRow, ImportSummary, validation_text
from problemflow.tasks.imports.values import BadValue, TimeReader, level, severity

BATCH = 2000
TITLE_MAX = 500  # models.incident.Incident.title
TEMPLATES_KEPT = 50_000  # titles whose template is remembered during one import
_UNSEEN = object()
DERIVED_PREFIX = "import:"
ACTOR = "import"
HISTORY_STATES = (IncidentState.closed, IncidentState.resolved)
_TEXT_FIELDS = ("service", "category", "subcategory", "symptom", "fingerprint", "owner",
                "assignment_group", "configuration_item")


@dataclass
class ImportOptions:
    """How to read an export (everything but the mapping has a default)."""

    maps: dict[str, Column] = field(default_factory=dict)
    format: Optional[Format] = None
    encoding: str = "utf-8"
    time_format: Optional[str] = None
    zone: Optional[tzinfo] = None
    stamp_now: bool = False  # rows without an opened_at time get the import's start time
    state: IncidentState = IncidentState.closed
    skip_bad: bool = False


class RowReader:
    """One record -> the values of one incident row (its reference may still be None)."""

    def __init__(self, mapping: dict[str, Column], options: ImportOptions, now: datetime):
        self.options = options
        self.now = now
        self.shortened = 0  # titles longer than a title holds, cut (a log line can be kilobytes)
        self.times = TimeReader(options.time_format, options.zone or timezone.utc)
        self.fields = [(name, column) for name, column in mapping.items() if name in FIELDS]
        self.labels_column = mapping.get(LABELS_COLUMN)
        self.labels = [(name[len(LABEL_PREFIX):], column) for name, column in mapping.items()
                       if name.startswith(LABEL_PREFIX)]

    def time(self, got: dict[str, Optional[str]], name: str) -> Optional[datetime]:
        text = got.get(name)
        if text is None:
            return None
        try:
            return self.times(text)
        except BadValue as error:
            raise BadRow(f"{name}: {error}") from None

    def _labels(self, values: dict[str, Any]) -> dict[str, Any]:
        labels: dict[str, Any] = {}
        column = self.labels_column
        raw = values.get(column.spec) if column is not None else None
        if isinstance(raw, str) and raw.strip():
            try:
                raw = json.loads(raw)
            except ValueError:
                raise BadRow(f"labels: {raw[:80]!r} is not a JSON object") from None
        if raw not in (None, ""):
            if not isinstance(raw, dict):
                raise BadRow("labels: not a JSON object")
            labels = {cell(str(k)): cell(v) for k, v in raw.items()}
            labels = {k: v for k, v in labels.items() if k and v is not None}
        for name, label_column in self.labels:
            value = label_column.value(values)
            if value is not None:
                labels[name] = value
        return labels

    def _levels(self, got: dict[str, Optional[str]]) -> tuple[str, str]:
        """Impact and urgency: from the severity word, then the impact and urgency columns."""
        impact = urgency = "medium"
        text = got.get("severity")
        if text is not None:
            try:
                impact, urgency = severity(text)
            except BadValue as error:
                raise BadRow(f"severity: {error}") from None
        for name in ("impact", "urgency"):
            text = got.get(name)
            if text is not None:
                try:
                    found = level(text)
                except BadValue as error:
                    raise BadRow(f"{name}: {error}") from None
                impact, urgency = (found, urgency) if name == "impact" else (impact, found)
        return impact, urgency

    def row(self, values: dict[str, Any]) -> dict[str, Any]:
        got = {name: column.value(values) for name, column in self.fields}
        title = got.get("title")
        if title is None:
            raise BadRow("title: empty")
        if len(title) > TITLE_MAX:
            # the message is the record: a long one is kept as far as a title holds, not refused
            title = title[:TITLE_MAX - 1].rstrip() + "\u2026"
            self.shortened += 1
        opened_at = self.time(got, "opened_at")
        if opened_at is None:
            if not self.options.stamp_now:
                raise BadRow("opened_at: empty (give --now to stamp rows without a time with the import's time)")
            opened_at = self.now
        impact, urgency = self._levels(got)
        try:
            checked = IncidentCreate(
                title=title, impact=impact, urgency=urgency, opened_at=opened_at, labels=self._labels(values),
                source=IncidentSource.imported, external_ref=got.get("external_ref"),
                description=got.get("description") or "", **{name: got.get(name) for name in _TEXT_FIELDS},
            )
        except ValidationError as error:
            raise BadRow(validation_text(error)) from None
        resolved_at, closed_at = self._finished(got, opened_at)
        return {
            **{name: getattr(checked, name) for name in _TEXT_FIELDS},
            "title": checked.title,
            "template": None,  # filled for new rows only, when written (_Writer.flush)
            "description": checked.description,
            "labels": checked.labels,
            "external_ref": checked.external_ref,
            "source": IncidentSource.imported.value,
            "impact": checked.impact.value,
            "urgency": checked.urgency.value,
            "priority": priority_for(checked.impact, checked.urgency).value,
            "state": self.options.state.value,
            "opened_at": opened_at,
            "last_occurrence_at": opened_at,
            "resolved_at": resolved_at,
            "closed_at": closed_at,
            "occurrence_count": 1,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _finished(self, got: dict[str, Optional[str]], opened_at: datetime) -> tuple[datetime, Optional[datetime]]:
        """(resolved_at, closed_at): as given, else the other one, else when it opened."""
        resolved_at, closed_at = self.time(got, "resolved_at"), self.time(got, "closed_at")
        resolved_at = resolved_at or closed_at or opened_at
        if resolved_at < opened_at:
            raise BadRow(f"resolved_at: {resolved_at.isoformat()} is before opened_at {opened_at.isoformat()}")
        if self.options.state is IncidentState.resolved:
            return resolved_at, None
        return resolved_at, max(closed_at or resolved_at, resolved_at)


def content_ref(values: dict[str, Any], seen: dict[bytes, int]) -> str:
    """``import:<sha256 of the row's non-empty cells>:<n>``, n counting identical rows (the
    cells by column name, so a later export with its columns in another order or an extra
    empty column gives the same references)."""
    kept = {k: v for k, v in values.items() if v is not None and v != ""}
    digest = hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False, default=str).encode())
    key = digest.digest()
    seen[key] = ordinal = seen.get(key, 0) + 1
    return f"{DERIVED_PREFIX}{digest.hexdigest()}:{ordinal}"


class _Writer:
    """Batches of new rows, inserted with their creation audit events."""

    def __init__(self, db_session: Session, summary: ImportSummary, source_name: str, now: datetime,
                 on_write: Optional[Callable[[int], None]]):
        self.db_session = db_session
        self.summary = summary
        self.source_name = source_name
        self.now = now
        self.on_write = on_write
        self.batch: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.refs: set[str] = set()
        self.templates: dict[str, Optional[str]] = {}

    def template(self, title: str) -> Optional[str]:
        """The title's template; logs repeat their lines, so a title seen before costs a look-up."""
        found = self.templates.get(title, _UNSEEN)
        if found is _UNSEEN:
            if len(self.templates) >= TEMPLATES_KEPT:
                self.templates.clear()
            found = self.templates[title] = template_of(title)
        return found

    def add(self, line: int, row: dict[str, Any]) -> None:
        if row["external_ref"] in self.refs:  # an earlier row of this file has it
            self.summary.already_present += 1
            return
        self.refs.add(row["external_ref"])
        self.batch.append(row)
        self.lines.append(line)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        table = Incident.__table__
        refs = [row["external_ref"] for row in self.batch]
        stored = set(self.db_session.scalars(select(Incident.external_ref).where(Incident.external_ref.in_(refs))))
        new = [(row, line) for row, line in zip(self.batch, self.lines) if row["external_ref"] not in stored]
        self.summary.already_present += len(self.batch) - len(new)
        self.batch, self.lines = [], []
        if not new:
            return
        for row, _ in new:
            row["template"] = self.template(row["title"])
        # plain executemany (no RETURNING, which SQLite would answer one row at a time), then the ids
        self.db_session.execute(insert(table), [row for row, _ in new])
        refs = [row["external_ref"] for row, _ in new]
        ids_by_ref = dict(self.db_session.execute(
            select(Incident.external_ref, Incident.id).where(Incident.external_ref.in_(refs))).all())
        ids = [ids_by_ref[ref] for ref in refs]
        self.db_session.execute(insert(AuditEvent.__table__), [
            {"at": self.now, "actor": ACTOR, "action": "create", "record_type": "incident", "record_id": id_,
             "from_state": None, "to_state": row["state"],
             "detail": {"source": IncidentSource.imported.value, "file": self.source_name, "line": line}}
            for id_, (row, line) in zip(ids, new)
        ])
        self.summary.new += len(new)
        if self.on_write:
            self.on_write(len(new))


def import_incidents(
    *,
    db_session: Session,
    path: Path,
    options: ImportOptions,
    on_read: Optional[Callable[[int, int], None]] = None,
    on_write: Optional[Callable[[int], None]] = None,
) -> ImportSummary:
    """Import one export in the session's transaction. With a bad row and no ``skip_bad``
    raises :class:`~tasks.imports.summary.BadRows` (the caller rolls back: nothing is imported)."""
    path = Path(path)
    now = utcnow()
    summary = ImportSummary(path=str(path))
    with open_export(path, options.format, encoding=options.encoding) as opened:
        summary.format = opened.format.value
        mapping = resolve(options.maps, opened.columns)
        if "title" not in mapping:
            raise MappingError(f"{path.name}: no title column; map one with --map title=COLUMN")
        if "opened_at" not in mapping and not options.stamp_now:
            raise MappingError(f"{path.name}: no opened_at column; map one with --map opened_at=COLUMN "
                               "(or COLUMN+COLUMN), or give --now to stamp every row with the import's time")
        reader = RowReader(mapping, options, now)
        explicit_refs = "external_ref" in mapping
        seen: dict[bytes, int] = {}
        writer = _Writer(db_session, summary, path.name, now, on_write)
        record: Record
        for record in opened.records:
            summary.rows += 1
            if on_read is not None and summary.rows % 5000 == 0:
                on_read(opened.position(), opened.size)
            if record.values is None:
                summary.add_bad(record.line, record.error or "cannot be read")
                continue
            try:
                row = reader.row(record.values)
            except BadRow as error:
                summary.add_bad(record.line, str(error))
                continue
            derived = content_ref(record.values, seen) if not explicit_refs or row["external_ref"] is None else None
            row["external_ref"] = derived or row["external_ref"]
            writer.add(record.line, row)
        writer.flush()
        summary.titles_shortened = reader.shortened
        if on_read is not None:
            on_read(opened.size, opened.size)
    return summary.finish(options.skip_bad)
