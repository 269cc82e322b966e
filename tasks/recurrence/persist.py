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


def reasons(frame: Frame, grouping: Grouping, positions: np.ndarray) -> tuple[list[str], np.ndarray, list]:
    """Why each incident is in its group: (reason texts, scores, ids of the incidents they link to),
    the per-link parts computed on arrays."""
    links = grouping.links
    link = grouping.link[positions]
    has = link >= 0
    safe = np.where(has, link, 0)
    other = np.where(has, grouping.via[positions], positions)
    gap = np.abs(frame.times[other] - frame.times[positions])
    if len(links.a):
        rule, mask = links.rule[safe], links.mask[safe]
        text, score = links.text[safe], links.score[safe]
    else:
        rule = mask = np.zeros(len(positions), dtype=np.int64)
        text = score = np.zeros(len(positions), dtype=np.float32)
    shared_of: dict[int, str] = {}
    for value in np.unique(mask[has]).tolist():
        names = [n.replace("label:", "label ").replace("_", " ")
                 for bit, n in enumerate(links.signal_names) if value >> bit & 1]
        shared_of[value] = ", ".join(names)
    out: list[str] = []
    for h, r, m, t, g in zip(has.tolist(), rule.tolist(), mask.tolist(), text.tolist(), gap.tolist()):
        if not h:
            out.append("first incident of the group")
            continue
        shared = shared_of[m]
        if r == RULE_BURST and t > 0:
            shared = f"{shared}, text {t:.2f}" if shared else f"text {t:.2f}"
        kind = KINDS.get(r, "recurrence")
        if r == RULE_SIMILAR:
            kind = f"{kind} (text {t:.2f})"
        when = f"{g / 60:.0f} min" if g < 86400 else f"{g / 86400:.1f} days"
        out.append(f"{kind}, {when} apart; shared: {shared or 'nothing else'}"[:500])
    scores = np.where(has, np.round(score.astype(np.float64), 4), 1.0)
    ids = frame.ids[other].tolist()
    via = [int(i) if h else None for i, h in zip(ids, has.tolist())]
    return out, scores, via


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


def _member_rows(frame: Frame, grouping: Grouping, positions: np.ndarray, group_ids: np.ndarray,
                 run_id: int, now) -> list[dict]:
    texts, scores, via = reasons(frame, grouping, positions)
    return [
        {"incident_id": incident_id, "group_id": group_id, "linked_to_id": linked, "reason": text,
         "score": score, "algorithm_version": ALGORITHM_VERSION, "scan_run_id": run_id, "linked_at": now}
        for incident_id, group_id, linked, text, score in zip(
            frame.ids[positions].tolist(), group_ids.tolist(), via, texts, scores.tolist())
    ]


def _bulk_member_insert(connection, run_id: int, now: datetime):
    """An executemany of member rows given as (incident, group, linked to, reason, score) tuples.

    Straight to the driver: the values are plain ints, floats and strings, and the constant ones
    (algorithm, scan run, time) are bound once, so no per-row parameter processing is needed."""
    table = RecurrenceMember.__table__
    dialect = connection.dialect
    process = table.c.linked_at.type.bind_processor(dialect)
    linked_at = process(now) if process else now
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    columns = ("incident_id", "group_id", "linked_to_id", "reason", "score", "algorithm_version", "scan_run_id",
               "linked_at")
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
           f"VALUES ({', '.join([marker] * len(columns))})")
    constant = (ALGORITHM_VERSION, run_id, linked_at)

    def run(rows: list[tuple]) -> None:
        if rows:
            connection.exec_driver_sql(sql, [row + constant for row in rows])

    return run


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc)


def write_full(db_session: Session, frame: Frame, grouping: Grouping, run_id: int) -> Written:
    """Replace every group; groups that keep their key keep their problem and known error.

    Core statements in batches: a full scan of a million incidents writes hundreds of thousands
    of members, which the ORM would track one object at a time."""
    kept = {
        key: (problem_id, known_error_id)
        for key, problem_id, known_error_id in db_session.execute(
            select(RecurrenceGroup.key, RecurrenceGroup.problem_id, RecurrenceGroup.known_error_id)
        )
    }
    connection = db_session.connection()
    connection.execute(delete(RecurrenceMember.__table__))
    connection.execute(delete(RecurrenceGroup.__table__))
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
        connection.execute(insert(RecurrenceGroup.__table__), chunk)
    ids = dict(connection.execute(select(RecurrenceGroup.key, RecurrenceGroup.id)).all())
    written = Written()
    if components:
        group_of = np.asarray([ids[row["key"]] for row in group_rows], dtype=np.int64)
        positions = np.concatenate(components)
        owners = np.repeat(group_of, [len(m) for m in components])
        written.groups.update(group_of.tolist())
        insert_members = _bulk_member_insert(connection, run_id, now)
        for start in range(0, len(positions), BATCH):
            chunk = positions[start:start + BATCH]
            texts, scores, via = reasons(frame, grouping, chunk)
            insert_members(list(zip(frame.ids[chunk].tolist(), owners[start:start + BATCH].tolist(), via, texts,
                                    scores.tolist())))
        written.links = len(positions)
    db_session.expire_all()
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

    placed: list[tuple[np.ndarray, object]] = []  # fresh positions, and the group id (or the new group's key)
    new_groups: list[dict] = []
    for members in _components(grouping):
        member_ids = frame.ids[members].tolist()
        existing = sorted(
            {resolve(stored[i]) for i in member_ids if i in stored}, key=lambda g: _first_id(groups[g].key)
        )
        fresh = np.asarray([p for p, i in zip(members.tolist(), member_ids) if i not in stored], dtype=np.int64)
        if existing:
            target = groups[existing[0]]
            for other_id in existing[1:]:
                _merge(db_session, target, groups[other_id])
                moved[other_id] = target.id
                written.groups.discard(other_id)
            written.groups.add(target.id)
            placed.append((fresh, target.id))
        else:
            first = members[np.argmin(frame.ids[members])]
            key = group_key(int(frame.ids[first]))
            new_groups.append({
                "key": key, "size": 0, "first_seen": _when(frame.times[first]), "last_seen": _when(frame.times[first]),
                "summary": _summary(frame, first), "algorithm_version": ALGORITHM_VERSION,
                "created_at": now, "updated_at": now,
            })
            placed.append((fresh, key))
    # new groups and every new member in batches (Core): a scan after a storm may place thousands
    db_session.flush()
    connection = db_session.connection()
    for chunk in _batches(new_groups):
        connection.execute(insert(RecurrenceGroup.__table__), chunk)
    keys = [row["key"] for row in new_groups]
    id_of: dict[str, int] = {}
    for chunk in _batches(keys, 900):
        id_of.update(connection.execute(
            select(RecurrenceGroup.key, RecurrenceGroup.id).where(RecurrenceGroup.key.in_(chunk))).all())
    positions = [fresh for fresh, _ in placed if len(fresh)]
    owners = [np.full(len(fresh), id_of.get(owner, owner) if isinstance(owner, str) else owner, dtype=np.int64)
              for fresh, owner in placed if len(fresh)]
    written.groups.update(id_of.values())
    if positions:
        positions_all, owners_all = np.concatenate(positions), np.concatenate(owners)
        insert_members = _bulk_member_insert(connection, run_id, now)
        for start in range(0, len(positions_all), BATCH):
            chunk = positions_all[start:start + BATCH]
            texts, scores, via = reasons(frame, grouping, chunk)
            group_ids = owners_all[start:start + BATCH].tolist()
            incident_ids = frame.ids[chunk].tolist()
            insert_members(list(zip(incident_ids, group_ids, via, texts, scores.tolist())))
            for incident_id, group_id in zip(incident_ids, group_ids):
                written.new_members.setdefault(group_id, []).append(incident_id)
        written.links = len(positions_all)
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
