"""Reading a ServiceNow incident export: rows to validated events, events to incidents.

ServiceNow event logs carry one row per update of an incident. This module reads
them (CSV or CSV.gz), checks every row, and collapses each incident's rows into
one record with its final state and its history. Nothing here touches the
database.
"""

from __future__ import annotations

import csv
import gzip
import zlib
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from problemflow.models.enums import IncidentState, Level, Priority

MISSING = "?"
REQUIRED_COLUMNS = ("number", "incident_state", "opened_at")
# Columns that hold the answer to "which problem caused this": an import must
# never store them where a recurrence scan could read them.
ANSWER_COLUMNS = frozenset({"problem_id", "rfc", "caused_by"})
# Columns kept as labels (name in the export -> label key).
LABEL_COLUMNS = {
    "caller_id": "caller",
    "opened_by": "opened_by",
    "sys_created_by": "created_by",
    "location": "location",
    "contact_type": "contact_type",
    "vendor": "vendor",
    "knowledge": "knowledge",
    "notify": "notify",
    "u_priority_confirmation": "priority_confirmed",
    "made_sla": "made_sla",
    "reassignment_count": "reassignment_count",
    "reopen_count": "reopen_count",
    "resolved_by": "resolved_by",
}
assert not ANSWER_COLUMNS & set(LABEL_COLUMNS)

STATES = {
    "new": IncidentState.new,
    "active": IncidentState.in_progress,
    "in progress": IncidentState.in_progress,
    "awaiting user info": IncidentState.on_hold,
    "awaiting vendor": IncidentState.on_hold,
    "awaiting problem": IncidentState.on_hold,
    "awaiting evidence": IncidentState.on_hold,
    "awaiting change": IncidentState.on_hold,
    "on hold": IncidentState.on_hold,
    "resolved": IncidentState.resolved,
    "closed": IncidentState.closed,
    "canceled": IncidentState.cancelled,
    "cancelled": IncidentState.cancelled,
}
LEVELS = {"1": Level.high, "2": Level.medium, "3": Level.low}
PRIORITIES = {
    "1": Priority.critical,
    "2": Priority.high,
    "3": Priority.moderate,
    "4": Priority.low,
    "5": Priority.planning,
}
_SPACES = re.compile(r"\s+")
_DATE_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


class RowError(ValueError):
    """A row that cannot be read; the message says which field and why."""


def clean(value: str | None) -> Optional[str]:
    """Collapse runs of spaces; ``?`` and blanks are missing; NUL characters are dropped
    (PostgreSQL cannot store them, and they mean nothing in an export)."""
    if value is None:
        return None
    value = _SPACES.sub(" ", value.replace("\x00", "")).strip()
    return None if value in ("", MISSING) else value


class Cleaner:
    """``clean`` memoised: exports repeat the same few thousand values millions of times, so
    each distinct value is cleaned once and stored once (rows share the strings)."""

    KEEP = 200_000  # distinct values remembered; beyond that the memo starts again
    SHORT = 256  # only values this short are remembered (a row's own long text is not)

    def __init__(self) -> None:
        self._seen: dict[str, Optional[str]] = {}

    def __call__(self, value: str | None) -> Optional[str]:
        if value is None or len(value) > self.SHORT:
            return clean(value)
        try:
            return self._seen[value]
        except KeyError:
            if len(self._seen) >= self.KEEP:
                self._seen.clear()
            found = self._seen[value] = clean(value)
            return found


class DateReader:
    """Day-first ServiceNow dates (``29/2/2016 01:16``), memoised: exports repeat them."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    def __call__(self, text: Optional[str], column: str) -> Optional[datetime]:
        if text is None:
            return None
        found = self._seen.get(text)
        if found is not None:
            return found
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
            except ValueError:
                continue
            if len(self._seen) >= Cleaner.KEEP:  # a bound on the memo, whatever the file holds
                self._seen.clear()
            self._seen[text] = value
            return value
        raise RowError(f"{column}: {text!r} is not a date like 29/2/2016 01:16")


def level(text: Optional[str], column: str) -> Level:
    """``1 - High`` -> high; missing -> medium."""
    if text is None:
        return Level.medium
    found = LEVELS.get(text.split("-", 1)[0].strip())
    if found is None:
        raise RowError(f"{column}: {text!r} is not one of 1 - High, 2 - Medium, 3 - Low")
    return found


def priority(text: Optional[str]) -> Optional[Priority]:
    """``1 - Critical`` -> 1-critical; missing -> None (computed from impact and urgency)."""
    if text is None:
        return None
    found = PRIORITIES.get(text.split("-", 1)[0].strip())
    if found is None:
        raise RowError(f"priority: {text!r} is not one of 1 - Critical ... 5 - Planning")
    return found


def state(text: Optional[str]) -> tuple[Optional[IncidentState], str]:
    """ServiceNow state name -> our state; unknown codes (``-100``) keep the raw text only."""
    raw = text or ""
    return STATES.get(raw.lower()), raw


@dataclass(slots=True)
class Event:
    """One row of the log: who changed the incident, when, to which state."""

    line: int
    state: Optional[IncidentState]
    raw_state: str
    actor: str
    at: Optional[datetime]
    mod_count: int


FIELD_NAMES = (
    "title", "category", "subcategory", "symptom", "configuration_item", "assignment_group", "owner",
    "impact", "urgency", "priority", "opened_at", "resolved_at", "closed_at", "resolution_code",
)
LABEL_KEYS = tuple(LABEL_COLUMNS.values())


@dataclass(slots=True)
class ImportedIncident:
    """One ServiceNow incident collapsed from its events. Its fields are kept as two tuples
    (a dict per incident costs a kilobyte more, and an import holds every incident of the
    file); :attr:`fields` gives them as a dict."""

    number: str
    values: tuple
    labels: tuple
    events: list[Event] = field(default_factory=list)
    # order key of the event whose row gave the fields (the latest one wins)
    latest: tuple = ()
    state: Optional[IncidentState] = None

    @classmethod
    def packed(cls, number: str, fields: dict[str, Any]) -> "ImportedIncident":
        item = cls(number, (), ())
        item.keep(fields)
        return item

    def keep(self, fields: dict[str, Any]) -> None:
        """Take ``fields`` (as :func:`row_fields` gives them) as this incident's."""
        self.values = tuple(fields[name] for name in FIELD_NAMES)
        labels = fields["labels"]
        self.labels = tuple(labels.get(key) for key in LABEL_KEYS)

    @property
    def fields(self) -> dict[str, Any]:
        found = dict(zip(FIELD_NAMES, self.values))
        found["labels"] = {key: value for key, value in zip(LABEL_KEYS, self.labels) if value is not None}
        found["state"] = self.state
        return found


def title_for(category: Optional[str], subcategory: Optional[str], symptom: Optional[str], number: str) -> str:
    """A readable one-line title from what the export has (it has no free text)."""
    where = " / ".join(v for v in (category, subcategory) if v)
    if where and symptom:
        return f"{symptom} in {where}"
    return where or symptom or f"ServiceNow incident {number}"


# the columns a row is read from (the others are neither stored nor checked)
READ_COLUMNS = frozenset({
    "number", "opened_at", "incident_state", "impact", "urgency", "sys_mod_count", "sys_updated_at",
    "category", "subcategory", "u_symptom", "cmdb_ci", "assignment_group", "assigned_to", "priority",
    "resolved_at", "closed_at", "closed_code", "sys_updated_by", *LABEL_COLUMNS,
}) - ANSWER_COLUMNS


# the longest value each column may hold: what the incident's column stores (a longer value
# would be refused by PostgreSQL), 64 for a state and 200 for a label
LONGEST = {
    "number": 120, "category": 120, "subcategory": 120, "u_symptom": 200, "cmdb_ci": 200,
    "assignment_group": 120, "assigned_to": 120, "closed_code": 64, "sys_updated_by": 120,
    "incident_state": 64,
}
LONGEST_OTHER = 200


def row_fields(row: dict[str, str], dates: DateReader,
               cleaned: Callable[[str | None], Optional[str]] = clean) -> tuple[str, dict[str, Any], Event]:
    """Validate one row; returns the incident number, its mapped fields and its event."""
    get = {k: cleaned(v) for k, v in row.items() if k in READ_COLUMNS}
    for column, value in get.items():
        if value is not None and len(value) > LONGEST.get(column, LONGEST_OTHER):
            raise RowError(f"{column}: longer than {LONGEST.get(column, LONGEST_OTHER)} characters")
    number = get.get("number")
    if not number:
        raise RowError("number: missing")
    opened_at = dates(get.get("opened_at"), "opened_at")
    if opened_at is None:
        raise RowError("opened_at: missing")
    mapped_state, raw_state = state(get.get("incident_state"))
    if not raw_state:
        raise RowError("incident_state: missing")
    impact = level(get.get("impact"), "impact")
    urgency = level(get.get("urgency"), "urgency")
    try:
        mod_count = int(get.get("sys_mod_count") or 0)
    except ValueError:
        raise RowError(f"sys_mod_count: {get.get('sys_mod_count')!r} is not a number") from None
    updated_at = dates(get.get("sys_updated_at"), "sys_updated_at")
    category, subcategory, symptom = get.get("category"), get.get("subcategory"), get.get("u_symptom")
    labels = {key: get[col] for col, key in LABEL_COLUMNS.items() if get.get(col)}
    fields = {
        "title": title_for(category, subcategory, symptom, number)[:500],
        "category": category,
        "subcategory": subcategory,
        "symptom": symptom,
        "configuration_item": get.get("cmdb_ci"),
        "assignment_group": get.get("assignment_group"),
        "owner": get.get("assigned_to"),
        "impact": impact,
        "urgency": urgency,
        "priority": priority(get.get("priority")),
        "opened_at": opened_at,
        "resolved_at": dates(get.get("resolved_at"), "resolved_at"),
        "closed_at": dates(get.get("closed_at"), "closed_at"),
        "resolution_code": get.get("closed_code"),
        "labels": labels,
    }
    event = Event(0, mapped_state, raw_state, get.get("sys_updated_by") or "servicenow", updated_at, mod_count)
    return number, fields, event


@contextmanager
def open_text(path: Path) -> Iterator[tuple[io.TextIOBase, Callable[[], int]]]:
    """Open CSV or CSV.gz as text; the second value reports bytes read so far (for progress)."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            yield text, raw.tell
        finally:
            text.detach()


@dataclass
class ReadResult:
    incidents: dict[str, ImportedIncident]
    events_read: int
    skipped: list[tuple[int, str]]


# Limits of one import (stated in ``problemflow import servicenow --help`` and the README).
# A longer line or field is a bad row; more events, incidents or bad rows than this refuse
# the whole file, before anything is written: together they keep an import's memory (every
# incident and event of the file is held until it is written) well under 300 MB.
MAX_LINE_CHARS = 1_000_000
MAX_FIELD_CHARS = 131_072  # the csv module's own limit
MAX_EVENTS = 300_000
MAX_INCIDENTS = 60_000
MAX_BAD_ROWS = 10_000


class BrokenFile(RowError):
    """The file cannot be read to its end: nothing of it is imported."""


class TooLarge(BrokenFile):
    """The file is over one of the limits of an import: nothing of it is imported."""


def _bounded_lines(text: io.TextIOBase, too_long: list[tuple[int, str]]) -> Iterator[str]:
    """The file's lines; one over ``MAX_LINE_CHARS`` is read past in pieces (never whole),
    listed in ``too_long`` and given to the CSV reader as an empty line, which it skips."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            while line and not line.endswith("\n"):
                line = text.readline(MAX_LINE_CHARS + 1)
            too_long.append((number, f"the line is longer than {MAX_LINE_CHARS:,} characters"))
            line = "\n"
        yield line


def read_export(path: Path, on_progress: Callable[[int], None] | None = None) -> ReadResult:
    """Read a whole export; bad rows (a line or field over the limits included) are listed
    with their line number and reason. A file that cannot be read to its end (corrupt or
    truncated gzip, not UTF-8) or is over the limits of an import raises :class:`BrokenFile`
    before anything is written."""
    try:
        return _read_export(path, on_progress)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError, csv.Error) as error:
        reason = {EOFError: "the file ends early (truncated)", UnicodeDecodeError: "it is not UTF-8 text"}.get(
            type(error), str(error) or type(error).__name__)
        raise BrokenFile(f"{path}: cannot be read: {reason}; nothing was imported") from error


def _too_large(path: Path, line: int, what: str) -> TooLarge:
    return TooLarge(f"{path}: more than {what} by line {line:,}, over the limit of one import; nothing was "
                    "imported: split the export by incident number into smaller files and import each")


def _read_export(path: Path, on_progress: Callable[[int], None] | None = None) -> ReadResult:
    dates = DateReader()
    cleaned = Cleaner()
    incidents: dict[str, ImportedIncident] = {}
    skipped: list[tuple[int, str]] = []
    too_long: list[tuple[int, str]] = []
    events = 0
    with open_text(path) as (text, position):
        reader = csv.DictReader(_bounded_lines(text, too_long))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RowError(f"{path}: not a ServiceNow incident export (no column {', '.join(missing)})")
        index = 0
        while True:
            if len(skipped) + len(too_long) > MAX_BAD_ROWS:
                raise _too_large(path, reader.line_num, f"{MAX_BAD_ROWS:,} bad rows")
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:  # a field over the limit: the reader goes on at the next line
                # (its line count does not yet include the line it stopped in)
                skipped.append((reader.line_num + 1, f"cannot be read as CSV ({error})"))
                continue
            line = reader.line_num
            index += 1
            if on_progress is not None and index % 5000 == 0:
                on_progress(position())
            if None in row or any(v is None for v in row.values()):
                skipped.append((line, f"expected {len(reader.fieldnames)} columns"))
                continue
            try:
                number, fields, event = row_fields(row, dates, cleaned)
            except RowError as error:
                skipped.append((line, str(error)))
                continue
            event.line = line
            events += 1
            if events > MAX_EVENTS:
                raise _too_large(path, line, f"{MAX_EVENTS:,} events")
            found = incidents.get(number)
            if found is None:
                if len(incidents) >= MAX_INCIDENTS:
                    raise _too_large(path, line, f"{MAX_INCIDENTS:,} incidents")
                found = incidents[number] = ImportedIncident.packed(number, fields)
            found.events.append(event)
            order = _event_order(event)
            if order >= found.latest:
                found.keep(fields)
                found.latest = order
        if on_progress is not None:
            on_progress(position())
    for incident in incidents.values():
        incident.events.sort(key=_event_order)
        final = incident.events[-1]
        incident.state = final.state or _last_known_state(incident.events)
    return ReadResult(incidents, events, sorted(skipped + too_long))


def _event_order(event: Event) -> tuple:
    return (event.mod_count, event.at or datetime.min.replace(tzinfo=timezone.utc), event.line)


def _last_known_state(events: list[Event]) -> IncidentState:
    for event in reversed(events):
        if event.state is not None:
            return event.state
    return IncidentState.new


def iter_states(events: list[Event]) -> Iterator[tuple[Event, Optional[Event]]]:
    """Each event with the event before it (the state it moved from)."""
    previous: Optional[Event] = None
    for event in events:
        yield event, previous
        previous = event
