"""Intake benchmark: sustained alerts/s and latency over HTTP, against its references.

One command (from the repository root):

    .venv/bin/python bench/intake/run.py [--duration 10] [--warmup 3] [--connections 16]

Measured in the same run, with wrk (`apt-get install wrk`) posting a 1-alert
Alertmanager webhook with a fresh fingerprint per request (fresh.lua):

* empty: the same FastAPI + uvicorn (uvloop, httptools) stack parsing the same
  payload and storing nothing, the practical limit;
* problemflow intake on SQLite and on PostgreSQL (group commit), 1 worker;
* Alerta (bench/.venv-alerta, gunicorn, 5 workers, PostgreSQL) at /webhooks/prometheus;
* one Prefect flow run per alert (a served deployment), a handful of alerts.

Prints a table and writes bench/out/intake-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from problemflow.prefect_server import free_port  # noqa: E402

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


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of the largest process of the tree."""
    peak = 0.0
    for member in _tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) / 1024)
    return peak


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
    env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_PATH=path, BENCH_TOKEN=token)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(HERE / "fresh.lua"), url]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
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


def stored_alerts(db_url: str) -> int:
    from models.alert import AlertEvent

    engine = create_engine(db_url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(AlertEvent))
    engine.dispose()
    return count


def bench_empty(args, work: Path, body_file: Path) -> dict:
    port = free_port()
    argv = [str(VENV_BIN / "uvicorn"), "empty_app:create_app", "--factory", "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning", "--workers", str(args.workers)]
    url = f"http://127.0.0.1:{port}"
    name = f"empty endpoint (parse only), {args.workers} worker(s)"
    with process(argv, env=dict(os.environ), health=f"{url}/healthz", log_path=work / "empty.log") as child:
        return measure(name, url, "/v1/alerts/alertmanager", args, body_file, pid=child.pid)


def bench_intake(args, work: Path, body_file: Path, backend: str, respond: bool = False) -> dict:
    from models.db import upgrade

    drop = None
    if backend == "sqlite":
        db_url = f"sqlite:///{work / f'intake-{uuid.uuid4().hex[:6]}.db'}"
    else:
        name, drop = pg_database("problemflow_bench")
        db_url = f"{PG}/{name}".replace("postgresql://", "postgresql+psycopg://")
    upgrade(db_url)
    port = free_port()
    env = dict(os.environ, PROBLEMFLOW_DATABASE_URL=db_url, PROBLEMFLOW_INTAKE_TOKEN=TOKEN,
               PROBLEMFLOW_HOME=str(work), PROBLEMFLOW_INTAKE_RESPOND=str(respond).lower())
    argv = [str(VENV_BIN / "problemflow"), "intake", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--workers", str(args.workers)]
    url = f"http://127.0.0.1:{port}"
    name = f"problemflow intake, {backend}, {args.workers} worker(s)" + (", responding" if respond else "")
    try:
        with process(argv, env=env, health=f"{url}/healthz", log_path=work / f"intake-{backend}.log") as child:
            result = measure(name, url, "/v1/alerts/alertmanager", args, body_file, token=TOKEN, pid=child.pid)
        result["stored_alert_events"] = stored_alerts(db_url)
        return result
    finally:
        if drop:
            from models.db import get_engine

            get_engine(db_url).dispose()
            drop()


def bench_alerta(args, work: Path, body_file: Path) -> dict:
    gunicorn = ALERTA_BIN / "gunicorn"
    if not gunicorn.exists():
        return {"name": "alerta", "skipped": f"{gunicorn} not found: python -m venv bench/.venv-alerta && "
                "bench/.venv-alerta/bin/pip install alerta-server psycopg2-binary gunicorn"}
    name, drop = pg_database("alerta_bench")
    env = dict(os.environ, DATABASE_URL=f"{PG}/{name}".replace("postgresql://", "postgres://"), AUTH_REQUIRED="False")
    env.pop("PYTHONPATH", None)
    url_of = lambda port: f"http://127.0.0.1:{port}"  # noqa: E731
    try:
        # first start with one worker: it creates the schema (several workers race to do it)
        port = free_port()
        argv = [str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}", "alerta:create_app()"]
        with process(argv, env=env, health=f"{url_of(port)}/management/healthcheck", log_path=work / "alerta-init.log"):
            pass
        port = free_port()
        argv = [str(gunicorn), "-w", str(args.alerta_workers), "-b", f"127.0.0.1:{port}", "alerta:create_app()"]
        with process(argv, env=env, health=f"{url_of(port)}/management/healthcheck", log_path=work / "alerta.log") as child:
            result = measure(f"Alerta 9.1, gunicorn {args.alerta_workers} workers, PostgreSQL", url_of(port),
                             "/webhooks/prometheus", args, body_file, pid=child.pid)
            result["peak_rss_mib_master"] = peak_rss_mib(child.pid)
        return result
    finally:
        drop()


def bench_prefect(args, work: Path) -> dict:
    """One flow run per alert: create ``--flow-runs`` runs at once, time them to completion."""
    from problemflow.prefect_server import start_server, stop, wait_healthy

    from models.db import upgrade

    db_url = f"sqlite:///{work / 'prefect-naive.db'}"
    upgrade(db_url)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = start_server(work / "prefect-home", port=port)
    try:
        wait_healthy(api, timeout=120, process=server)
        env = dict(os.environ, PREFECT_API_URL=api, PROBLEMFLOW_DATABASE_URL=db_url, PROBLEMFLOW_INTAKE_RESPOND="false",
                   PREFECT_RUNNER_POLL_FREQUENCY="1", PYTHONPATH=str(ROOT))
        with open(work / "prefect-serve.log", "wb") as out:
            served = subprocess.Popen([sys.executable, str(HERE / "prefect_naive.py")], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True, cwd=str(ROOT))
        try:
            with httpx.Client(base_url=api, timeout=30) as client:
                deadline = time.monotonic() + 120
                while True:
                    found = client.get("/deployments/name/store-alert/naive")
                    if found.status_code == 200:
                        deployment_id = found.json()["id"]
                        break
                    if time.monotonic() > deadline or served.poll() is not None:
                        raise RuntimeError((work / "prefect-serve.log").read_text()[-3000:])
                    time.sleep(0.5)
                log(f"prefect: creating {args.flow_runs} flow runs, one per alert")
                started = time.monotonic()
                ids = []
                for i in range(args.flow_runs):
                    body = json.loads(json.dumps(BODY).replace("FPRINT", f"prefect{i:08d}"))
                    run = client.post(f"/deployments/{deployment_id}/create_flow_run", json={"parameters": {"webhook": body}})
                    run.raise_for_status()
                    ids.append(run.json()["id"])
                latencies = {}
                deadline = time.monotonic() + 600
                while len(latencies) < len(ids):
                    for run_id in ids:
                        if run_id in latencies:
                            continue
                        state = client.get(f"/flow_runs/{run_id}").json()
                        if state["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                            if state["state_type"] != "COMPLETED":
                                raise RuntimeError(f"flow run {run_id} ended {state['state_type']}")
                            latencies[run_id] = time.monotonic() - started
                    if time.monotonic() > deadline:
                        raise TimeoutError("flow runs did not finish in 600 s")
                    time.sleep(0.2)
            elapsed = max(latencies.values())
            ordered = sorted(latencies.values())
            return {
                "name": "Prefect, one flow run per alert (served deployment)",
                "requests": len(ids),
                "rps": len(ids) / elapsed,
                "p50_us": ordered[len(ordered) // 2] * 1e6,
                "p99_us": ordered[-1] * 1e6,
                "non2xx": 0,
                "stored_alert_events": stored_alerts(db_url),
            }
        finally:
            os.killpg(served.pid, signal.SIGTERM)
            served.wait(30)
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument("--respond", action="store_true", help="also measure the intake with its response step on")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the empty endpoint and the intake")
    parser.add_argument("--alerta-workers", type=int, default=5)
    parser.add_argument("--flow-runs", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[], choices=["empty", "alerta", "prefect"])
    args = parser.parse_args()

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    results = []
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        work = Path(tmp)
        body_file = work / "body.json"
        body_file.write_text(json.dumps(BODY))
        # The machine is shared: targets are measured in interleaved rounds and each keeps
        # its best round, so a burst of someone else's load does not decide a ratio.
        rounds: dict[str, list[dict]] = {}
        for round_number in range(1, args.rounds + 1):
            log(f"round {round_number} of {args.rounds}")
            measured = []
            if "empty" not in args.skip:
                measured.append(bench_empty(args, work, body_file))
            for backend in args.backends:
                measured.append(bench_intake(args, work, body_file, backend))
                if args.respond:
                    measured.append(bench_intake(args, work, body_file, backend, respond=True))
            for result in measured:
                rounds.setdefault(result["name"], []).append(result)
        for name, runs in rounds.items():
            best = max(runs, key=lambda r: r["rps"])
            best["rounds_rps"] = [round(r["rps"], 1) for r in runs]
            best["peak_rss_mib"] = max(r.get("peak_rss_mib", 0) for r in runs) or None
            results.append(best)
        if "alerta" not in args.skip:
            results.append(bench_alerta(args, work, body_file))
        if "prefect" not in args.skip:
            results.append(bench_prefect(args, work))

    report(results, args)


def report(results: list[dict], args) -> None:
    empty = next((r for r in results if r["name"].startswith("empty")), None)
    alerta = next((r for r in results if r["name"].startswith("Alerta")), None)
    print()
    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s after {args.warmup:g} s warm-up; "
          f"1-alert Alertmanager webhook ({len(json.dumps(BODY))} bytes), fresh fingerprint per request")
    print(f"{'target':58} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non2xx':>7} {'stored':>8} {'RSS MiB':>8} "
          f"{'/empty':>7} {'/alerta':>8} {'CPU us/req':>10}")
    for r in results:
        if "skipped" in r:
            print(f"{r['name']:58} skipped: {r['skipped']}")
            continue
        vs_empty = f"{r['rps'] / empty['rps']:.2f}" if empty else "-"
        vs_alerta = f"{r['rps'] / alerta['rps']:.1f}x" if alerta and "skipped" not in alerta else "-"
        rss = r.get("peak_rss_mib")
        print(f"{r['name']:58} {r['rps']:8.1f} {r['p50_us'] / 1000:7.1f} {r['p99_us'] / 1000:7.1f} "
              f"{r['non2xx']:7d} {r.get('stored_alert_events', '-')!s:>8} {f'{rss:.0f}' if rss else '-':>8} "
              f"{vs_empty:>7} {vs_alerta:>8} {r.get('cpu_us_per_request') or 0:10.0f}")
    for r in results:
        if r.get("rounds_rps"):
            print(f"  rounds, req/s: {r['name']}: {r['rounds_rps']}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"intake-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
