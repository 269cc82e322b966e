"""The scan and its announcement as Prefect tasks."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Optional

from prefect import task
from sqlalchemy.exc import IntegrityError

from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX
from problemflow.tasks.common import events
from problemflow.tasks.common.events import OPENED_EVENT
from problemflow.tasks.common.retry import RETRIES, TransientError
from problemflow.tasks.recurrence import ScanMode, ScanResult, run_scan, store
from problemflow.tasks.recurrence.config import ScanConfig

logger = logging.getLogger("problemflow.recurrence")


class ConcurrentScan(TransientError):
    """Another scan wrote the same group or link first; this one rolled back and may run again."""


def scan(mode: ScanMode, overrides: dict[str, Any] | None = None, database_url: Optional[str] = None) -> ScanResult:
    """One scan in its own transaction: all of its groups, links and problems, or none."""
    from problemflow.models.db import session_scope

    config = ScanConfig.from_settings(**(overrides or {}))
    try:
        with session_scope(database_url) as db_session:
            return run_scan(db_session=db_session, mode=mode, config=config)
    except Exception as error:
        # the scan's own work rolled back; keep a trace of the attempt for operators
        with session_scope(database_url) as db_session:
            run = store.start_run(db_session, mode)
            store.finish_run(db_session, run, error=f"{type(error).__name__}: {error}"[:2000])
        if isinstance(error, IntegrityError):
            raise ConcurrentScan(f"another scan wrote the same groups first: {error.orig}") from error
        raise


# Safe to retry: a failed scan rolls back whole, and problems are unique per group key.
scan_task = task(name="recurrence-scan", **RETRIES)(scan)


def opened_event(problem_id: int, opened_at: datetime) -> dict[str, Any]:
    """The event that starts problem management. Its id is fixed per problem, so
    resending is harmless; the opening time is part of it, so a problem with the
    same number in another database (or after a reset) is still announced."""
    return events.event(
        OPENED_EVENT, resource_id=f"problemflow.problem.{problem_id}",
        resource_name=format_number(NUMBER_PREFIX, problem_id), payload={"problem_id": problem_id},
        key=f"{problem_id}/{opened_at.isoformat()}",
    )


def announce(problem_ids: list[int]) -> int:
    """Emit ``problemflow.problem.opened`` for each problem; returns how many were sent."""
    if not problem_ids:
        return 0
    if not events.api_configured():
        logger.info("no Prefect API configured: %d opened problems not announced", len(problem_ids))
        return 0
    from sqlalchemy import select

    from problemflow.models.db import session_scope
    from problemflow.models.problem import Problem

    with session_scope() as db_session:
        rows = db_session.execute(select(Problem.id, Problem.opened_at).where(Problem.id.in_(problem_ids)))
        opened = {problem_id: opened_at for problem_id, opened_at in rows}
    return events.send([opened_event(problem_id, opened[problem_id]) for problem_id in problem_ids
                        if problem_id in opened])


announce_task = task(name="announce-opened-problems", **RETRIES)(announce)


def send_digest(result: ScanResult, database_url: Optional[str] = None) -> bool:
    """One notification for the scan's opened and newly queued problems; whether one was sent."""
    from problemflow.models.db import session_scope
    from problemflow.tasks.common.notify import send
    from problemflow.tasks.recurrence.queue import digest

    with session_scope(database_url) as db_session:
        message = digest(db_session, result.problems_opened, result.groups_queued, result.groups_newly_queued)
    if message is None:
        return False
    send(*message, tag="recurrence")
    return True


digest_task = task(name="recurrence-digest", **RETRIES)(send_digest)
