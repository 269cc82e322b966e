"""Group commit: requests wait briefly, one transaction stores a batch, each gets its answer.

Request handlers call :meth:`GroupWriter.submit` and await it. One thread owns the
database connection; it takes every submission waiting in its queue (up to
``max_batch`` alerts), stores them in one transaction, commits, and only then
resolves each submission's future. A 2xx answer therefore always means stored.
While a commit is in flight the next batch gathers, so batches grow with load
and no fixed delay is added when the service is idle.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from models.alert import AlertOutcome
from problemflow.intake.common import NormalAlert
from problemflow.intake.store import ConcurrentChange, ResolvePolicy, store_batch

logger = logging.getLogger("problemflow.intake.writer")

Results = list[tuple[AlertOutcome, Optional[int]]]


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or written: nothing of the request was stored."""


@dataclass(slots=True)
class _Job:
    alerts: list[NormalAlert]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


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


# undefined table: the schema is not there yet (``problemflow db upgrade`` not run)
_MISSING_SCHEMA_SQLSTATES = {"42P01"}


def _unavailable(error: BaseException) -> bool:
    if _sqlstate(error) in _RETRY_SQLSTATES:  # deadlock after every retry: not an outage
        return False
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout, *_DRIVER_UNAVAILABLE)):
        return True
    if _sqlstate(error) in _MISSING_SCHEMA_SQLSTATES:
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def writer_engine(url: str) -> Engine:
    """The writer's engine: on SQLite one connection whose transactions take the write lock
    at BEGIN (IMMEDIATE), so reads and writes of a batch are atomic across processes, and
    whose commits are synced to disk."""
    if not url.startswith("sqlite"):
        from models.db import get_engine

        return get_engine(url)
    from models.db import _sqlite_pragmas

    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=1, max_overflow=0
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


class GroupWriter:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        policy: ResolvePolicy = "resolve",
        max_batch: int = 1000,
        on_created: Callable[[list[int]], None] = lambda ids: None,
        on_batch: Callable[[int, float], None] = lambda size, seconds: None,
    ):
        self._session_factory = session_factory
        self._policy = policy
        self._max_batch = max_batch
        self._on_created = on_created
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[Optional[_Job]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30) -> None:
        """Write what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    async def submit(self, alerts: list[NormalAlert], timeout: float = 30) -> Results:
        """Store ``alerts``; returns (outcome, incident id) per alert once committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(alerts, future, loop))
        # a plain timer, cheaper than wait_for(); a write that lands after it still counts
        # as stored, so a retry by the sender becomes an occurrence, never a second incident
        timer = loop.call_later(timeout, _expire, future, timeout)
        try:
            return await future
        finally:
            timer.cancel()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            jobs, size = [job], len(job.alerts)
            while size < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
                size += len(job.alerts)
            self._write(jobs)

    def _write(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            results = self._store([a for job in jobs for a in job.alerts])
        except Exception as error:  # noqa: BLE001 - every failure is answered, none is lost
            if _unavailable(error):
                logger.error("database unavailable, %d request(s) refused: %s", len(jobs), error)
                failure: BaseException = DatabaseUnavailable(str(getattr(error, "orig", error)))
                _settle([(job, None, failure) for job in jobs])
                return
            if len(jobs) > 1:  # find the request at fault; store the others
                for job in jobs:
                    self._write([job])
                return
            logger.exception("could not store a request of %d alert(s)", len(jobs[0].alerts))
            _settle([(jobs[0], None, error)])
            return
        self._on_batch(len(results), time.perf_counter() - started)
        settled, offset = [], 0
        for job in jobs:
            count = len(job.alerts)
            settled.append((job, results[offset : offset + count], None))
            offset += count
        _settle(settled)

    def _store(self, alerts: list[NormalAlert], attempts: int = 3) -> Results:
        for attempt in range(attempts):
            session = self._session_factory()
            try:
                batch = store_batch(db_session=session, alerts=alerts, policy=self._policy)
                session.commit()
            except BaseException as error:
                session.rollback()
                if attempt < attempts - 1 and _retryable(error):
                    continue
                raise
            finally:
                session.close()
            if batch.created:
                self._on_created(batch.created)
            return batch.results
        raise AssertionError("unreachable")


def _expire(future: asyncio.Future, timeout: float) -> None:
    if not future.done():
        future.set_exception(DatabaseUnavailable(f"the database did not answer within {timeout:g} s"))


def _settle(outcomes: list[tuple[_Job, Optional[Results], Optional[BaseException]]]) -> None:
    """Answer every request of a batch with one wake-up of its event loop."""

    def settle() -> None:
        for job, result, error in outcomes:
            if job.future.done():
                continue
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

    try:
        outcomes[0][0].loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: the requests are gone
        pass
