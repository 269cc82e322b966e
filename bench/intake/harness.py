"""Shared pieces of the intake benchmark: the payload, servers, wrk, /proc readings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Optional

import httpx
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from problemflow.prefect_server import free_port  # noqa: E402,F401

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
ALERTA_BIN = ROOT / "bench" / ".venv-alerta" / "bin"
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
TOKEN = "bench-token"

BODY = {
    "version": "4",
    "groupKey": '{}/{severity="warning"}:{alertname="DiskWillFillIn4Hours"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "problemflow",
    "groupLabels": {"alertname": "DiskWillFillIn4Hours"},
    "commonLabels": {"alertname": "DiskWillFillIn4Hours", "severity": "warning", "job": "node"},
    "commonAnnotations": {"summary": "Filesystem is predicted to run out of space within the next 4 hours"},
    "externalURL": "http://alertmanager.example.com:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "DiskWillFillIn4Hours",
                "severity": "warning",
                "job": "node",
                "instance": "host-FPRINT:9100",
                "device": "/dev/sda1",
                "mountpoint": "/var",
                "environment": "Production",
            },
            "annotations": {
                "summary": "Filesystem is predicted to run out of space within the next 4 hours",
                "description": "Filesystem on /dev/sda1 at host:9100 has only 4.2% available space left "
                "and is filling up fast.",
                "runbook_url": "https://runbooks.example.com/node/nodefilesystemspacefillingup",
            },
            "startsAt": "2026-11-24T10:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=predict_linear%28node_filesystem"
            "_avail_bytes%5B6h%5D%2C+4+%2A+3600%29+%3C+0&g0.tab=1",
            "fingerprint": "FPRINT",
        }
    ],
}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


@contextmanager
def process(argv: list[str], *, env: dict[str, str], health: str, log_path: Path, timeout: float = 120):
    with open(log_path, "wb") as out:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if child.poll() is not None:
                    raise RuntimeError(f"{argv[0]} exited: {log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(health, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{health} did not answer")
                time.sleep(0.2)
            yield child
        finally:
            try:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(child.pid, signal.SIGKILL)


def peak_rss_mib(pid: int, total: bool = False) -> float:
    """Peak resident memory (VmHWM) of the largest process of the tree, or with ``total``
    the sum of every process's peak (the intake's HTTP and writer processes together)."""
    peaks = []
    for member in _tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in lines if line.startswith("VmHWM:")]
    return (sum(peaks) if total else max(peaks)) if peaks else 0.0


def _tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += _tree(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree (threads included), in seconds."""
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, path: str, *, body_file: Path, seconds: float, connections: int, token: str = "") -> dict:
    # a seed per run: fingerprints of the warm-up and of earlier rounds never come back
    env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_PATH=path, BENCH_TOKEN=token,
               BENCH_SEED=str(time.time_ns() % 2_000_000_000))
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(HERE / "fresh.lua"), url]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    out = done.stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    data = json.loads(line[len("RESULT "):])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["ok"] = data["requests"] - data["non2xx"]
    return data


def measure(name: str, url: str, path: str, args, body_file: Path, *, token: str = "", pid: int | None = None) -> dict:
    log(f"{name}: warm-up {args.warmup:g} s")
    wrk(url, path, body_file=body_file, seconds=args.warmup, connections=args.connections, token=token)
    log(f"{name}: measuring {args.duration:g} s, {args.connections} connections")
    cpu_before = cpu_seconds(pid) if pid else 0.0
    result = wrk(url, path, body_file=body_file, seconds=args.duration, connections=args.connections, token=token)
    result["name"] = name
    if pid is not None:
        result["peak_rss_mib"] = peak_rss_mib(pid)
        result["peak_rss_tree_mib"] = peak_rss_mib(pid, total=True)
        # CPU the server spent per request: steadier than req/s when others load the machine
        result["cpu_us_per_request"] = (cpu_seconds(pid) - cpu_before) / max(result["requests"], 1) * 1e6
    log(f"{name}: {result['rps']:.0f} req/s, p50 {result['p50_us'] / 1000:.1f} ms, "
        f"p99 {result['p99_us'] / 1000:.1f} ms, non-2xx {result['non2xx']}, "
        f"CPU {result.get('cpu_us_per_request', 0):.0f} us/request")
    return result


def pg_database(prefix: str) -> tuple[str, callable]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG.replace("postgresql://", "postgresql+psycopg://") + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return name, drop


def empty_endpoint_argv(port: int, workers: int = 1) -> list[str]:
    """The same uvicorn stack as the intake (uvloop, httptools) parsing the body and storing nothing."""
    return [str(VENV_BIN / "uvicorn"), "empty_app:create_app", "--factory", "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning", "--workers", str(workers)]


def intake_database(backend: str, folder: Path, prefix: str) -> tuple[str, Optional[callable]]:
    """A fresh, migrated database for an intake: a SQLite file in ``folder`` or a new PostgreSQL
    database; returns its URL and what drops it (None for SQLite)."""
    from problemflow.models.db import upgrade

    drop = None
    if backend == "sqlite":
        db_url = f"sqlite:///{folder / f'{prefix}-{uuid.uuid4().hex[:6]}.db'}"
    else:
        name, drop = pg_database(prefix)
        db_url = f"{PG}/{name}".replace("postgresql://", "postgresql+psycopg://")
    upgrade(db_url)
    return db_url, drop


def stored_alerts(db_url: str) -> int:
    from problemflow.models.alert import AlertEvent

    engine = create_engine(db_url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(AlertEvent))
    engine.dispose()
    return count


