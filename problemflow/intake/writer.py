"""Group commit in a writer thread: one transaction stores a batch, each request gets its answer.

Request handlers call :meth:`GroupWriter.submit` and await it. A writer thread of
the intake process, owning one database connection, takes every request waiting
(up to ``max_batch`` alerts), turns them into normal alerts (triage included),
stores them in one transaction, commits, and only then answers each request. A
2xx answer therefore always means stored. While a commit is in flight the next
batch gathers, so batches grow with load and no fixed delay is added when idle.

Requests stay Python objects in one process from the socket to the database:
there is no channel, no framing and no serialisation that sender bytes could
desynchronise. Several intake processes (``--workers``) each run their own
writer; the database's unique index of open fingerprints keeps one incident
per alert across them.

Overload is refused at once, never after a wait: a request that arrives while
the oldest waiting request (or the batch being written) is older than
``shed_after`` seconds, while the alerts waiting would take longer than that to
store at the writer's recent rate, or while more than ``max_queued`` alerts
wait, is answered 503 with nothing stored. A request is answered within ``timeout``
seconds whatever the database does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from problemflow.intake.common import NormalAlert
from problemflow.intake.store import ConcurrentChange, ResolvePolicy, store_batch
from problemflow.models.alert import AlertOutcome

logger = logging.getLogger("problemflow.intake.writer")

# What comes back per alert: its fingerprint, what was done with it and the incident id.
StoredAlerts = list[tuple[str, AlertOutcome, Optional[int]]]


class DatabaseUnavailable(RuntimeError):
    """The request was not answered as stored. ``maybe_stored`` tells a sender whether the
    alerts may nevertheless have been stored (a commit whose answer was lost, a write still
    in flight): retrying is safe either way, because alerts are deduplicated."""

    def __init__(self, reason: str, *, maybe_stored: bool = False):
        super().__init__(reason)
        self.maybe_stored = maybe_stored


class Overloaded(DatabaseUnavailable):
    """Refused at once because the writer is behind: nothing was stored."""


# deadlock detected, serialization failure: write the batch again
_RETRY_SQLSTATES = {"40P01", "40001"}

# The bulk paths use the driver's cursor directly, so driver errors arrive unwrapped too.
_DRIVER_UNAVAILABLE = (sqlite3.OperationalError, sqlite3.InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
_DRIVER_INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


def _sqlstate(error: BaseException) -> Optional[str]:
    return getattr(getattr(error, "orig", error), "sqlstate", None)


def _retryable(error: BaseException) -> bool:
    if isinstance(error, (ConcurrentChange, IntegrityError, *_DRIVER_INTEGRITY)):
        return True
    return _sqlstate(error) in _RETRY_SQLSTATES


# undefined table (``problemflow db upgrade`` not run), insufficient privilege (a REVOKE)
_OUTAGE_SQLSTATES = {"42P01", "42501"}


def _unavailable(error: BaseException) -> bool:
    """The database cannot take any write now (down, locked, no schema, no permission, full
    disk), as opposed to one request it refuses: every request of the batch is refused."""
    if _sqlstate(error) in _RETRY_SQLSTATES:  # deadlock after every retry: not an outage
        return False
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout, *_DRIVER_UNAVAILABLE)):
        return True
    if _sqlstate(error) in _OUTAGE_SQLSTATES:
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _describe(error: BaseException) -> str:
    """What went wrong, for the log only: answers never carry connection details or SQL."""
    return f"{type(error).__name__}: {getattr(error, 'orig', error)}"


def writer_engine(url: str, wait_seconds: float = 10) -> Engine:
    """The writer's engine: on SQLite one connection whose transactions take the write lock
    at BEGIN (IMMEDIATE), so reads and writes of a batch are atomic across processes, and
    whose commits are synced to disk. A lock held elsewhere fails the batch after
    ``wait_seconds`` (SQLite's busy timeout, PostgreSQL's lock and statement timeouts), so
    the writer always moves on."""
    milliseconds = max(1, int(wait_seconds * 1000))
    if not url.startswith("sqlite"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        options = f"-c lock_timeout={milliseconds} -c statement_timeout={milliseconds}"
        engine = create_engine(url, pool_size=1, max_overflow=0, connect_args={"options": options})
        _ping_after_idle(engine)
        return engine
    from problemflow.models.db import _sqlite_pragmas

    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": wait_seconds}, pool_size=1, max_overflow=0
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        # 2xx means stored: each commit reaches the disk (WAL synced), not only the OS
        dbapi_connection.execute("PRAGMA synchronous=FULL")
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


IDLE_PING_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Check the connection before a batch only when it sat idle: a busy writer would
    otherwise pay a round trip per batch for ``pool_pre_ping``. A connection lost in the
    middle of a storm fails one batch (503, the senders retry) and is replaced."""

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, proxy) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards the connection and opens another
            raise DisconnectionError(str(error)) from error


def converters() -> dict[str, Callable[[Any], list[NormalAlert]]]:
    """Per source, what makes normal alerts (triaged) of a validated request body."""
    from problemflow.intake import alertmanager, generic, grafana, pagerduty

    return {
        alertmanager.SOURCE: alertmanager.to_alerts,
        grafana.SOURCE: grafana.to_alerts,
        generic.SOURCE: generic.to_alerts,
        pagerduty.SOURCE: lambda event: [pagerduty.to_alert(event)],
    }


def alert_count(body: Any) -> int:
    """How many alerts a validated body carries (a PagerDuty event is one)."""
    alerts = getattr(body, "alerts", None)
    return len(alerts) if alerts is not None else 1


@dataclass(eq=False)
class Job:
    """One request waiting for the writer."""

    source: str
    body: Any
    size: int
    future: asyncio.Future
    queued_at: float = field(default_factory=time.monotonic)
    alerts: list[NormalAlert] = field(default_factory=list)


# per job: the stored alerts, or the error it is answered with
Outcome = tuple[Job, "StoredAlerts | DatabaseUnavailable"]


class BatchStore:
    """Stores batches of jobs, one transaction per batch."""

    def __init__(self, session_factory: Callable[[], Session], policy: ResolvePolicy = "resolve"):
        self._session_factory = session_factory
        self._policy = policy

    def write(self, jobs: list[Job]) -> tuple[list[Outcome], list[tuple[int, int]]]:
        """Store the jobs' alerts together; returns an outcome per job and the incidents created.
        A batch that fails for one request's sake is written again without it."""
        try:
            results, created = self._store([a for job in jobs for a in job.alerts])
        except _CommitUnanswered as lost:
            logger.error("a commit of %d request(s) got no answer: %s", len(jobs), _describe(lost.error))
            refusal = DatabaseUnavailable("the database did not confirm the write", maybe_stored=True)
            return [(job, refusal) for job in jobs], []
        except Exception as error:  # noqa: BLE001 - every failure is answered, none is lost
            if _unavailable(error):
                logger.error("database unavailable, %d request(s) refused: %s", len(jobs), _describe(error))
                refusal = DatabaseUnavailable("the database is unavailable")
                return [(job, refusal) for job in jobs], []
            if len(jobs) > 1:  # find the request at fault; store the others
                outcomes, created = [], []
                for job in jobs:
                    found, made = self.write([job])
                    outcomes += found
                    created += made
                return outcomes, created
            logger.exception("could not store a request of %d alert(s)", len(jobs[0].alerts))
            return [(jobs[0], DatabaseUnavailable("the request could not be stored"))], []
        outcomes, offset = [], 0
        for job in jobs:
            chunk = results[offset : offset + len(job.alerts)]
            stored = [(a.fingerprint, outcome, incident_id) for a, (outcome, incident_id) in zip(job.alerts, chunk)]
            outcomes.append((job, stored))
            offset += len(job.alerts)
        return outcomes, created

    def _store(self, alerts: list[NormalAlert], attempts: int = 3) -> tuple[list, list[tuple[int, int]]]:
        for attempt in range(attempts):
            session = self._session_factory()
            try:
                batch = store_batch(db_session=session, alerts=alerts, policy=self._policy)
                try:
                    session.commit()
                except Exception as error:
                    if _retryable(error) or not _unavailable(error):
                        raise
                    raise _CommitUnanswered(error) from error
            except _CommitUnanswered:
                session.close()
                raise
            except BaseException as error:
                session.rollback()
                session.close()
                if attempt < attempts - 1 and _retryable(error):
                    continue
                raise
            session.close()
            return batch.results, batch.created
        raise AssertionError("unreachable")


class _CommitUnanswered(Exception):
    """The connection failed during COMMIT: the batch may or may not be stored."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class GroupWriter:
    """Hands each request to the writer thread and awaits its answer."""

    def __init__(
        self,
        database_url: str,
        *,
        policy: ResolvePolicy = "resolve",
        max_batch: int = 1000,
        max_queued: int = 20_000,
        shed_after: float = 1.0,
        timeout: float = 10.0,
        on_created: Callable[[list[tuple[int, int]]], None] = lambda created: None,
        on_batch: Callable[[int, float], None] = lambda size, seconds: None,
    ):
        self._database_url = database_url
        self._policy = policy
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._shed_after = shed_after
        self._timeout = timeout
        self._on_created = on_created
        self._on_batch = on_batch
        self._jobs: collections.deque[Job] = collections.deque()
        self._queued = 0  # alerts waiting
        self._busy_since: Optional[float] = None  # when the batch being written was taken
        self._rate: Optional[float] = None  # alerts stored per second, a moving average
        self._wakeup = threading.Condition()
        self._stopping = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start the writer thread; call from the event loop that will await :meth:`submit`."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stalled_for(self) -> float:
        """Seconds the writer has been behind: the age of the batch in flight or of the
        oldest waiting request; 0 when it keeps up."""
        now = time.monotonic()
        with self._wakeup:
            started = [t for t in (self._busy_since, self._jobs[0].queued_at if self._jobs else None) if t]
        return now - min(started) if started else 0.0

    def healthy(self) -> Optional[str]:
        """None when the writer makes progress; otherwise why not, in a sentence."""
        if not self.running:
            return "the writer has stopped"
        stalled = self.stalled_for()
        if stalled > self._timeout:
            return f"the writer has made no progress for {stalled:.0f} s"
        return None

    def stop(self, timeout: float = 30) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    async def submit(self, source: str, body: Any) -> StoredAlerts:
        """Store the alerts of a validated request body from ``source``; returns
        (fingerprint, outcome, incident id) per alert once committed, or raises
        :class:`DatabaseUnavailable` within the writer's ``timeout``."""
        timeout = self._timeout
        if self._stopping:
            raise Overloaded("the intake is stopping")
        size = alert_count(body)
        stalled = self.stalled_for()
        if stalled > self._shed_after:
            raise Overloaded(f"the intake is {stalled:.1f} s behind")
        if self._queued and self._queued + size > self._max_queued:
            raise Overloaded(f"{self._queued} alerts are waiting to be stored")
        # what already waits would take longer to store than the budget: refuse now, not later
        if self._queued and self._rate and (self._queued + size) / self._rate > self._shed_after:
            raise Overloaded(f"{self._queued} alerts are waiting, about {self._queued / self._rate:.1f} s of work")
        loop = asyncio.get_running_loop()
        job = Job(source, body, size, loop.create_future())
        with self._wakeup:
            self._jobs.append(job)
            self._queued += size
            self._wakeup.notify()
        # a plain timer, cheaper than wait_for(); a write that lands after it still counts
        # as stored, so a retry by the sender becomes an occurrence, never a second incident
        timer = loop.call_later(timeout, _expire, job.future, timeout)
        try:
            return await job.future
        finally:
            timer.cancel()

    def _take(self) -> Optional[list[Job]]:
        """The next batch (every waiting job up to ``max_batch`` alerts, at least one), or
        None once stopping with nothing left."""
        with self._wakeup:
            while not self._jobs:
                if self._stopping:
                    return None
                self._wakeup.wait()
            jobs, size = [], 0
            while self._jobs and (not jobs or size + self._jobs[0].size <= self._max_batch):
                job = self._jobs.popleft()
                jobs.append(job)
                size += job.size
            self._queued -= size
            self._busy_since = jobs[0].queued_at
            return jobs

    def _run(self) -> None:
        from problemflow.intake.common import load_triage

        load_triage()
        convert = converters()
        # a request gives up at its timeout; the writer waits on a lock twice as long before it
        # gives up the batch, so a short lock costs the senders a retry, not the batch
        engine = writer_engine(self._database_url, wait_seconds=2 * self._timeout)
        store = BatchStore(sessionmaker(bind=engine, expire_on_commit=False), self._policy)
        try:
            while (jobs := self._take()) is not None:
                try:
                    self._write(jobs, convert, store)
                except Exception:  # noqa: BLE001 - a fault of ours must not end the writer
                    logger.exception("the writer failed on a batch of %d request(s)", len(jobs))
                    refusal = DatabaseUnavailable("the request could not be stored")
                    self._answer([(job, refusal) for job in jobs if not job.future.done()], [])
                finally:
                    with self._wakeup:
                        self._busy_since = None
        finally:
            engine.dispose()

    def _write(self, jobs: list[Job], convert: dict, store: BatchStore) -> None:
        ready, outcomes = [], []
        for job in jobs:
            if job.future.done():  # timed out before its turn: nothing of it is written
                continue
            try:
                job.alerts = convert[job.source](job.body)
            except Exception:  # noqa: BLE001 - answered on its own, the others are stored
                logger.exception("could not read a request from %s", job.source)
                outcomes.append((job, DatabaseUnavailable("the request could not be stored")))
                continue
            ready.append(job)
        started = time.perf_counter()
        written, created = store.write(ready) if ready else ([], [])
        seconds = time.perf_counter() - started
        size = sum(len(job.alerts) for job in ready)
        if size and seconds > 0:
            rate = size / seconds
            self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
        self._on_batch(size, seconds)
        self._answer(outcomes + written, created)

    def _answer(self, outcomes: list[Outcome], created: list[tuple[int, int]]) -> None:
        if outcomes:
            self._loop.call_soon_threadsafe(_settle, outcomes)
        if created:
            self._on_created(created)


def _settle(outcomes: list[Outcome]) -> None:
    for job, result in outcomes:
        if job.future.done():
            continue
        if isinstance(result, DatabaseUnavailable):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)


def _expire(future: asyncio.Future, timeout: float) -> None:
    if not future.done():
        future.set_exception(
            DatabaseUnavailable(f"the database did not answer within {timeout:g} s", maybe_stored=True)
        )
