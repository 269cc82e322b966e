"""Time ``problemflow import incidents`` on 100,000 log-like rows, end to end.

One command:  .venv/bin/python bench/import_incidents.py [--rows 100000] [--append]

Writes a CSV of realistic rows (templated titles with hosts, ids, sizes and
durations that vary; services, severities, ISO times, a split date and time so
the --map join is exercised) under a temporary directory, then runs the
installed command in a subprocess against a fresh, migrated SQLite database
there: once to import (timed), once more to check nothing is added. The same
run times the floor: reading the same CSV with the csv module and nothing else.
Prints a Markdown table row; --append adds it to bench/RESULTS.md under
"## Generic import".
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMAND = Path(sys.executable).parent / "problemflow"
HEADING = "## Generic import"
TARGET_SECONDS = 30.0

MESSAGES = [
    ("Disk usage on {host} at {pct}% for /var/lib/{svc}", "storage"),
    ("Connection refused to {host}:{port} after {n} retries", "network"),
    ("PacketResponder {n} for block blk_{big} terminating", "storage"),
    ("Request {uuid} to /api/v1/orders took {ms} ms (limit 500 ms)", "latency"),
    ("OOMKilled: container {svc}-{n} in pod {svc}-{hex} used {mb} MiB", "capacity"),
    ("TLS handshake with {host} failed: certificate expired on {date}", "security"),
    ("Replication lag on {host} is {n} s", "database"),
    ("User {user} failed to log in {n} times from 10.{a}.{b}.{c}", "security"),
]
SERVICES = ["orders", "billing", "search", "auth", "payments", "catalog", "shipping", "reports"]
SEVERITIES = ["critical", "error", "warning", "info", "P1", "sev2", "Warn", "notice"]


def write_rows(path: Path, count: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Date", "Time", "Message", "Severity", "Service", "Host", "Category"])
        for i in range(count):
            template, category = MESSAGES[rnd.randrange(len(MESSAGES))]
            svc = SERVICES[rnd.randrange(len(SERVICES))]
            host = f"{svc}-{rnd.randrange(1, 40):02d}.dc{rnd.randrange(1, 4)}"
            title = template.format(
                host=host, pct=rnd.randrange(80, 100), svc=svc, port=rnd.choice([5432, 6379, 443, 9092]),
                n=rnd.randrange(1, 5000), big=rnd.randrange(10**17, 10**18), uuid=f"{rnd.getrandbits(128):032x}",
                ms=rnd.randrange(500, 9000), hex=f"{rnd.getrandbits(24):06x}", mb=rnd.randrange(256, 4096),
                date=f"2026-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}", user=f"u{rnd.randrange(9999)}",
                a=rnd.randrange(256), b=rnd.randrange(256), c=rnd.randrange(256),
            )
            at = start + timedelta(seconds=i * 30 + rnd.randrange(30))
            out.writerow([at.date().isoformat(), at.strftime("%H:%M:%S"), title,
                          SEVERITIES[rnd.randrange(len(SEVERITIES))], svc, host, category])


def parse_only(path: Path) -> tuple[float, int]:
    """The floor: the csv module reading every row, nothing else."""
    began = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    return time.perf_counter() - began, rows


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(path: Path, env: dict[str, str]) -> tuple[float, float, dict]:
    """Wall time, CPU time (user + system) of the command, and its JSON summary."""
    args = [str(COMMAND), "import", "incidents", str(path), "--map", "title=Message", "--map", "opened_at=Date+Time",
            "--map", "severity=Severity", "--map", "labels.host=Host", "--json"]
    cpu = _child_cpu()
    began = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, _child_cpu() - cpu, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--append", action="store_true", help="append the result to bench/RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pf-import-bench-") as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "incidents.csv"
        write_rows(data, args.rows)
        env = {**os.environ, "PROBLEMFLOW_HOME": str(tmp_path / "home"),
               "PROBLEMFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'home' / 'bench.db'}"}
        env.pop("PREFECT_API_URL", None)
        subprocess.run([str(COMMAND), "db", "upgrade"], env=env, check=True, capture_output=True)
        floor, parsed = parse_only(data)
        first, first_cpu, summary = run_import(data, env)
        again, again_cpu, repeat = run_import(data, env)
    if summary["imported"] != args.rows or repeat["imported"] != 0:
        raise SystemExit(f"unexpected counts: first {summary}, again {repeat}")
    met = "met" if first <= TARGET_SECONDS else "missed"
    row = (f"| {args.rows:,} rows, CSV, SQLite | {first:.1f} s | {first_cpu:.1f} s | {args.rows / first:,.0f} rows/s | "
           f"{again:.1f} s wall, {again_cpu:.1f} s CPU (0 added) | {floor:.2f} s | {first / floor:.0f}x | "
           f"{met} (target {TARGET_SECONDS:.0f} s wall) |")
    print(TABLE_HEAD)
    print(row)
    if args.append:
        append(row, load, os.getloadavg()[0], args.rows)


TABLE_HEAD = ("| import | wall time | CPU time (user + system) | rate | second run | csv module parse only | "
              "ratio (wall / parse) | target |\n|---|---|---|---|---|---|---|---|")


def append(row: str, load: float, load_after: float, rows: int) -> None:
    results = REPO / "bench" / "RESULTS.md"
    text = results.read_text(encoding="utf-8")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = []
    if HEADING not in text:
        block += ["", HEADING, "",
                  "`problemflow import incidents` on generated log-like rows (bench/import_incidents.py): "
                  "the installed command in a subprocess, a fresh SQLite database, the whole file in one "
                  "transaction; the second run re-reads the file and adds nothing. The floor is the csv "
                  "module reading the same file in the benchmark's own process. CPU time is the command's "
                  "own (user + system, from the child's rusage): on a shared machine it depends far less on "
                  "what else runs than the wall time does (contention still inflates it somewhat).", "", TABLE_HEAD]
    block += ([] if HEADING not in text else ["", TABLE_HEAD]) + [
        row, "",
        f"Run {stamp}: `.venv/bin/python bench/import_incidents.py --rows {rows} --append`; "
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"load average (1 min) {load:.2f} at the start, {load_after:.2f} at the end.", ""]
    if HEADING not in text:
        results.write_text(text.rstrip("\n") + "\n" + "\n".join(block), encoding="utf-8")
        return
    # at the end of its own section, not of the file
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    end = len(text) if end < 0 else end + 1
    results.write_text(text[:end].rstrip("\n") + "\n" + "\n".join(block) + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
