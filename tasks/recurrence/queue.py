"""The groups as a team sees them: ranked, with what became of each, and the scan's digest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.kedb import NUMBER_PREFIX as KE_PREFIX
from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX as PRB_PREFIX
from problemflow.models.problem import Problem
from problemflow.models.recurrence import RecurrenceGroup

GroupStatus = Literal["problem", "known error", "waiting", "history"]


class RankedGroup(BaseModel):
    """One group, where it stands in the ranking and what became of it."""

    key: str
    rank: float
    status: GroupStatus
    record: Optional[str] = None  # PRB or KE number
    size: int
    first_seen: datetime
    last_seen: datetime
    summary: str
    queued_at: Optional[datetime] = None


def ranked_groups(db_session: Session, *, waiting_only: bool = False, limit: int = 50) -> list[RankedGroup]:
    """Groups best first: with ``waiting_only`` the queue of groups waiting for a slot."""
    stmt = select(RecurrenceGroup).order_by(RecurrenceGroup.rank.desc(), RecurrenceGroup.id).limit(limit)
    if waiting_only:
        stmt = stmt.where(RecurrenceGroup.queued_at.is_not(None))
    return [_row(group) for group in db_session.scalars(stmt)]


def _row(group: RecurrenceGroup) -> RankedGroup:
    if group.problem_id is not None:
        status, record = "problem", format_number(PRB_PREFIX, group.problem_id)
    elif group.known_error_id is not None:
        status, record = "known error", format_number(KE_PREFIX, group.known_error_id)
    elif group.queued_at is not None:
        status, record = "waiting", None
    else:
        status, record = "history", None
    return RankedGroup(
        key=group.key, rank=group.rank, status=status, record=record, size=group.size,
        first_seen=group.first_seen, last_seen=group.last_seen, summary=group.summary, queued_at=group.queued_at,
    )


DIGEST_LISTED = 10


def digest(db_session: Session, opened: list[int], queued: list[int], newly_queued: list[int]) -> Optional[tuple[str, str]]:
    """One notification for a scan that opened or queued problems: (title, body), or None."""
    if not opened and not newly_queued:
        return None
    title = f"Recurrence scan: {len(opened)} problem(s) opened, {len(queued)} group(s) waiting"
    lines = []
    if opened:
        lines.append("Opened:")
        problems = db_session.scalars(select(Problem).where(Problem.id.in_(opened)).order_by(Problem.id))
        lines += [f"- {format_number(PRB_PREFIX, p.id)} ({p.priority}): {p.statement}" for p in problems]
    if queued:
        groups = {g.id: g for g in db_session.scalars(select(RecurrenceGroup).where(RecurrenceGroup.id.in_(queued[:DIGEST_LISTED])))}
        lines.append(f"Waiting for a slot, best first ({len(newly_queued)} new):")
        lines += [f"- {groups[i].key} ({groups[i].size} incidents, rank {groups[i].rank:g}): {groups[i].summary}"
                  for i in queued[:DIGEST_LISTED] if i in groups]
        if len(queued) > DIGEST_LISTED:
            lines.append(f"- and {len(queued) - DIGEST_LISTED} more: problemflow scan --pending")
        lines.append("Open one on purpose: problemflow problem open --group KEY")
    return title, "\n".join(lines)
