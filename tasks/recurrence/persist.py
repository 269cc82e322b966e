"""Writing a grouping: groups keyed by their first incident, members with the link that joined them.

Full scans rebuild every group; incremental scans fold the new links into the
stored groups (merging groups a new incident bridges). Either way a group's key
is ``rec-<id of its lowest incident id>``, so both modes name groups alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import numpy as np
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.incident import Incident
from problemflow.models.recurrence import RecurrenceGroup, RecurrenceMember
from problemflow.tasks.recurrence.config import ALGORITHM_VERSION
from problemflow.tasks.recurrence.core import (
    RULE_BURST, RULE_FINGERPRINT, RULE_MESSAGE, RULE_RECURRENCE, RULE_SIMILAR, Grouping,
)
from problemflow.tasks.recurrence.features import Frame

BATCH = 5000


@dataclass
class Written:
    """What a write changed: the groups touched and the incidents newly placed in a group."""

    groups: set[int] = field(default_factory=set)
    new_members: dict[int, list[int]] = field(default_factory=dict)  # group id -> incident ids
    links: int = 0


KINDS = {
    RULE_MESSAGE: "same message",
    RULE_SIMILAR: "similar message",
    RULE_FINGERPRINT: "same alert",
    RULE_BURST: "burst",
    RULE_RECURRENCE: "recurrence",
}


def group_key(first_incident_id: int) -> str:
    return f"rec-{first_incident_id}"


def reason(frame: Frame, grouping: Grouping, position: int) -> tuple[str, float, int | None]:
    """Why an incident is in its group: (reason text, score, id of the incident it links to)."""
    index = int(grouping.link[position])
    if index < 0:
        return "first incident of the group", 1.0, None
    links = grouping.links
    shared = [
        name.replace("label:", "label ").replace("_", " ")
        for bit, name in enumerate(links.signal_names)
        if int(links.mask[index]) >> bit & 1
    ]
    rule = int(links.rule[index])
    if rule == RULE_BURST and links.text[index] > 0:
        shared.append(f"text {links.text[index]:.2f}")
    other = int(grouping.via[position])
    gap = abs(frame.times[other] - frame.times[position])
    when = f"{gap / 60:.0f} min" if gap < 86400 else f"{gap / 86400:.1f} days"
    kind = KINDS.get(rule, "recurrence")
    if rule == RULE_SIMILAR:
        kind = f"{kind} (text {links.text[index]:.2f})"
    text = f"{kind}, {when} apart; shared: {', '.join(shared) or 'nothing else'}"
    return text[:500], round(float(links.score[index]), 4), int(frame.ids[other])


def _components(grouping: Grouping) -> Iterator[np.ndarray]:
    """Positions of each group (label >= 0), sorted by label."""
    positions = np.flatnonzero(grouping.label >= 0)
    if not len(positions):
        return
    labels = grouping.label[positions]
    order = np.argsort(labels, kind="stable")
    positions, labels = positions[order], labels[order]
    cuts = np.flatnonzero(np.diff(labels)) + 1
    yield from np.split(positions, cuts)


def _member_row(frame: Frame, grouping: Grouping, position: int, group_id: int, run_id: int, now) -> dict:
    text, score, via = reason(frame, grouping, position)
    return {
        "incident_id": int(frame.ids[position]), "group_id": group_id, "linked_to_id": via,
        "reason": text, "score": score, "algorithm_version": ALGORITHM_VERSION,
        "scan_run_id": run_id, "linked_at": now,
    }


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc)


def write_full(db_session: Session, frame: Frame, grouping: Grouping, run_id: int) -> Written:
    """Replace every group; groups that keep their key keep their problem and known error."""
    kept = {
        key: (problem_id, known_error_id)
        for key, problem_id, known_error_id in db_session.execute(
            select(RecurrenceGroup.key, RecurrenceGroup.problem_id, RecurrenceGroup.known_error_id)
        )
    }
    previous = dict(db_session.execute(select(RecurrenceMember.incident_id, RecurrenceMember.group_id)).all())
    previous_keys = dict(db_session.execute(select(RecurrenceGroup.id, RecurrenceGroup.key)).all())
    db_session.execute(delete(RecurrenceMember))
    db_session.execute(delete(RecurrenceGroup))
    now = utcnow()
    components = list(_components(grouping))
    group_rows = []
    for members in components:
        first = members[np.argmin(frame.ids[members])]
        key = group_key(int(frame.ids[first]))
        problem_id, known_error_id = kept.get(key, (None, None))
        group_rows.append({
            "key": key, "size": len(members),
            "first_seen": _when(frame.times[members].min()), "last_seen": _when(frame.times[members].max()),
            "summary": _summary(frame, first), "problem_id": problem_id, "known_error_id": known_error_id,
            "algorithm_version": ALGORITHM_VERSION, "created_at": now, "updated_at": now,
        })
    for chunk in _batches(group_rows):
        db_session.execute(insert(RecurrenceGroup), chunk)
    ids = dict(db_session.execute(select(RecurrenceGroup.key, RecurrenceGroup.id)).all())
    written = Written()
    rows = []
    for members, group_row in zip(components, group_rows):
        group_id = ids[group_row["key"]]
        written.groups.add(group_id)
        for position in members:
            rows.append(_member_row(frame, grouping, int(position), group_id, run_id, now))
            incident_id = int(frame.ids[position])
            old = previous.get(incident_id)
            if old is None or previous_keys.get(old) != group_row["key"]:
                written.new_members.setdefault(group_id, []).append(incident_id)
    for chunk in _batches(rows):
        db_session.execute(insert(RecurrenceMember), chunk)
    written.links = len(rows)
    return written


def write_incremental(
    db_session: Session, frame: Frame, grouping: Grouping, run_id: int, watermark: int
) -> Written:
    """Fold the links of a frame (new incidents and their neighbours in time) into stored groups."""
    stored: dict[int, int] = {}
    ids_list = [int(i) for i in frame.ids[frame.ids <= watermark]]
    for chunk in _batches(ids_list, 900):
        stored.update(
            db_session.execute(
                select(RecurrenceMember.incident_id, RecurrenceMember.group_id).where(
                    RecurrenceMember.incident_id.in_(chunk)
                )
            ).all()
        )
    groups = {
        g.id: g
        for g in db_session.scalars(select(RecurrenceGroup).where(RecurrenceGroup.id.in_(set(stored.values()))))
    } if stored else {}
    now = utcnow()
    written = Written()
    moved: dict[int, int] = {}  # merged group id -> the group it went into

    def resolve(group_id: int) -> int:
        while group_id in moved:
            group_id = moved[group_id]
        return group_id

    for members in _components(grouping):
        member_ids = [int(frame.ids[p]) for p in members]
        existing = sorted(
            {resolve(stored[i]) for i in member_ids if i in stored}, key=lambda g: _first_id(groups[g].key)
        )
        if existing:
            target = groups[existing[0]]
            for other_id in existing[1:]:
                _merge(db_session, target, groups[other_id])
                moved[other_id] = target.id
                written.groups.discard(other_id)
        else:
            first = members[np.argmin(frame.ids[members])]
            target = RecurrenceGroup(
                key=group_key(int(frame.ids[first])), size=0,
                first_seen=_when(frame.times[first]), last_seen=_when(frame.times[first]),
                summary=_summary(frame, first), algorithm_version=ALGORITHM_VERSION,
            )
            db_session.add(target)
            db_session.flush()
            groups[target.id] = target
        fresh = [p for p, i in zip(members, member_ids) if i not in stored]
        rows = [_member_row(frame, grouping, int(p), target.id, run_id, now) for p in fresh]
        if rows:
            db_session.execute(insert(RecurrenceMember), rows)
            written.new_members.setdefault(target.id, []).extend(r["incident_id"] for r in rows)
            written.links += len(rows)
            for i in (r["incident_id"] for r in rows):
                stored[i] = target.id
        written.groups.add(target.id)
    _refresh(db_session, written.groups)
    return written


def _merge(db_session: Session, target: RecurrenceGroup, other: RecurrenceGroup) -> None:
    """A new incident bridged two groups: the younger group's members move to the older one."""
    db_session.execute(
        update(RecurrenceMember).where(RecurrenceMember.group_id == other.id).values(group_id=target.id),
        execution_options={"synchronize_session": False},
    )
    if target.problem_id is None:
        target.problem_id = other.problem_id
    if target.known_error_id is None:
        target.known_error_id = other.known_error_id
    db_session.delete(other)
    db_session.flush()


def _refresh(db_session: Session, group_ids: set[int]) -> None:
    """Size and first / last seen of touched groups, from their members (one executemany)."""
    db_session.flush()
    rows = []
    for chunk in _batches(sorted(group_ids), 900):
        stmt = (
            select(
                RecurrenceMember.group_id, func.count(), func.min(Incident.opened_at), func.max(Incident.opened_at)
            )
            .join(Incident, Incident.id == RecurrenceMember.incident_id)
            .where(RecurrenceMember.group_id.in_(chunk))
            .group_by(RecurrenceMember.group_id)
        )
        now = utcnow()
        rows.extend(
            {"b_id": group_id, "size": size, "first_seen": first, "last_seen": last, "updated_at": now}
            for group_id, size, first, last in db_session.execute(stmt).all()
        )
    if rows:
        table = RecurrenceGroup.__table__
        # Core, not ORM: an ORM update per group would re-check every loaded group each time
        db_session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                size=bindparam("size"), first_seen=bindparam("first_seen"),
                last_seen=bindparam("last_seen"), updated_at=bindparam("updated_at"),
            ),
            rows,
        )
        db_session.expire_all()


def _first_id(key: str) -> int:
    return int(key.rsplit("-", 1)[-1])


def _summary(frame: Frame, position: int) -> str:
    """The group's message: its template where it has one, else the normalised text of its first incident."""
    template = int(frame.template_codes[position])
    if template >= 0:
        return frame.templates[template][:500]
    code = int(frame.text_codes[position])
    return frame.texts[code][:500] if code >= 0 else ""


def _batches(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
