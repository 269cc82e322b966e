"""Intake under batched alert storms: single alerts and 50/100-alert notifications, every 2xx checked.

One command (from the repository root; needs `wrk` from Debian for scenario 1):

    .venv/bin/python bench/intake/storm.py [--rounds 1] [--duration 8] [--backends sqlite postgresql]

Per round, one after the other: the empty endpoint (bench/intake/empty_app.py:
the same uvicorn stack parsing the same bodies, storing nothing), then
`problemflow intake` as users start it (response step on) on a fresh SQLite
file and on a fresh PostgreSQL database. Each target gets four scenarios, every
alert with a fresh fingerprint:

1. single-alert requests, 16 connections for --duration seconds (wrk, storm.lua);
2. 4 senders x 10 notifications x 50 alerts;
3. 32 senders x 10 notifications x 50 alerts;
4. 8 senders x 10 notifications x 100 alerts.

In 2-4 each sender (an asyncio task with its own connection) posts its next
notification only once the previous one is answered, as Alertmanager does, and
does not retry a refused one. The bodies are built before the clock starts.
The empty endpoint takes a batched scenario in a few tens of milliseconds, so
it repeats it with fresh bodies until --empty-seconds were measured and its
rate is over all repeats; the intake runs each scenario once.

After each target the database is checked: every fingerprint of a 2xx answer
must have exactly one incident and one alert_event row, and no fingerprint of a
503 answered "stored": "nothing" may have any. A violation is printed and the
command exits with status 1. Between scenarios it waits until the response step
has answered every new incident, so one scenario's backlog does not load the next.

Prints a table and writes bench/out/storm-<time>.json (bench/out/ is git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BODY,
    HERE,
    ROOT,
    TOKEN,
    VENV_BIN,
    _tree,
    empty_endpoint_argv,
    cpu_seconds,
    free_port,
    log,
    peak_rss_mib,
    intake_database,
    process,
)

PATH = "/v1/alerts/alertmanager"
SOURCE = "alertmanager"
MAX_WAIT_S = 2.0  # the goal: no request waits longer
MIN_OK_SHARE = 0.95  # the goal: at least 95% of alerts answered 2xx


@dataclass(frozen=True)
class Scenario:
    key: str
    senders: int
    alerts: int  # alerts per request
    notifications: int = 0  # per sender; 0: as many as fit in --duration (wrk)

    @property
    def label(self) -> str:
        if not self.notifications:
            return f"1 alert/req, {self.senders} conns"
        return f"{self.senders}x{self.notifications}x{self.alerts}"


SCENARIOS = [Scenario("1", 16, 1), Scenario("2", 4, 50, 10), Scenario("3", 32, 50, 10), Scenario("4", 8, 100, 10)]


# ---------------------------------------------------------------------------------------------
# bodies

_ALERT = json.dumps(BODY["alerts"][0])
_FRAME = json.dumps({**BODY, "alerts": ["@ALERTS@"]})


def notification(fingerprints: list[str]) -> bytes:
    """An Alertmanager v4 body like harness.BODY carrying one alert per fingerprint
    (fingerprint and instance label differ, the rest is the group's)."""
    alerts = ",".join(_ALERT.replace("FPRINT", fp) for fp in fingerprints)
    return _FRAME.replace('"@ALERTS@"', alerts).encode()


# ---------------------------------------------------------------------------------------------
# /proc readings of the server while it runs


def tree_rss_mib(pid: int) -> tuple[float, int]:
    """Current resident memory of the process tree (sum) and how many processes it has."""
    total, members = 0, 0
    for member in _tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        members += 1
        total += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total / 1024, members


class RssSampler:
    """Samples the server tree's resident memory every 50 ms during a scenario."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.processes = pid, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss, members = tree_rss_mib(self.pid)
            except (FileNotFoundError, ProcessLookupError):
                return
            self.peak, self.processes = max(self.peak, rss), max(self.processes, members)
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def machine_jiffies() -> tuple[int, int]:
    """(idle, total) jiffies of all cores from /proc/stat, idle including I/O wait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's cores busy between two readings (anyone's work: server, load
    generator, PostgreSQL, other engineers)."""
    idle, total = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total if total else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


# ---------------------------------------------------------------------------------------------
# scenario 1: wrk


def run_wrk(url: str, seconds: float, connections: int, work: Path, *, token: str) -> dict:
    body_file = work / "single.json"
    body_file.write_text(json.dumps(BODY))
    out_prefix = work / f"ok-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_PATH=PATH, BENCH_TOKEN=token,
               BENCH_SEED=str(time.time_ns() % 2_000_000_000), BENCH_OUT=str(out_prefix))
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(HERE / "storm.lua"), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    data = json.loads(line[len("RESULT "):])
    data["generator_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    files = list(work.glob(out_prefix.name + ".*"))
    data["ok_fingerprints"] = [fp for f in files for fp in f.read_text().split()]
    data["wrk_prefixes"] = [f"{int(f.name.rsplit('.', 1)[1]):08x}" for f in files]
    for f in files:
        f.unlink()
    return data


def scenario_single(sc: Scenario, url: str, args, work: Path, pid: int, *, token: str) -> dict:
    cpu_before, jiffies = cpu_seconds(pid), machine_jiffies()
    with RssSampler(pid) as rss:
        data = run_wrk(url, args.duration, sc.senders, work, token=token)
    busy = busy_share(jiffies, machine_jiffies())
    wall = data["duration_us"] / 1e6
    errors = data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"]
    fingerprints = data.pop("ok_fingerprints")
    answered = data["ok"] + data["unavailable"] + data["other"] + errors
    result = {
        # wrk stops with up to one request per connection in flight: those were sent (and may be
        # stored) but never answered, so the shares are over the requests that got an answer
        "requests_generated": data["sent"],
        "requests_sent": answered,
        "alerts_sent": answered,
        "ok": data["ok"],
        "unavailable": data["unavailable"],
        "unavailable_maybe_stored": data["maybe_stored"],
        "other": data["other"] + errors,
        "ok_alerts": data["ok_alerts"],
        "wall_s": wall,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "generator": "wrk -t1",
        "generator_cpu_s": data["generator_cpu_s"],
        "server_cpu_s": cpu_seconds(pid) - cpu_before,
        "machine_busy": busy,
        "rss_sampled_peak_mib": rss.peak,
        "processes": rss.processes,
        "wrk": data,
    }
    # for the database check (kept out of the JSON)
    result["_check"] = {"ok": fingerprints, "nothing": [], "prefixes": data["wrk_prefixes"],
                        "unanswered_allowance": data["maybe_stored"] + data["other"] + errors + sc.senders}
    if data["ok_alerts"] and len(fingerprints) not in (0, data["ok_alerts"]):
        raise RuntimeError(f"storm.lua wrote {len(fingerprints)} fingerprints for {data['ok_alerts']} 2xx alerts")
    return result


# ---------------------------------------------------------------------------------------------
# scenarios 2-4: asyncio senders


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: one request at a time, the
    request bytes built in advance. httpx spent about as much CPU per request as the empty
    endpoint did, which made the load generator a bottleneck; this costs a fraction of it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        try:
            self.writer.write(data)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if not match:
                raise ConnectionError(f"an answer without Content-Length: {head[:200]!r}")
            body = await self.reader.readexactly(int(match.group(1)))
            if re.search(rb"(?i)\r\nconnection:\s*close", head):
                await self.close()
            return status, body
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


def http_post(host: str, port: int, token: str, body: bytes) -> bytes:
    headers = [f"POST {PATH} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
               f"Content-Length: {len(body)}"]
    if token:
        headers.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _send_all(url: str, plans: list[list[tuple[list[str], bytes]]], token: str) -> tuple[list[dict], float, float]:
    """Every sender posts its plan in order; returns the records, the wall time and the CPU
    this process spent meanwhile (the load generator's, plus the RSS sampler's few reads)."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    connections = [Connection(host, int(port)) for _ in plans]
    plans = [[(fingerprints, http_post(host, int(port), token, body)) for fingerprints, body in plan] for plan in plans]
    try:
        # open every sender's connection before the clock starts
        await asyncio.gather(*(connection.open() for connection in connections))
        records: list[dict] = []

        async def sender(number: int, connection: Connection, plan) -> None:
            for index, (fingerprints, data) in enumerate(plan):
                started = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(connection.request(data), 60)
                except (OSError, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError) as error:
                    status, body = type(error).__name__, b""
                records.append({"sender": number, "index": index, "fingerprints": fingerprints, "status": status,
                                "body": body, "at": started - origin, "latency": time.perf_counter() - started})

        started, cpu = time.perf_counter(), time.process_time()
        origin = started
        await asyncio.gather(*(sender(n, c, p) for n, (c, p) in enumerate(zip(connections, plans))))
        return records, time.perf_counter() - started, time.process_time() - cpu
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))


def _event_loop_runner():
    try:
        import uvloop

        return uvloop.run
    except ImportError:
        return asyncio.run


def scenario_batched(sc: Scenario, url: str, pid: int, *, token: str, min_wall: float = 0) -> dict:
    """Run the scenario once, or (for the empty endpoint, which takes one in a few tens of
    milliseconds) again with fresh bodies until ``min_wall`` seconds were measured."""
    records, wall, generator_cpu, server_cpu, repeats, tags, busy = [], 0.0, 0.0, 0.0, 0, [], []
    with RssSampler(pid) as rss:
        while repeats == 0 or wall < min_wall:
            tag = uuid.uuid4().hex[:8]
            tags.append(tag)
            plans = []
            for sender in range(sc.senders):
                plan = []
                for index in range(sc.notifications):
                    fingerprints = [f"{tag}{sender:03x}{index:03x}{i:04x}" for i in range(sc.alerts)]
                    plan.append((fingerprints, notification(fingerprints)))
                plans.append(plan)
            cpu_before, jiffies = cpu_seconds(pid), machine_jiffies()
            found, seconds, cpu = _event_loop_runner()(_send_all(url, plans, token))
            server_cpu += cpu_seconds(pid) - cpu_before
            busy.append(busy_share(jiffies, machine_jiffies()))
            records += found
            wall += seconds
            generator_cpu += cpu
            repeats += 1

    ok = unavailable = maybe = other = ok_alerts = 0
    ok_fps, nothing_fps, anomalies = [], [], Counter()
    outcomes, reasons, statuses = Counter(), Counter(), Counter()
    for record in records:
        status = record["status"]
        statuses[str(status)] += 1
        if isinstance(status, int) and 200 <= status < 300:
            ok += 1
            answer = json.loads(record["body"])
            if "status" in answer and isinstance(answer.get("alerts"), int):  # the empty endpoint
                ok_alerts += answer["alerts"]
                if answer["alerts"] != len(record["fingerprints"]):
                    anomalies["empty endpoint counted a different number of alerts"] += 1
                continue
            answered = [a["fingerprint"] for a in answer["alerts"]]
            outcomes.update(a["outcome"] for a in answer["alerts"])
            if sorted(answered) != sorted(record["fingerprints"]):
                anomalies["2xx answer lists other fingerprints than were sent"] += 1
            ok_alerts += len(answered)
            ok_fps += answered
        elif status == 503:
            unavailable += 1
            answer = json.loads(record["body"])
            if answer.get("stored") == "maybe":
                maybe += 1
            else:
                nothing_fps += record["fingerprints"]
            reasons[re.sub(r"\d+(\.\d+)?", "N", answer.get("detail", ""))] += 1
        else:
            other += 1
    latencies = [r["latency"] for r in records]
    alerts_sent = sc.senders * sc.notifications * sc.alerts * repeats
    return {
        "repeats": repeats,
        "requests_sent": len(records),
        "alerts_sent": alerts_sent,
        "ok": ok,
        "unavailable": unavailable,
        "unavailable_maybe_stored": maybe,
        "other": other,
        "ok_alerts": ok_alerts,
        "wall_s": wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000 if latencies else 0.0,
        "generator": "asyncio streams on uvloop (Connection), one connection per sender",
        "generator_cpu_s": generator_cpu,
        "server_cpu_s": server_cpu,
        "machine_busy": sum(busy) / len(busy),
        "rss_sampled_peak_mib": rss.peak,
        "processes": rss.processes,
        "statuses": dict(statuses),
        "outcomes": dict(outcomes),
        "refusal_reasons": dict(reasons),
        "anomalies": dict(anomalies),
        # seconds into the (first) run when the first request that got a 503 was sent
        "first_503_sent_at_s": min((r["at"] for r in records if r["status"] == 503), default=None),
        "_check": {"ok": ok_fps, "nothing": nothing_fps, "prefixes": tags, "unanswered_allowance": maybe + other},
    }


# ---------------------------------------------------------------------------------------------
# the database: settling between scenarios, and the check


def wait_for_responses(engine, limit: float = 90) -> tuple[float, int]:
    """Wait until the response step has answered every open incident (or makes no progress
    for 10 s, or ``limit`` passes); returns the seconds waited and what is left."""
    started = time.monotonic()
    last, last_change = None, started
    while True:
        with engine.connect() as connection:
            left = connection.scalar(text("SELECT count(*) FROM incident WHERE responded_at IS NULL"))
        now = time.monotonic()
        if left == 0 or now - started > limit:
            return now - started, left
        if left != last:
            last, last_change = left, now
        elif now - last_change > 10:
            return now - started, left
        time.sleep(0.25)


def verify(engine, results: list[dict]) -> list[str]:
    """Every 2xx fingerprint stored exactly once (one incident, one alert_event); nothing stored
    for a 503 that said so; no more alerts stored without a 2xx than unanswered requests allow."""
    with engine.connect() as connection:
        incidents = Counter(dict(connection.execute(text(
            "SELECT fingerprint, count(*) FROM incident WHERE source = :s GROUP BY fingerprint"), {"s": SOURCE}).all()))
        events = Counter(dict(connection.execute(text(
            "SELECT fingerprint, count(*) FROM alert_event WHERE source = :s GROUP BY fingerprint"), {"s": SOURCE}).all()))
    problems = []
    for result in results:
        check = result.pop("_check")
        where = f"{result['target']} round {result['round']} scenario {result['scenario']}"
        ok = check["ok"]
        duplicates_in_answers = len(ok) - len(set(ok))
        missing = [fp for fp in ok if incidents[fp] == 0 or events[fp] == 0]
        doubled = [fp for fp in ok if incidents[fp] > 1 or events[fp] > 1]
        stored_after_nothing = [fp for fp in check["nothing"] if incidents[fp] or events[fp]]
        prefixes = tuple(check["prefixes"])
        ok_set = set(ok)
        stored = {fp for fp in events if fp.startswith(prefixes)} | {fp for fp in incidents if fp.startswith(prefixes)}
        without_2xx = len(stored - ok_set)
        result["check"] = {
            "ok_alerts_checked": len(ok),
            "missing": len(missing),
            "stored_more_than_once": len(doubled),
            "answered_2xx_twice": duplicates_in_answers,
            "stored_after_503_nothing": len(stored_after_nothing),
            "stored_without_2xx": without_2xx,
            "stored_total": len(stored),
        }
        if missing:
            problems.append(f"{where}: {len(missing)} alert(s) answered 2xx are not stored, e.g. {missing[:3]}")
        if doubled:
            problems.append(f"{where}: {len(doubled)} alert(s) answered 2xx are stored more than once, e.g. "
                            + ", ".join(f"{fp} ({incidents[fp]} incidents, {events[fp]} events)" for fp in doubled[:3]))
        if duplicates_in_answers:
            problems.append(f"{where}: {duplicates_in_answers} fingerprint(s) appear in two 2xx answers")
        if stored_after_nothing:
            problems.append(f"{where}: {len(stored_after_nothing)} alert(s) answered 503 'stored: nothing' are "
                            f"stored, e.g. {stored_after_nothing[:3]}")
        if without_2xx > check["unanswered_allowance"]:
            problems.append(f"{where}: {without_2xx} alert(s) stored without a 2xx answer, more than the "
                            f"{check['unanswered_allowance']} that 'maybe' answers and unanswered requests allow")
        if result.get("anomalies"):
            problems.append(f"{where}: {result['anomalies']}")
        result["check"]["ok"] = not any(p.startswith(where + ":") for p in problems)
    return problems


# ---------------------------------------------------------------------------------------------
# targets


def run_target(kind: str, round_number: int, args, work: Path) -> tuple[list[dict], list[str]]:
    """Start one target, run every scenario against it, check its database; returns the
    results and the violations found."""
    from problemflow.models.db import get_engine

    drop, db_url, engine = None, None, None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = work / f"{kind}-{round_number}"
    home.mkdir()
    if kind == "empty":
        argv = empty_endpoint_argv(port)
        env, token = dict(os.environ), ""
    else:
        db_url, drop = intake_database(kind, home, "problemflow_storm")
        env = dict(os.environ, PROBLEMFLOW_DATABASE_URL=db_url, PROBLEMFLOW_INTAKE_TOKEN=TOKEN,
                   PROBLEMFLOW_HOME=str(home), PROBLEMFLOW_INTAKE_RESPOND="true",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false")
        argv = [str(VENV_BIN / "problemflow"), "intake", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]
        token = TOKEN
        engine = create_engine(db_url)
    results, problems = [], []
    try:
        with process(argv, env=env, health=f"{url}/healthz", log_path=work / f"{kind}-{round_number}.log") as child:
            log(f"{kind}: warm-up {args.warmup:g} s (single alerts, not counted)")
            run_wrk(url, args.warmup, 16, home, token=token)
            if engine is not None:
                wait_for_responses(engine)
            for sc in SCENARIOS:
                if args.scenarios and sc.key not in args.scenarios:
                    continue
                load = os.getloadavg()[0]
                if sc.notifications:
                    result = scenario_batched(sc, url, child.pid, token=token,
                                              min_wall=args.empty_seconds if kind == "empty" else 0)
                else:
                    result = scenario_single(sc, url, args, home, child.pid, token=token)
                result.update(target=kind, round=round_number, scenario=sc.key, label=sc.label, load_before=load,
                              ok_alert_share=result["ok_alerts"] / max(result["alerts_sent"], 1),
                              ok_alerts_per_s=result["ok_alerts"] / result["wall_s"],
                              peak_rss_mib=peak_rss_mib(child.pid),
                              peak_rss_tree_mib=peak_rss_mib(child.pid, total=True))
                if engine is not None:
                    drained, left = wait_for_responses(engine)
                    result["respond_backlog_s"], result["respond_left"] = drained, left
                log(f"{kind} [{sc.label}]: {result['ok']}/{result['requests_sent']} 2xx, "
                    f"{result['unavailable']} 503, {result['other']} other; "
                    f"{result['ok_alerts_per_s']:,.0f} alerts/s; max {result['max_ms']:.0f} ms"
                    + (f"; responses done {result['respond_backlog_s']:.1f} s later" if engine is not None else ""))
                results.append(result)
            tail = (work / f"{kind}-{round_number}.log").read_text()[-2000:]
        if engine is not None:
            problems = verify(engine, results)
        else:
            for result in results:
                result.pop("_check", None)
        if tail.strip():
            log(f"{kind}: the server's log ends with:\n{tail}")
        return results, problems
    finally:
        if engine is not None:
            engine.dispose()
            get_engine(db_url).dispose()
        if drop:
            drop()


# ---------------------------------------------------------------------------------------------
# report


def machine() -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {"nproc": os.cpu_count(), "mem_total": meminfo["MemTotal"].strip(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def source_state() -> dict:
    """The product code measured: the commit, and product files the working tree changes
    (other engineers work in the same checkout)."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip("\n")

    return {"head": git("rev-parse", "--short", "HEAD"),
            "uncommitted_product_files": git("status", "--porcelain", "--", "problemflow", "models", "tasks").splitlines()}


def report(results: list[dict], problems: list[str], args, started: dict) -> Path:
    empty = {(r["round"], r["scenario"]): r for r in results if r["target"] == "empty"}
    print()
    print(f"{'rd':>2} {'target':10} {'scenario':20} {'2xx/503/other req':>18} {'2xx alerts':>10} "
          f"{'alerts/s':>9} {'/empty':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'wall s':>6} "
          f"{'srv CPU':>7} {'gen CPU':>7} {'machine':>7} {'RSS MiB':>7} {'resp s':>6} {'check':>6}")
    for r in results:
        base = empty.get((r["round"], r["scenario"]))
        ratio = f"{r['ok_alerts_per_s'] / base['ok_alerts_per_s']:.2f}" if base and r["target"] != "empty" else "-"
        r["vs_empty"] = float(ratio) if ratio != "-" else None
        check = "-" if "check" not in r else ("ok" if r["check"]["ok"] else "FAIL")
        counts = f"{r['ok']}/{r['unavailable']}/{r['other']}"
        print(f"{r['round']:>2} {r['target']:10} {r['label']:20} {counts:>18} {r['ok_alert_share']:>9.1%} "
              f"{r['ok_alerts_per_s']:>9,.0f} {ratio:>6} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['max_ms']:>7.0f} "
              f"{r['wall_s']:>6.2f} {r['server_cpu_s'] / r['wall_s']:>6.0%} {r['generator_cpu_s'] / r['wall_s']:>6.0%} {r['machine_busy']:>6.0%} "
              f"{r['peak_rss_mib']:>7.0f} {r.get('respond_backlog_s', 0):>6.1f} {check:>6}")
    print("srv CPU / gen CPU: CPU time of the server's process tree / of the load generator, per wall second "
          "(100% = one core); machine: share of all cores busy, anyone's work included. RSS: the server's VmHWM so far. resp s: wait after the scenario until the "
          "response step had answered every new incident.")
    reasons = Counter()
    for r in results:
        for reason, n in r.get("refusal_reasons", {}).items():
            reasons[f"{r['target']} [{r['label']}]: {reason}"] += n
    for reason, n in reasons.items():
        print(f"  503 x{n}: {reason}")

    print("\nTargets (issue):")
    verdicts = []
    for rd in sorted({r["round"] for r in results}):
        mine = [r for r in results if r["round"] == rd and r["target"] != "empty"]
        sqlite = {r["scenario"]: r for r in mine if r["target"] == "sqlite"}
        if "1" in sqlite:
            verdicts.append((rd, "single alerts >= 1,000 stored/s, SQLite", sqlite["1"]["ok_alerts_per_s"] >= 1000,
                             f"{sqlite['1']['ok_alerts_per_s']:,.0f}/s"))
        for key in ("2", "3"):
            if key in sqlite:
                verdicts.append((rd, f"50-alert notifications >= 5,000 stored/s, SQLite [{sqlite[key]['label']}]",
                                 sqlite[key]["ok_alerts_per_s"] >= 5000, f"{sqlite[key]['ok_alerts_per_s']:,.0f}/s"))
        slow = [r for r in mine if r["max_ms"] > MAX_WAIT_S * 1000]
        verdicts.append((rd, "no request waits more than 2 s (intake, all scenarios)", not slow,
                         ", ".join(f"{r['target']} [{r['label']}] {r['max_ms']:,.0f} ms" for r in slow) or
                         f"max {max((r['max_ms'] for r in mine), default=0):,.0f} ms"))
        short = [r for r in mine if r["ok_alert_share"] < MIN_OK_SHARE]
        verdicts.append((rd, ">= 95% of alerts answered 2xx (intake, all scenarios)", not short,
                         ", ".join(f"{r['target']} [{r['label']}] {r['ok_alert_share']:.1%}" for r in short) or
                         f"min {min((r['ok_alert_share'] for r in mine), default=0):.1%}"))
    for rd, what, met, detail in verdicts:
        print(f"  round {rd}: {'MET    ' if met else 'NOT MET'} {what}: {detail}")

    if problems:
        print("\n!!! DATABASE CHECK FAILED: 2xx must mean stored exactly once !!!")
        for problem in problems:
            print(f"  !!! {problem}")
    else:
        checked = sum(r["check"]["ok_alerts_checked"] for r in results if "check" in r)
        print(f"\nDatabase check: all {checked:,} alerts answered 2xx are stored exactly once "
              "(one incident, one alert_event); no 503 'nothing' was stored.")

    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"storm-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"args": vars(args), "machine_before": started, "machine_after": machine(),
                                "results": results, "targets": [
                                    {"round": rd, "target": what, "met": met, "detail": detail}
                                    for rd, what, met, detail in verdicts],
                                "violations": problems}, indent=2, default=str))
    print(f"\nraw results: {path}")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each measuring every target; all are kept")
    parser.add_argument("--duration", type=float, default=8, help="seconds of scenario 1 (single alerts)")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of single alerts before the scenarios")
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--scenarios", nargs="*", default=[], help="keys of the scenarios to run (default: all)")
    parser.add_argument("--skip-empty", action="store_true")
    parser.add_argument("--empty-seconds", type=float, default=2,
                        help="the empty endpoint repeats each batched scenario (fresh bodies) until this much "
                        "wall time was measured; the rate is over all repeats")
    args = parser.parse_args()

    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    started = {**machine(), "source": source_state()}
    log(f"machine: {started}")
    results, problems = [], []
    with tempfile.TemporaryDirectory(prefix="intake-storm-") as tmp:
        for round_number in range(1, args.rounds + 1):
            log(f"round {round_number} of {args.rounds}")
            for kind in ([] if args.skip_empty else ["empty"]) + args.backends:
                found, violations = run_target(kind, round_number, args, Path(tmp))
                results += found
                problems += violations
                for violation in violations:
                    log(f"!!! {violation}")
    report(results, problems, args, started)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
