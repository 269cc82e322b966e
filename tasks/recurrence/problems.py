"""Groups that cross the threshold become problems, or join the problem or known error they match."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator, Optional

import numpy as np
from sqlalchemy import and_, bindparam, case, distinct, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from problemflow.models.enums import Level, Priority
from problemflow.models.errors import RecurrenceGroupNotFound
from problemflow.models.incident import Incident
from problemflow.models.kedb import KnownError
from problemflow.models.problem import Problem, ProblemCreate, ProblemIncident
from problemflow.models.recurrence import RecurrenceGroup, RecurrenceMember
from problemflow.models.services import kedb as kedb_service
from problemflow.models.services import problems as problem_service
from problemflow.tasks.recurrence.config import ALGORITHM_VERSION, ScanConfig

logger = logging.getLogger("problemflow.recurrence")
ACTOR = "recurrence-scan"
LEVEL_RANK = {Level.high: 0, Level.medium: 1, Level.low: 2}


@dataclass
class Raised:
    """What the threshold step did."""

    opened: list[int] = field(default_factory=list)  # problem ids opened by this scan
    queued: list[int] = field(default_factory=list)  # group ids waiting for a slot, best first
    newly_queued: list[int] = field(default_factory=list)  # of those, the ones this scan queued
    linked_to_problem: dict[int, int] = field(default_factory=dict)  # group id -> existing problem
    linked_to_known_error: dict[int, int] = field(default_factory=dict)  # group id -> known error
    incident_links: int = 0


def crossing(times: np.ndarray, threshold: int, window_seconds: float) -> bool:
    """Whether ``threshold`` of these opening times fall within one window."""
    if len(times) < threshold:
        return False
    ordered = np.sort(times)
    return bool(np.any(ordered[threshold - 1 :] - ordered[: len(ordered) - threshold + 1] <= window_seconds))


def rank_of(members: list[Incident], recent: int, present: datetime, window_days: float) -> float:
    """How much a group matters, highest first: the worst priority among its incidents
    (100 points a level), then how many recurred in the present window, how recently, how
    many services they touched, and how large the group is over all time (which alone
    ranks history). Ties in priority are decided by the rest."""
    worst = min(Priority(m.priority).rank for m in members)
    services = len({m.service for m in members if m.service})
    age_days = max(0.0, (present - max(m.opened_at for m in members)).total_seconds() / 86400)
    return rank_from(worst, recent, services, age_days, len(members), window_days)


def rank_from(worst: int, recent: int, services: int, age_days: float, size: int, window_days: float) -> float:
    """:func:`rank_of` from a group's figures."""
    return round(
        100 * (5 - worst) + 20 * math.log2(1 + recent) + 10 * math.log2(1 + services)
        + 30 * math.exp(-age_days / window_days) + 5 * math.log2(1 + size),
        3,
    )


def raise_problems(db_session: Session, group_ids: set[int], config: ScanConfig) -> Raised:
    """Open, or link to, a problem for every group whose threshold is crossed now.

    Only the present counts: a group opens a problem when ``threshold`` of its incidents
    were opened within ``threshold_days`` before :meth:`ScanConfig.present`, so imported
    history forms groups and opens nothing. Groups that match an open problem or a known
    error join it. The others are ranked; the best open problems while the scan has fewer
    than ``open_max`` open, the rest wait in the queue, which later scans drain as those
    problems are resolved. Queued groups whose recurrence ended leave the queue.
    """
    raised = Raised()
    present = config.present()
    recent_after = present.timestamp() - config.threshold_seconds
    waiting = set(db_session.scalars(select(RecurrenceGroup.id).where(RecurrenceGroup.queued_at.is_not(None))))
    # most groups are history: rank them from figures the database sums up, and read the incidents
    # only of groups that may cross the threshold or belong to a problem or known error
    closer = _rank_all(db_session, group_ids | waiting, config, present)
    candidates: list[tuple[RecurrenceGroup, list]] = []
    for group, members in _groups_with_members(db_session, closer):
        times = np.array([m.opened_at.timestamp() for m in members])
        recent = times[times >= recent_after]
        group.rank = rank_of(members, len(recent), present, config.threshold_days)
        if group.problem_id is None and group.known_error_id is None:
            if not crossing(recent, config.threshold, config.threshold_seconds):
                group.queued_at = None  # history, or a queued recurrence that has ended
                continue
            if not _join_existing(db_session, group, members, config, raised):
                candidates.append((group, members))
                continue
        _link_group(db_session, group, members, raised)
    _open_best(db_session, candidates, config, raised, present)
    return raised


def _rank_all(db_session: Session, group_ids: set[int], config: ScanConfig, present: datetime) -> set[int]:
    """Rank every group from its figures (one aggregate query per 500 groups); returns the groups to
    look at closely: those with enough recent incidents to cross the threshold, and those linked to a
    problem or a known error."""
    recent_after = present - timedelta(seconds=config.threshold_seconds)
    table = RecurrenceGroup.__table__
    closer: set[int] = set()
    updates = []
    ids = sorted(group_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        linked = dict(db_session.execute(
            select(RecurrenceGroup.id, (RecurrenceGroup.problem_id.is_not(None))
                   | (RecurrenceGroup.known_error_id.is_not(None))).where(RecurrenceGroup.id.in_(chunk))
        ).all())
        figures = db_session.execute(
            select(
                RecurrenceMember.group_id, func.count(), func.sum(case((Incident.opened_at >= recent_after, 1), else_=0)),
                func.min(Incident.priority), func.count(distinct(Incident.service)), func.max(Incident.opened_at),
            )
            .join(Incident, Incident.id == RecurrenceMember.incident_id)
            .where(RecurrenceMember.group_id.in_(chunk))
            .group_by(RecurrenceMember.group_id)
        ).all()
        for group_id, size, recent, worst, services, last in figures:
            recent = int(recent or 0)
            if linked.get(group_id) or recent >= config.threshold:
                closer.add(group_id)
                continue
            age_days = max(0.0, (present - last).total_seconds() / 86400)
            updates.append({"b_id": group_id, "rank": rank_from(
                Priority(worst).rank, recent, services, age_days, size, config.threshold_days)})
    for start in range(0, len(updates), 5000):
        # Core executemany; such groups do not cross the threshold now, so none of them waits in the queue
        db_session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id")).values(rank=bindparam("rank"), queued_at=None),
            updates[start:start + 5000],
        )
    if updates:
        db_session.expire_all()
    return closer


def _join_existing(db_session, group: RecurrenceGroup, members: list, config: ScanConfig, raised: Raised) -> bool:
    """Link the group to an open problem of its incidents or to the known error it matches."""
    problem = _open_problem_of(db_session, [m.id for m in members])
    if problem is not None:
        group.problem_id = problem.id
        raised.linked_to_problem[group.id] = problem.id
    else:
        match = _known_error_for(db_session, members[-1], config)
        if match is None:
            return False
        known_error_id, score = match
        group.known_error_id = known_error_id
        raised.linked_to_known_error[group.id] = known_error_id
        known_error = db_session.get(KnownError, known_error_id)
        if known_error.problem_id is not None:
            owner = db_session.get(Problem, known_error.problem_id)
            if owner is not None and owner.state in problem_service.OPEN_STATES:
                group.problem_id = owner.id
                raised.linked_to_problem[group.id] = owner.id
    group.queued_at = None
    return True


def _link_group(db_session, group: RecurrenceGroup, members: list, raised: Raised) -> None:
    if group.problem_id is not None:
        raised.incident_links += _link_members(db_session, group, members)
    elif group.known_error_id is not None:
        _link_known_error(db_session, group, members)


def open_problems_of_scan(db_session: Session) -> int:
    """Problems the scan opened that are not resolved yet: they hold its slots."""
    return db_session.scalar(
        select(func.count()).select_from(Problem)
        .where(Problem.source == ACTOR, Problem.state.in_(problem_service.OPEN_STATES))
    )


def _open_best(db_session, candidates: list, config: ScanConfig, raised: Raised, present: datetime) -> None:
    """Open problems for the best-ranked candidates while slots are free; queue the rest."""
    candidates.sort(key=lambda pair: (-pair[0].rank, pair[0].id))
    free = max(0, config.open_max - open_problems_of_scan(db_session))
    for group, members in candidates:
        if free > 0:
            problem, created = _open_problem(db_session, group, members)
            group.problem_id, group.queued_at = problem.id, None
            if created:
                raised.opened.append(problem.id)
                free -= 1
            else:
                raised.linked_to_problem[group.id] = problem.id
            _link_group(db_session, group, members, raised)
            continue
        if group.queued_at is None:
            group.queued_at = present
            raised.newly_queued.append(group.id)
        raised.queued.append(group.id)


def open_group(db_session: Session, group_key: str) -> tuple[Problem, bool]:
    """Open (or find) the problem of one group on purpose, whatever its age and the cap;
    returns the problem and whether it was opened now."""
    group = db_session.scalar(select(RecurrenceGroup).where(RecurrenceGroup.key == group_key))
    if group is None:
        raise RecurrenceGroupNotFound(group_key)
    [(_, members)] = list(_groups_with_members(db_session, {group.id}))
    if group.problem_id is not None:
        problem = db_session.get(Problem, group.problem_id)
        if problem is not None:
            return problem, False
    problem, created = _open_problem(db_session, group, members)
    group.problem_id, group.queued_at = problem.id, None
    _link_group(db_session, group, members, Raised())
    return problem, created


def _open_problem_of(db_session: Session, incident_ids: list[int]) -> Optional[Problem]:
    """An open problem some of these incidents are already linked to (the oldest)."""
    return db_session.scalar(
        select(Problem)
        .join(ProblemIncident, ProblemIncident.problem_id == Problem.id)
        .where(ProblemIncident.incident_id.in_(incident_ids[:900]), Problem.state.in_(problem_service.OPEN_STATES))
        .order_by(Problem.id)
        .limit(1)
    )


def _known_error_for(db_session: Session, incident: Incident, config: ScanConfig) -> Optional[tuple[int, float]]:
    """The published known error that explains the group's latest incident, if the KEDB search is available."""
    try:
        from problemflow.tasks.kedb.match import query_of, search
    except ImportError:  # the KEDB search is an optional part of the product
        return None
    matches = search(db_session=db_session, top=1, min_score=config.kedb_min_score, **query_of(incident))
    if not matches or matches[0].score < config.kedb_min_score:
        return None
    return matches[0].known_error_id, matches[0].score


def _open_problem(db_session: Session, group: RecurrenceGroup, members: list) -> tuple[Problem, bool]:
    """Create the group's problem once: ``group_key`` is unique, so a concurrent scan's wins."""
    existing = problem_service.get_by_group_key(db_session=db_session, group_key=group.key)
    if existing is not None:
        return existing, False
    worst = min(members, key=lambda m: (LEVEL_RANK.get(Level(m.impact), 1), LEVEL_RANK.get(Level(m.urgency), 1)))
    problem_in = ProblemCreate(
        statement=f"Recurring: {members[0].title}"[:500],
        description=(
            f"{len(members)} incidents grouped by the recurrence scan ({ALGORITHM_VERSION}) "
            f"from {members[0].opened_at:%Y-%m-%d %H:%M} to {members[-1].opened_at:%Y-%m-%d %H:%M} UTC."
        ),
        impact=worst.impact,
        urgency=worst.urgency,
        assignment_group=_most_common([m.assignment_group for m in members]),
        source="recurrence-scan",
        group_key=group.key,
    )
    try:
        with db_session.begin_nested():
            problem = problem_service.create(db_session=db_session, problem_in=problem_in, actor=ACTOR)
    except IntegrityError:
        existing = problem_service.get_by_group_key(db_session=db_session, group_key=group.key)
        if existing is None:
            raise
        return existing, False
    return problem, True


def _link_members(db_session: Session, group: RecurrenceGroup, members: list) -> int:
    """Link every member not yet linked to the group's problem, with the scan's reason."""
    problem = db_session.get(Problem, group.problem_id)
    if problem is None:
        return 0
    linked = set(
        db_session.scalars(select(ProblemIncident.incident_id).where(ProblemIncident.problem_id == problem.id))
    )
    reasons = {
        m.incident_id: m
        for m in db_session.scalars(select(RecurrenceMember).where(RecurrenceMember.group_id == group.id))
    }
    count = 0
    for incident in members:
        if incident.id in linked:
            continue
        member = reasons.get(incident.id)
        problem_service.link_incident(
            db_session=db_session, problem=problem, incident_id=incident.id,
            reason=f"recurrence group {group.key}: {member.reason if member else ''}",
            linked_by=ACTOR, score=min(1.0, member.score if member else 1.0),
            algorithm_version=ALGORITHM_VERSION,
        )
        count += 1
    return count


def _link_known_error(db_session: Session, group: RecurrenceGroup, members: list) -> None:
    known_error = db_session.get(KnownError, group.known_error_id)
    if known_error is None:
        return
    for incident in members:
        kedb_service.link_incident(
            db_session=db_session, known_error=known_error, incident_id=incident.id,
            score=1.0, matched={"recurrence_group": group.key},
        )


def _groups_with_members(db_session: Session, group_ids: set[int]) -> Iterator[tuple[RecurrenceGroup, list]]:
    ids = sorted(group_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        groups = {g.id: g for g in db_session.scalars(select(RecurrenceGroup).where(RecurrenceGroup.id.in_(chunk)))}
        rows = db_session.execute(
            select(RecurrenceMember.group_id, Incident)
            .join(Incident, and_(Incident.id == RecurrenceMember.incident_id))
            .where(RecurrenceMember.group_id.in_(chunk))
            .order_by(RecurrenceMember.group_id, Incident.opened_at, Incident.id)
        ).all()
        members: dict[int, list] = {}
        for group_id, incident in rows:
            members.setdefault(group_id, []).append(incident)
        for group_id in chunk:
            if group_id in groups and members.get(group_id):
                yield groups[group_id], members[group_id]


def _most_common(values: list[Optional[str]]) -> Optional[str]:
    present = [v for v in values if v]
    return max(set(present), key=present.count) if present else None
