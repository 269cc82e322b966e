"""Scale-out: a Prefect server on PostgreSQL, two process workers, a burst of
scans and problem flows at once, and not one duplicate record or document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.approvers import Approvers
from tests.conftest import BACKEND, PG_SERVER
from tests.flows.problem_runs import api, read_run, resume, wait_at_gate, wait_for

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="scale-out runs on PostgreSQL (the PostgreSQL pass)")

EXECUTABLE = Path(sys.executable).parent
POOL = "problemflow-test"
SERVICES = ["orders-db", "billing-api", "search"]
ROLES = {"problem_manager": ["mia", "ann", "kim"], "change_approver": ["bob"]}


@pytest.fixture
def prefect_on_postgres(tmp_path):
    from problemflow.prefect_server import free_port, start_server, stop, wait_healthy

    name = f"prefect_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    port = free_port()
    url = PG_SERVER.replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    process = start_server(tmp_path / "prefect", port=port, database_url=url)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api_url, timeout=120, process=process)
        yield api_url
    finally:
        stop(process)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_recurring_incidents(db_url: str) -> None:
    """Three services whose disks fill up four times each this week."""
    from problemflow.models.base import utcnow
    from problemflow.models.db import session_scope
    from problemflow.models.incident import IncidentCreate
    from problemflow.models.services import incidents

    now = utcnow()
    with session_scope(db_url) as session:
        for n, service in enumerate(SERVICES):
            for k in reversed(range(4)):  # oldest first; each resolved before it fires again
                incident = incidents.create(db_session=session, incident_in=IncidentCreate(
                    title=f"Disk space low on {service}", description=f"/var/lib above 95% on {service}-1",
                    source="alertmanager", fingerprint=f"disk-{service}", service=service,
                    category="Hardware", subcategory="Disk", labels={"alertname": "DiskSpaceLow", "service": service},
                    opened_at=now - timedelta(hours=30 * k + n),
                ))
                if k:
                    incidents.resolve(db_session=session, incident=incident, code="workaround", actor="tester")
                session.flush()


def foreign_project(root: Path) -> Path:
    """A user's Prefect project: packages named like ours, which blow up if anything imports them."""
    for name in ("flows", "tasks", "models"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(f"raise ImportError('the user project {name} package was imported')\n")
    (root / "flows" / "problem_management.py").write_text("raise ImportError('wrong problem_management')\n")
    return root


def test_two_workers_burst_no_duplicates(prefect_on_postgres, clean_db, tmp_path):
    approvers = Approvers(clean_db, ROLES)
    from problemflow.models import Approval, KnownError, Problem, ProblemIncident, Review
    from problemflow.models.db import session_scope

    api_url = prefect_on_postgres
    home = tmp_path / "home"
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=api_url,
        PROBLEMFLOW_DATABASE_URL=clean_db,
        PROBLEMFLOW_HOME=str(home),
        PROBLEMFLOW_ROLES=json.dumps(ROLES),
        PREFECT_LOCAL_STORAGE_PATH=str(tmp_path / "results"),  # shared by both workers
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_WORKER_PREFETCH_SECONDS="5",
    )
    # the workers (and the deploy) run inside another Prefect project with its own flows/,
    # tasks/ and models/ packages, as a user's repository has: ours must not be confused with them
    other = foreign_project(tmp_path / "other-project")
    deployed = subprocess.run([str(EXECUTABLE / "problemflow"), "deploy", "--pool", POOL], env=env, cwd=other,
                              capture_output=True, text=True, timeout=180)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    assert f"registered in work pool {POOL!r}" in deployed.stdout

    seed_recurring_incidents(clean_db)
    workers = [
        subprocess.Popen([str(EXECUTABLE / "prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                          "--limit", "4", "--name", f"worker-{i}"], env=env, cwd=other,
                         stdout=open(tmp_path / f"worker-{i}.log", "w"), stderr=subprocess.STDOUT,
                         start_new_session=True)
        for i in (1, 2)
    ]
    try:
        scan_id = api(api_url, "GET", "/deployments/name/recurrence-scan/recurrence-scan")["id"]
        scans = [
            api(api_url, "POST", f"/deployments/{scan_id}/create_flow_run",
                json={"parameters": {"params": {"mode": mode}}})["id"]
            for mode in ("full", "incremental", "full", "incremental")
        ]
        for run_id in scans:
            wait_for_final(api_url, run_id)

        problem_runs = wait_for_problem_runs(api_url, expected=len(SERVICES))
        for run_id in problem_runs:
            wait_at_gate(api_url, run_id, "root-cause", timeout=240)
        # one problem manager per run: a person's codes count once each, in order
        managers = dict(zip(problem_runs, ROLES["problem_manager"]))
        for run_id, name in managers.items():
            resume(api_url, run_id, {"approver": name, "code": approvers.code(name),
                                     "root_cause": "log rotation disabled by a config change",
                                     "workaround": "truncate rotated logs"})
        for run_id in problem_runs:
            wait_at_gate(api_url, run_id, "closure", timeout=240)
        for run_id, name in managers.items():
            resume(api_url, run_id, {"approver": name, "code": approvers.code(name), "closure_code": "fix_applied",
                                     "lessons": "review configs"})
        for run_id in problem_runs:
            assert wait_for_final(api_url, run_id)["state"]["type"] == "COMPLETED"
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)

    ran_on = {read_run(api_url, r).get("work_queue_name") for r in scans}
    assert ran_on, "runs went through the work pool"
    with session_scope(clean_db) as session:
        problems = session.scalars(select(Problem)).all()
        assert len(problems) == len(SERVICES)
        assert len({p.group_key for p in problems}) == len(SERVICES)
        assert all(p.state == "closed" and p.closure_code == "fix_applied" for p in problems)
        links = session.execute(select(ProblemIncident.problem_id, ProblemIncident.incident_id)).all()
        assert len(links) == len(set(links)) == 4 * len(SERVICES)
        assert Counter(link.incident_id for link in links).most_common(1)[0][1] == 1
        assert session.scalar(select(func.count()).select_from(KnownError)) == len(SERVICES)
        assert session.scalar(select(func.count()).select_from(Review)) == len(SERVICES)
        gates = session.execute(select(Approval.problem_id, Approval.gate)).all()
        assert sorted(Counter(gates).values()) == [1] * (2 * len(SERVICES))
        numbers = [p.number for p in problems]
    for number in numbers:
        names = sorted(p.name for p in (home / "output" / number).iterdir())
        assert len(names) == len(set(names)) and any(n.startswith("known-error") for n in names)


def wait_for_final(api_url: str, run_id: str, timeout: float = 300) -> dict:
    run = wait_for(api_url, run_id, lambda r: r["state"]["type"] == "COMPLETED", "completion", timeout=timeout)
    return run


def wait_for_problem_runs(api_url: str, expected: int, timeout: float = 180) -> list[str]:
    """The problem-management runs the scans' events started: exactly one per problem."""
    deadline = time.monotonic() + timeout
    runs: list = []
    while time.monotonic() < deadline:
        runs = api(api_url, "POST", "/flow_runs/filter", json={
            "deployments": {"name": {"any_": ["problem-management"]}}, "limit": 50})
        if len(runs) >= expected:
            time.sleep(5)  # a duplicate trigger would show up now
            runs = api(api_url, "POST", "/flow_runs/filter", json={
                "deployments": {"name": {"any_": ["problem-management"]}}, "limit": 50})
            break
        time.sleep(1)
    problem_ids = [r["parameters"]["params"]["problem_id"] for r in runs]
    assert len(problem_ids) == expected == len(set(problem_ids)), problem_ids
    return [r["id"] for r in runs]
