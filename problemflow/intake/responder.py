"""The response step for new incidents, run off the request path.

A thread in the intake process runs ``tasks.incident.respond`` (KEDB match,
escalation of P1/P2 through a Prefect event) for each incident the writer
created, most urgent first: in a storm a P1 does not wait behind thousands of
P4s. On start it first sweeps open incidents whose ``responded_at`` is
still empty, so incidents stored just before a crash are answered too.
``respond`` is idempotent, so a sweep that overlaps another worker's is harmless.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.enums import Priority
from problemflow.models.incident import Incident
from problemflow.models.services import incidents

logger = logging.getLogger("problemflow.intake.responder")

RespondFn = Callable[..., object]
STOP_RANK = 99  # after every incident already queued: stopping answers what came before


def load_respond() -> Optional[RespondFn]:
    try:
        from problemflow.tasks.incident import respond
    except ImportError:
        logger.warning("problemflow.tasks.incident.respond is not available; new incidents wait for the next start")
        return None
    return getattr(respond, "fn", respond)


class Responder:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        respond: Optional[RespondFn],
        *,
        retries: int = 3,
        retry_delay: float = 2.0,
    ):
        self._session_factory = session_factory
        self._respond = respond
        self._retries = retries
        self._retry_delay = retry_delay
        # (priority rank, arrival, incident id); a stop marker sorts last
        self._queue: queue.PriorityQueue[tuple[int, int, Optional[int]]] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._thread = threading.Thread(target=self._run, name="intake-responder", daemon=True)
        self.responded = 0

    @property
    def enabled(self) -> bool:
        return self._respond is not None

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._queue.put((STOP_RANK, next(self._arrivals), None))
            self._thread.join(timeout)

    def submit(self, created: list[tuple[int, int]]) -> None:
        """Queue new incidents, given as (incident id, priority rank)."""
        if self.enabled:
            for incident_id, rank in created:
                self._queue.put((rank, next(self._arrivals), incident_id))

    def sweep(self) -> int:
        """Queue every open incident not yet responded to; returns how many."""
        session = self._session_factory()
        try:
            rows = session.execute(
                select(Incident.id, Incident.priority)
                .where(Incident.responded_at.is_(None), Incident.state.in_(incidents.OPEN_STATES))
                .order_by(Incident.id)
            ).all()
        finally:
            session.close()
        self.submit([(incident_id, Priority(priority).rank) for incident_id, priority in rows])
        return len(rows)

    def _run(self) -> None:
        try:
            swept = self.sweep()
            if swept:
                logger.info("responding to %d incident(s) left from before", swept)
        except Exception:  # noqa: BLE001 - the database may be down at start; new work still flows
            logger.exception("could not sweep incidents awaiting a response")
        while True:
            _, _, incident_id = self._queue.get()
            if incident_id is None:
                return
            self._respond_one(incident_id)

    def _respond_one(self, incident_id: int) -> None:
        for attempt in range(1, self._retries + 1):
            session = self._session_factory()
            try:
                self._respond(db_session=session, incident_id=incident_id)
                session.commit()
                self.responded += 1
                return
            except Exception:  # noqa: BLE001 - logged; the next start's sweep tries again
                session.rollback()
                if attempt == self._retries:
                    logger.exception("respond failed for incident %s; left for the next sweep", incident_id)
                    return
                time.sleep(self._retry_delay * attempt)
            finally:
                session.close()
