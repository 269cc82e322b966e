"""Group commit in a writer process: one transaction stores a batch, each request gets its answer.

Request handlers call :meth:`GroupWriter.submit` and await it. A writer process,
started with the intake and owning the database connection, takes every
submission waiting in its pipe (up to ``max_batch`` alerts), stores them in one
transaction, commits, and only then answers each submission. A 2xx answer
therefore always means stored. While a commit is in flight the next batch
gathers, so batches grow with load and no fixed delay is added when idle.

Why a process and not a thread: storing a batch is Python work (building rows,
the ORM for occurrences and resolutions) that would share one interpreter lock
with the HTTP handling; in its own process it runs on another core. Requests
reach it through a sender thread (so the event loop never blocks on a full pipe)
and answers come back through the event loop's own reader on the pipe. If the
writer process dies, the requests it held get 503 (nothing of them was answered
as stored) and a new one is started.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import queue
import signal
import sqlite3
import threading
import time
from typing import Any, Callable, Optional

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from models.alert import AlertOutcome
from problemflow.intake.common import NormalAlert
from problemflow.intake.store import ConcurrentChange, ResolvePolicy, store_batch

logger = logging.getLogger("problemflow.intake.writer")

Results = list[tuple[AlertOutcome, Optional[int]]]


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or written: nothing of the request was stored."""


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



# One request's alerts on their way to the writer process, and what comes back.
Job = tuple[int, list[NormalAlert]]
Outcome = tuple[int, Optional[Results], Optional[str], bool]  # job id, results | error text, unavailable


class BatchStore:
    """The writer process's side: stores batches of jobs, one transaction per batch."""

    def __init__(self, session_factory: Callable[[], Session], policy: ResolvePolicy = "resolve"):
        self._session_factory = session_factory
        self._policy = policy

    def write(self, jobs: list[Job]) -> tuple[list[Outcome], list[int]]:
        """Store the jobs' alerts together; returns an outcome per job and the incidents created.
        A batch that fails for one request's sake is written again without it."""
        try:
            results, created = self._store([a for _, alerts in jobs for a in alerts])
        except Exception as error:  # noqa: BLE001 - every failure is answered, none is lost
            if _unavailable(error):
                logger.error("database unavailable, %d request(s) refused: %s", len(jobs), error)
                text = str(getattr(error, "orig", error))
                return [(job_id, None, text, True) for job_id, _ in jobs], []
            if len(jobs) > 1:  # find the request at fault; store the others
                outcomes, created = [], []
                for job in jobs:
                    found, made = self.write([job])
                    outcomes += found
                    created += made
                return outcomes, created
            logger.exception("could not store a request of %d alert(s)", len(jobs[0][1]))
            return [(jobs[0][0], None, f"{type(error).__name__}: {error}", False)], []
        outcomes, offset = [], 0
        for job_id, alerts in jobs:
            outcomes.append((job_id, results[offset : offset + len(alerts)], None, False))
            offset += len(alerts)
        return outcomes, created

    def _store(self, alerts: list[NormalAlert], attempts: int = 3) -> tuple[Results, list[int]]:
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
            return batch.results, batch.created
        raise AssertionError("unreachable")


def serve_writes(connection: Any, database_url: str, policy: ResolvePolicy, max_batch: int) -> None:
    """The writer process: read jobs from the pipe, store them in batches, answer each batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    engine = writer_engine(database_url)
    store = BatchStore(sessionmaker(bind=engine, expire_on_commit=False), policy)
    stopping = False
    try:
        while not stopping:
            message = connection.recv()
            if message is None:
                break
            jobs: list[Job] = list(message)
            size = sum(len(alerts) for _, alerts in jobs)
            while size < max_batch and connection.poll(0):
                message = connection.recv()
                if message is None:
                    stopping = True
                    break
                jobs += message
                size += sum(len(alerts) for _, alerts in message)
            started = time.perf_counter()
            outcomes, created = store.write(jobs)
            connection.send((outcomes, created, size, time.perf_counter() - started))
    except EOFError:  # the intake process is gone
        pass
    finally:
        engine.dispose()


class GroupWriter:
    """The intake process's side: hands each request's alerts to the writer process."""

    def __init__(
        self,
        database_url: str,
        *,
        policy: ResolvePolicy = "resolve",
        max_batch: int = 1000,
        on_created: Callable[[list[int]], None] = lambda ids: None,
        on_batch: Callable[[int, float], None] = lambda size, seconds: None,
    ):
        self._database_url = database_url
        self._policy = policy
        self._max_batch = max_batch
        self._on_created = on_created
        self._on_batch = on_batch
        self._ids = itertools.count(1)
        self._futures: dict[int, asyncio.Future] = {}
        self._outbox: queue.SimpleQueue[Optional[Job]] = queue.SimpleQueue()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._connection: Any = None
        self._stopping = False
        self._sender = threading.Thread(target=self._send_loop, name="intake-writer-sender", daemon=True)

    def start(self) -> None:
        """Start the writer process; call from the event loop that will await :meth:`submit`."""
        self._loop = asyncio.get_running_loop()
        self._spawn()
        self._sender.start()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=serve_writes, args=(theirs, self._database_url, self._policy, self._max_batch),
            name="problemflow-intake-writer", daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        self._loop.add_reader(ours.fileno(), self._on_readable, ours)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def stop(self, timeout: float = 30) -> None:
        """Write what is queued, then stop the writer process."""
        self._stopping = True
        if self._sender.is_alive():
            self._outbox.put(None)
            self._sender.join(timeout)
        process, connection = self._process, self._connection
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join(5)
        if connection is not None and not connection.closed and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(connection.fileno())
            connection.close()

    async def submit(self, alerts: list[NormalAlert], timeout: float = 30) -> Results:
        """Store ``alerts``; returns (outcome, incident id) per alert once committed."""
        if self._stopping:
            raise DatabaseUnavailable("the intake is stopping")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        job_id = next(self._ids)
        self._futures[job_id] = future
        self._outbox.put((job_id, alerts))
        # a plain timer, cheaper than wait_for(); a write that lands after it still counts
        # as stored, so a retry by the sender becomes an occurrence, never a second incident
        timer = loop.call_later(timeout, _expire, future, timeout)
        try:
            return await future
        finally:
            timer.cancel()
            self._futures.pop(job_id, None)

    def _send_loop(self) -> None:
        """Take every request waiting and send them to the writer process in one message."""
        while True:
            job = self._outbox.get()
            if job is None:
                self._send(None)
                return
            jobs, stop = [job], False
            while len(jobs) < self._max_batch:
                try:
                    job = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            self._send(jobs)
            if stop:
                self._send(None)
                return

    def _send(self, jobs: Optional[list[Job]]) -> None:
        try:
            self._connection.send(jobs)
        except (OSError, ValueError) as error:  # the writer process is gone (or being replaced)
            if jobs:
                self._loop.call_soon_threadsafe(
                    self._fail, [job_id for job_id, _ in jobs], f"the writer process is not running: {error}")

    def _on_readable(self, connection: Any) -> None:
        """Answers from the writer process, read in the event loop."""
        try:
            while connection.poll():
                outcomes, created, size, seconds = connection.recv()
                self._settle(outcomes)
                self._on_batch(size, seconds)
                if created:
                    self._on_created(created)
        except (EOFError, OSError):
            self._lost(connection)

    def _settle(self, outcomes: list[Outcome]) -> None:
        for job_id, results, error, unavailable in outcomes:
            future = self._futures.get(job_id)
            if future is None or future.done():
                continue
            if results is not None:
                future.set_result(results)
            elif unavailable:
                future.set_exception(DatabaseUnavailable(error))
            else:
                future.set_exception(WriteFailed(error))

    def _fail(self, job_ids: list[int], reason: str) -> None:
        for job_id in job_ids:
            future = self._futures.get(job_id)
            if future is not None and not future.done():
                future.set_exception(DatabaseUnavailable(reason))

    def _lost(self, connection: Any) -> None:
        """The writer process ended: refuse what it held and, unless stopping, start another."""
        self._loop.remove_reader(connection.fileno())
        connection.close()
        self._fail(list(self._futures), "the writer process stopped before answering")
        if not self._stopping:
            logger.error("the writer process stopped (exit code %s); starting a new one",
                         self._process.exitcode if self._process else None)
            self._spawn()


class WriteFailed(RuntimeError):
    """Storing a request failed for a reason of its own (not an outage): answered 500."""


def _expire(future: asyncio.Future, timeout: float) -> None:
    if not future.done():
        future.set_exception(DatabaseUnavailable(f"the database did not answer within {timeout:g} s"))
