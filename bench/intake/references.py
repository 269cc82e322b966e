"""The references the intake is measured against: Alerta, and one Prefect flow run per alert."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import (
    ALERTA_BIN,
    BODY,
    HERE,
    PG,
    ROOT,
    free_port,
    log,
    measure,
    peak_rss_mib,
    pg_database,
    process,
    stored_alerts,
)


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
    from problemflow.models.db import upgrade
    from problemflow.prefect_server import start_server, stop, wait_healthy

    db_url = f"sqlite:///{work / 'prefect-naive.db'}"
    upgrade(db_url)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # Prefect's own database on PostgreSQL: on SQLite its server answers 503 while busy
    prefect_db, drop_prefect_db = pg_database("prefect_naive")
    server = start_server(work / "prefect-home", port=port, database_url=PG.replace(
        "postgresql://", "postgresql+asyncpg://") + f"/{prefect_db}")
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
                        read = client.get(f"/flow_runs/{run_id}")
                        if read.status_code != 200:  # busy: ask again on the next pass
                            continue
                        state = read.json()
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
        drop_prefect_db()


