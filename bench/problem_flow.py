"""End-to-end overhead of the problem-management flow against a bare Prefect flow.

    .venv/bin/python bench/problem_flow.py [--runs 5]

Starts a private Prefect server (on a fresh PostgreSQL database by default: a
Prefect server on SQLite answers 503 and makes its clients sleep and retry while
it writes the previous run's events, which measures the lock, not the flow; pass
``--prefect-db sqlite`` to see that) and a fresh SQLite problemflow database
under a temporary directory. Each measured problem run works a problem of 5 incidents through all
eight steps; its three gates are answered at once (the answers are stored on the
run before it starts, so the gates take them without stopping). The baseline,
measured in the same process and alternating with it, is a bare flow with the
same number of no-op tasks as the problem run made. Both are synchronous flows
run in-process against the same server. Prints medians and two ratios: wall
time (what the calling process waits, including the engine's exit) and flow body
(the run's start to end as the server recorded it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Each run has its own problem manager and change approver, enrolled for one-time codes: a
# person's codes count once each, in order, and the gates check them as in production.
ANSWERS = {
    "root-cause-1r1-1": {"approver": "pat{n}", "approve": True, "root_cause": "pool too small",
                         "whys": ["timeouts", "no connections"], "workaround": "restart the pods",
                         "factors": [{"category": "technology", "description": "fixed pool"}]},
    "change-1r1-1": {"approver": "cab{n}", "decision": "approve", "comment": "ok"},
    "closure-1-1": {"approver": "pat{n}", "closure_code": "fix_applied", "lessons": "load test pools"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each flow")
    parser.add_argument("--prefect-db", choices=["postgresql", "sqlite"], default="postgresql",
                        help="the Prefect server's own database")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server for --prefect-db postgresql (a database is created and dropped)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait before each measured run, so the server has written the last one's events")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="problemflow-bench-"))
    os.environ.update({
        "PROBLEMFLOW_HOME": str(home), "PROBLEMFLOW_DATABASE_URL": f"sqlite:///{home / 'bench.db'}",
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "results"), "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    })
    from problemflow.prefect_server import free_port, start_server, stop, wait_healthy

    port = free_port()
    database = f"problemflow_bench_{os.getpid()}" if args.prefect_db == "postgresql" else None
    if database:
        _admin(args.postgres, f'CREATE DATABASE "{database}"')
    try:
        server = start_server(home / "prefect", port=port, database_url=database and (
            args.postgres.replace("postgresql://", "postgresql+asyncpg://") + f"/{database}"))
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        try:
            wait_healthy(os.environ["PREFECT_API_URL"], timeout=120, process=server)
            print(f"Prefect server on {args.prefect_db}; problemflow on SQLite")
            run_bench(args.runs, args.settle)
        finally:
            stop(server)
    finally:
        if database:
            _admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _admin(server_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def enroll(count: int) -> dict[str, str]:
    """pat0..patN (problem managers) and cab0..cabN (change approvers); their secrets by name."""
    from problemflow.models.db import session_scope
    from problemflow.models.person import PersonCreate
    from problemflow.models.services import people

    secrets = {}
    with session_scope() as db_session:
        for n in range(count):
            for name, role in ((f"pat{n}", "problem_manager"), (f"cab{n}", "change_approver")):
                person = people.create(db_session=db_session, person_in=PersonCreate(name=name, roles=[role]))
                secrets[name] = pyotp.parse_uri(people.enroll(db_session=db_session, person=person)).secret
    return secrets


def run_bench(runs: int, settle: float) -> None:
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.input.actions import create_flow_run_input

    from problemflow.flows.problem_management import problem_management
    from problemflow.models.db import session_scope, upgrade
    from problemflow.models.enums import IncidentSource, Level
    from problemflow.models.incident import IncidentCreate
    from problemflow.models.problem import ProblemCreate
    from problemflow.models.services import incidents, problems

    upgrade()
    sources = list(IncidentSource)
    secrets = enroll(runs + 1)

    def new_problem(n: int) -> int:
        with session_scope() as s:
            ids = [incidents.create(db_session=s, incident_in=IncidentCreate(
                title=f"Checkout timeout {n}.{i}", service="checkout", fingerprint=f"fp-{n}",
                source=sources[i], impact=Level.high)).id for i in range(5)]
            return problems.create(db_session=s, problem_in=ProblemCreate(
                statement=f"Checkout times out ({n})", incident_ids=ids, owner="pat")).id

    def problem_run(n: int) -> tuple[float, int]:
        parameters = {"params": {"problem_id": new_problem(n)}}
        with get_client(sync_client=True) as client:
            run = client.create_flow_run(problem_management, parameters=parameters)
        step = int(time.time()) // 30
        for key, value in ANSWERS.items():
            name = value["approver"].format(n=n)
            code = pyotp.TOTP(secrets[name]).at((step + (1 if key.startswith("closure") else 0)) * 30)
            answer = {**value, "approver": name, "code": code}
            create_flow_run_input(key=f"suspended-{key}-response", value=answer, flow_run_id=run.id)
        time.sleep(settle)
        started = time.perf_counter()
        outcome = run_flow(problem_management, flow_run=run, parameters=parameters)
        elapsed = time.perf_counter() - started
        assert outcome.outcome == "closed", outcome
        return elapsed, run.id

    def count_task_runs(run_id) -> int:
        time.sleep(3)  # task runs reach the server as events, a moment later
        with get_client(sync_client=True) as client:
            from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        return len(tasks)

    @task
    def noop(i: int) -> int:
        return i

    def bare_flow(count: int):
        @flow(name="bare-flow")
        def bare() -> int:
            return sum(noop(i) for i in range(count))
        return bare

    # warm-up: imports, first connections, result storage
    _, warm_run = problem_run(0)
    task_count = count_task_runs(warm_run)
    bare = bare_flow(task_count)
    bare()
    def body_seconds(run_ids) -> list[float]:
        """Start to end of each run as the server recorded it (without the engine's exit)."""
        time.sleep(2)
        with get_client(sync_client=True) as client:
            runs_read = [client.read_flow_run(r) for r in run_ids]
        return [(r.end_time - r.start_time).total_seconds() for r in runs_read]

    flow_times, bare_times, flow_ids, bare_ids = [], [], [], []
    for n in range(1, runs + 1):
        elapsed, run_id = problem_run(n)
        flow_times.append(elapsed)
        flow_ids.append(run_id)
        time.sleep(settle)
        started = time.perf_counter()
        state = bare(return_state=True)
        bare_times.append(time.perf_counter() - started)
        bare_ids.append(state.state_details.flow_run_id)
    flow_bodies, bare_bodies = body_seconds(flow_ids), body_seconds(bare_ids)
    f, b = statistics.median(flow_times), statistics.median(bare_times)
    fb, bb = statistics.median(flow_bodies), statistics.median(bare_bodies)
    print(f"problem-management, 8 steps, 3 gates answered at once, {task_count} task runs: "
          f"wall median {f:.3f} s over {runs} runs (min {min(flow_times):.3f}, max {max(flow_times):.3f}); "
          f"body median {fb:.3f} s")
    print(f"bare flow with {task_count} no-op tasks: wall median {b:.3f} s (min {min(bare_times):.3f}, "
          f"max {max(bare_times):.3f}); body median {bb:.3f} s")
    print(f"ratio, wall: {f / b:.2f}x (target <= 1.5x); per pair: "
          + " ".join(f"{x / y:.2f}" for x, y in zip(flow_times, bare_times)))
    print(f"ratio, body: {fb / bb:.2f}x; difference {fb - bb:.3f} s per problem")

if __name__ == "__main__":
    main()
