"""Startup time and idle memory of the whole stack (``problemflow up``).

Compared in the same run with a bare ``prefect server start`` on SQLite (time until
its health check answers, and its memory), the part of the stack problemflow cannot
make faster. The stack is measured with each Prefect database (``--prefect-db``):
the default private PostgreSQL, and SQLite.

    .venv/bin/python bench/stack.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from problemflow.prefect_server import free_port, start_server, stop, wait_healthy

EXECUTABLE = Path(sys.executable).parent / "problemflow"


def tree_rss_mib(root_pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1])
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 1024


def measure_stack(idle_s: float, prefect_db: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROBLEMFLOW_"))}
        env.update(PROBLEMFLOW_HOME=home, PROBLEMFLOW_INTAKE_PORT=str(free_port()),
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=f"{home}/client")
        started = time.monotonic()
        process = subprocess.Popen([str(EXECUTABLE), "up", "--prefect-port", str(free_port()),
                                    "--prefect-db", prefect_db], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        try:
            for line in process.stdout:
                if "Stop with Ctrl-C" in line:
                    break
            ready = time.monotonic() - started
            time.sleep(idle_s)
            memory = tree_rss_mib(process.pid)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    return ready, memory


def measure_bare_prefect(idle_s: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        started = time.monotonic()
        process = start_server(Path(home), port=port)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/api", timeout=120, process=process)
            ready = time.monotonic() - started
            time.sleep(idle_s)
            memory = tree_rss_mib(process.pid)
        finally:
            stop(process)
    return ready, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20, help="seconds idle before reading memory")
    args = parser.parse_args()
    found: dict[str, list[tuple[float, float]]] = {"bare": [], "postgres": [], "sqlite": []}
    for _ in range(args.rounds):  # interleaved, so drift hits all alike
        found["bare"].append(measure_bare_prefect(args.idle))
        for prefect_db in ("postgres", "sqlite"):
            found[prefect_db].append(measure_stack(args.idle, prefect_db))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    b_ready = statistics.median(r for r, _ in found["bare"])
    b_mem = statistics.median(m for _, m in found["bare"])
    print(f"bare prefect server (SQLite), healthy: {b_ready:.1f} s; idle RSS: {b_mem:.0f} MiB")
    for prefect_db in ("postgres", "sqlite"):
        ready = statistics.median(r for r, _ in found[prefect_db])
        memory = statistics.median(m for _, m in found[prefect_db])
        print(f"problemflow up --prefect-db {prefect_db}, ready (migrations, Prefect database and server, intake, "
              f"deployments registered): {ready:.1f} s; idle RSS of the whole tree: {memory:.0f} MiB; "
              f"ratio to bare: startup {ready / b_ready:.2f}x, memory {memory / b_mem:.2f}x")


if __name__ == "__main__":
    main()
