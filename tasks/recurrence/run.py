"""The scan and its announcement as Prefect tasks."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Optional

import httpx
from prefect import task

from problemflow.tasks.recurrence import ScanMode, ScanResult, run_scan, store
from problemflow.tasks.recurrence.config import ScanConfig

logger = logging.getLogger("problemflow.recurrence")
OPENED_EVENT = "problemflow.problem.opened"


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
        raise


# Safe to retry: a failed scan rolls back whole, and problems are unique per group key.
scan_task = task(name="recurrence-scan", retries=2, retry_delay_seconds=[5, 30])(scan)


def api_url() -> Optional[str]:
    """The Prefect API the events go to; None when none is configured."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def opened_event(problem_id: int, opened_at: datetime) -> dict[str, Any]:
    """The event that starts problem management. Its id is fixed per problem, so
    resending is harmless; the opening time is part of it, so a problem with the
    same number in another database (or after a reset) is still announced."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{OPENED_EVENT}/{problem_id}/{opened_at.isoformat()}")),
        "occurred": datetime.now(timezone.utc).isoformat(),
        "event": OPENED_EVENT,
        "resource": {"prefect.resource.id": f"problemflow.problem.{problem_id}", "prefect.resource.name": f"PRB{problem_id:07d}"},
        "payload": {"problem_id": problem_id},
    }


def announce(problem_ids: list[int]) -> int:
    """Emit ``problemflow.problem.opened`` for each problem; returns how many were sent."""
    url = api_url()
    if not problem_ids:
        return 0
    if not url:
        logger.info("no Prefect API configured: %d opened problems not announced", len(problem_ids))
        return 0
    from prefect.settings import PREFECT_API_KEY

    headers = {"Authorization": f"Bearer {PREFECT_API_KEY.value()}"} if PREFECT_API_KEY.value() else {}
    from sqlalchemy import select

    from problemflow.models.db import session_scope
    from problemflow.models.problem import Problem

    with session_scope() as db_session:
        rows = db_session.execute(select(Problem.id, Problem.opened_at).where(Problem.id.in_(problem_ids)))
        opened = {problem_id: opened_at for problem_id, opened_at in rows}
    events = [opened_event(problem_id, opened[problem_id]) for problem_id in problem_ids if problem_id in opened]
    with httpx.Client(base_url=url.rstrip("/") + "/", headers=headers, timeout=30) as client:
        for start in range(0, len(events), 500):
            response = client.post("events", json=events[start : start + 500])
            response.raise_for_status()
    return len(events)


announce_task = task(name="announce-opened-problems", retries=3, retry_delay_seconds=[2, 10, 30])(announce)


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


digest_task = task(name="recurrence-digest", retries=3, retry_delay_seconds=[2, 10, 30])(send_digest)
