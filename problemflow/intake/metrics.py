"""Prometheus metrics: intake counters per source, and gauges read from the database.

Counters live in the process. With several uvicorn workers, :func:`problemflow.intake.server.run`
sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, and ``/metrics`` sums
the counters of every worker with prometheus-client's multiprocess collector.
The gauges (open incidents by priority, open problems by state, last scan) are
read from the database at scrape time, cached a few seconds, so every worker
answers the same values.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, inspect, text

from problemflow.models.states import OPEN_INCIDENT_STATES_SQL

logger = logging.getLogger("problemflow.intake.metrics")

RECEIVED = Counter(
    "problemflow_intake_alerts_received", "Alerts accepted and stored, by source", ["source"]
)
DEDUPLICATED = Counter(
    "problemflow_intake_alerts_deduplicated",
    "Stored alerts that added an occurrence to an open incident, by source",
    ["source"],
)
REJECTED = Counter(
    "problemflow_intake_requests_rejected",
    "Requests refused and not stored, by source and reason (auth, size, invalid, unavailable)",
    ["source", "reason"],
)
WRITE_SECONDS = Histogram(
    "problemflow_intake_write_seconds",
    "Time to store and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_ALERTS = Histogram(
    "problemflow_intake_batch_alerts",
    "Alerts stored per commit (group commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)

_OPEN_INCIDENTS = text(
    "SELECT priority, count(*) FROM incident "
    f"WHERE state IN {OPEN_INCIDENT_STATES_SQL} GROUP BY priority"
)
_OPEN_PROBLEMS = text("SELECT state, count(*) FROM problem WHERE state <> 'closed' GROUP BY state")
_LAST_SCAN = text(
    "SELECT mode, duration_seconds FROM scan_run WHERE duration_seconds IS NOT NULL "
    "ORDER BY id DESC LIMIT 1"
)


def observe_batch(size: int, seconds: float) -> None:
    WRITE_SECONDS.observe(seconds)
    BATCH_ALERTS.observe(size)


class DatabaseCollector(Collector):
    """Gauges from cheap aggregate queries; cached for ``ttl`` seconds."""

    def __init__(self, engine: Engine, ttl: float = 5.0):
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at = 0.0
        self._has_scan_run: bool | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() - self._at > self._ttl:
                self._cached = self._read()
                self._at = time.monotonic()
            return list(self._cached)

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("problemflow_database_up", "1 when the database answered the last scrape")
        try:
            metrics = self._query()
        except Exception as error:  # noqa: BLE001 - a scrape must not fail because the database is down
            logger.warning("metrics: database unavailable: %s", error)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *metrics]

    def _query(self) -> list[Metric]:
        incidents = GaugeMetricFamily(
            "problemflow_incidents_open", "Open incidents (new, in progress, on hold) by priority", labels=["priority"]
        )
        problems = GaugeMetricFamily("problemflow_problems_open", "Problems not closed, by state", labels=["state"])
        metrics: list[Metric] = [incidents, problems]
        with self._engine.connect() as connection:
            for priority, count in connection.execute(_OPEN_INCIDENTS):
                incidents.add_metric([priority], count)
            for state, count in connection.execute(_OPEN_PROBLEMS):
                problems.add_metric([state], count)
            if self._has_scan_run is not True:
                self._has_scan_run = inspect(connection).has_table("scan_run")
            if self._has_scan_run:
                row = connection.execute(_LAST_SCAN).first()
                if row is not None:
                    scan = GaugeMetricFamily(
                        "problemflow_scan_last_duration_seconds",
                        "Duration of the last finished recurrence scan",
                        labels=["mode"],
                    )
                    scan.add_metric([row[0]], float(row[1]))
                    metrics.append(scan)
        return metrics


def render(database: DatabaseCollector) -> bytes:
    """The text exposition of this process's (or every worker's) counters plus the gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry.register(_Forward(REGISTRY))
    registry.register(database)
    return generate_latest(registry)


class _Forward(Collector):
    """Exposes the default registry (our counters, process and GC metrics) inside another registry."""

    def __init__(self, source: CollectorRegistry):
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return self._source.collect()
