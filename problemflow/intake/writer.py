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
import os
import queue
import signal
import sqlite3
import threading
import time
from typing import Any, Callable, Optional

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError
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
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        engine = create_engine(url, pool_size=1, max_overflow=0)
        _ping_after_idle(engine)
        return engine
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


# A request on its way to the writer process: its id, its source and the validated body;
# there it becomes a job of normal alerts. What comes back per alert: its fingerprint, what
# was done with it and the incident id.
Request = tuple[int, str, Any]
Job = tuple[int, list[NormalAlert]]
StoredAlerts = list[tuple[str, AlertOutcome, Optional[int]]]
Outcome = tuple[int, Optional[StoredAlerts], Optional[str], bool]  # job id, stored | error text, unavailable


_ENVIRON_PREFIX = "PROBLEMFLOW_"

# a request whose alerts the intake process already made (see converts_in_writer)
NORMAL = "normal"


def _converters() -> dict[str, Callable[[Any], list[NormalAlert]]]:
    from problemflow.intake import alertmanager, generic, grafana, pagerduty

    return {
        alertmanager.SOURCE: alertmanager.to_alerts,
        grafana.SOURCE: grafana.to_alerts,
        generic.SOURCE: generic.to_alerts,
        pagerduty.SOURCE: lambda event: [pagerduty.to_alert(event)],
        NORMAL: lambda alerts: alerts,
    }


def converts_in_writer(database_url: str) -> bool:
    """Where requests become normal alerts (triage included). On SQLite the writer process
    has CPU to spare (its database work is quick and in-process) while the HTTP process is
    the busier one; on PostgreSQL the writer waits on network round trips, and work added
    to it lengthens every batch, while the HTTP process has the spare CPU."""
    return database_url.startswith("sqlite")


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
            stored = [(a.fingerprint, outcome, incident_id)
                      for a, (outcome, incident_id) in zip(alerts, results[offset : offset + len(alerts)])]
            outcomes.append((job_id, stored, None, False))
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


def serve_writes(connection: Any, database_url: str, policy: ResolvePolicy, max_batch: int,
                 environ: dict[str, str]) -> None:
    """The writer process: read requests from the pipe, make normal alerts of them (triage
    included), store them in batches, answer each batch. ``environ``: the intake's
    PROBLEMFLOW_* variables when it started the writer (the fork server's may be older)."""
    from models.settings import get_settings
    from problemflow.intake.common import load_triage

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    for name in [n for n in os.environ if n.startswith(_ENVIRON_PREFIX) and n not in environ]:
        del os.environ[name]
    os.environ.update(environ)
    get_settings.cache_clear()
    load_triage()
    converters = _converters()
    engine = writer_engine(database_url)
    store = BatchStore(sessionmaker(bind=engine, expire_on_commit=False), policy)
    stopping = False
    try:
        while not stopping:
            message = connection.recv()
            if message is None:
                break
            requests: list[Request] = list(message)
            while len(requests) < max_batch and connection.poll(0):
                message = connection.recv()
                if message is None:
                    stopping = True
                    break
                requests += message
            jobs, refused = _jobs(requests, converters)
            started = time.perf_counter()
            outcomes, created = store.write(jobs) if jobs else ([], [])
            size = sum(len(alerts) for _, alerts in jobs)
            connection.send((refused + outcomes, created, size, time.perf_counter() - started))
    except (EOFError, OSError):  # the intake process is gone
        pass
    finally:
        engine.dispose()


def _jobs(requests: list[Request], converters: dict) -> tuple[list[Job], list[Outcome]]:
    """Each request's normal alerts; a request that cannot be read is answered on its own."""
    jobs, refused = [], []
    for job_id, source, body in requests:
        try:
            jobs.append((job_id, converters[source](body)))
        except Exception as error:  # noqa: BLE001 - answered (500), the others are stored
            logger.exception("could not read a request from %s", source)
            refused.append((job_id, None, f"{type(error).__name__}: {error}", False))
    return jobs, refused


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
        self._converters = None if converts_in_writer(database_url) else _converters()
        self._policy = policy
        self._max_batch = max_batch
        self._on_created = on_created
        self._on_batch = on_batch
        self._ids = itertools.count(1)
        self._futures: dict[int, asyncio.Future] = {}
        self._outbox: queue.SimpleQueue[Optional[Request]] = queue.SimpleQueue()
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
        # Forked from a single-threaded server that has imported the writer and the triage
        # rules once, rather than from this threaded process, or started from scratch each time.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["problemflow.intake.writer", "problemflow.intake.alertmanager",
                                        "problemflow.intake.grafana", "problemflow.intake.generic",
                                        "problemflow.intake.pagerduty", "tasks.incident"])
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=serve_writes, args=(theirs, self._database_url, self._policy, self._max_batch,
                                       {n: v for n, v in os.environ.items() if n.startswith(_ENVIRON_PREFIX)}),
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

    async def submit(self, source: str, body: Any, timeout: float = 30) -> StoredAlerts:
        """Store the alerts of a validated request body from ``source``; returns
        (fingerprint, outcome, incident id) per alert once committed."""
        if self._stopping:
            raise DatabaseUnavailable("the intake is stopping")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        job_id = next(self._ids)
        if self._converters is not None:
            body, source = self._converters[source](body), NORMAL
        self._futures[job_id] = future
        self._outbox.put((job_id, source, body))
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

    def _send(self, jobs: Optional[list[Request]]) -> None:
        try:
            self._connection.send(jobs)
        except (OSError, ValueError) as error:  # the writer process is gone (or being replaced)
            if jobs:
                self._loop.call_soon_threadsafe(
                    self._fail, [job[0] for job in jobs], f"the writer process is not running: {error}")

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
        """The writer process ended: refuse every request not yet answered (those it held, and
        those still on their way to it; none was answered as stored, so the senders retry) and,
        unless stopping, start another."""
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
