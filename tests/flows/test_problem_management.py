"""The problem-management deployment, served for real, answered through the resume API."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from problemflow.models.audit import AuditEvent
from problemflow.models.change import Approval, ChangeRequest
from problemflow.models.db import session_scope
from problemflow.models.enums import (
    ChangeState,
    ClosureCode,
    Decision,
    IncidentState,
    KnownErrorState,
    Level,
    ProblemState,
)
from problemflow.models.kedb import KnownError, Workaround
from problemflow.models.problem import Problem, ProblemTask
from problemflow.models.review import Review
from tests.approvers import Approvers
from tests.flows.problem_runs import (
    ROLES,
    Server,
    artifacts,
    deployment_id,
    read_run,
    resume,
    serving_env,
    start_run,
    task_runs,
    wait_at_gate,
    wait_for,
)
from tests.tasks.problem.conftest import make_problem

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT_CAUSE = {
    "approver": "pat", "approve": True, "analyst": "ana",
    "root_cause": "The checkout connection pool is sized for last year's traffic",
    "whys": ["Requests time out", "No free connections", "Pool of 10", "Never resized", "No load test"],
    "factors": [{"category": "technology", "description": "pool size fixed in config"},
                {"category": "process", "description": "no capacity review"}],
    "workaround": "Restart the checkout pods when p99 > 2 s",
    "change_title": "Raise the checkout pool to 50 connections",
    "implementation_plan": "Roll out config v42", "backout_plan": "Roll back to v41",
}

STEPS = ("identify", "analyse", "root-cause", "plan", "workaround", "known-error", "raise-change",
         "implement-change", "resolve", "review")


@pytest.fixture
def approvers(clean_db) -> Approvers:
    """pat, cab-alex and cab-sam, enrolled, with their authenticator apps."""
    return Approvers(clean_db, ROLES)


@pytest.fixture
def server(prefect_server, clean_db, tmp_path):
    served = Server(serving_env(tmp_path, clean_db), tmp_path / "serve.log").start()
    yield served
    served.stop()


def _counts(session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Problem, KnownError, Workaround, ChangeRequest, Review, ProblemTask)}


def test_whole_flow_with_every_gate_answered_through_the_api(prefect_server, server, clean_db, tmp_path, approvers,
                                                             tmp_path_factory):
    with session_scope(clean_db) as s:
        problem_id = make_problem(s, count=4, impact=Level.high)
    run_id = start_run(prefect_server, {"problem_id": problem_id})

    wait_at_gate(prefect_server, run_id, "root-cause-")
    resume(prefect_server, run_id, {**ROOT_CAUSE, "code": approvers.code("pat")})
    wait_at_gate(prefect_server, run_id, "change-")
    resume(prefect_server, run_id, {"approver": "cab-alex", "code": approvers.code("cab-alex"), "decision": "approve",
                                    "comment": "tested in staging"})
    wait_at_gate(prefect_server, run_id, "closure-")
    resume(prefect_server, run_id, {"approver": "pat", "code": approvers.code("pat"), "closure_code": "fix_applied",
                                    "lessons": "Size pools from load tests", "actions": ["add a {{ 7*7 }} load test"]})
    run = wait_for(prefect_server, run_id, lambda r: r["state"]["type"] == "COMPLETED", "completion")
    assert run["state"]["type"] == "COMPLETED"

    with session_scope(clean_db) as s:
        problem = s.get(Problem, problem_id)
        assert problem.state == ProblemState.closed and problem.closure_code == ClosureCode.fix_applied
        assert problem.analysis.signed_off_by == "pat" and len(problem.analysis.factors) == 2
        assert {l.incident.state for l in problem.incident_links} == {IncidentState.resolved}
        assert problem.verify_until is not None
        known_error = s.scalar(select(KnownError))
        assert known_error.problem_id == problem_id and known_error.state == KnownErrorState.fixed
        assert known_error.signature["services"] == ["checkout"]
        change = s.scalar(select(ChangeRequest))
        assert change.state == ChangeState.implemented and change.needs_approval
        decisions = [(a.gate, a.decision, a.approver, a.method)
                     for a in s.scalars(select(Approval).order_by(Approval.id))]
        assert decisions == [("root-cause", Decision.approved, "pat", "totp"),
                             ("change", Decision.approved, "cab-alex", "totp"),
                             ("closure", Decision.approved, "pat", "totp")]
        assert _counts(s) == {"Problem": 1, "KnownError": 1, "Workaround": 1, "ChangeRequest": 1, "Review": 1,
                              "ProblemTask": 6}
        review = s.scalar(select(Review))
        assert review.lessons == "Size pools from load tests" and review.metrics["incidents_before_fix"] == 4
        trail = [(e.record_type, e.action, e.to_state) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    problem_path = [t for r, a, t in trail if r == "problem" and a == "transition"]
    assert problem_path == ["assessed", "root_cause_analysis", "fix_in_progress", "resolved", "closed"]
    for action in ("sign_off_root_cause", "plan", "approval:root-cause", "approval:closure"):
        assert ("problem", action) in {(r, a) for r, a, _ in trail}, action
    assert ("change_request", "approval:change", None) in trail

    folder = tmp_path / "home" / "output" / "PRB0000001"
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(f"{n}.{x}" for n in ("kickoff", "known-error", "change-request", "review",
                                                   "incident-log") for x in ("md", "html"))
    assert "add a {{ 7\\*7 }} load test" in (folder / "review.md").read_text()  # as typed; * escaped for Markdown
    keys = {a["key"] for a in artifacts(prefect_server, run_id)}
    assert {"prb0000001-kickoff", "prb0000001-known-error", "prb0000001-change-request", "prb0000001-review",
            "prb0000001-incident-log"} <= keys

    # the approvers' secrets are nowhere: not in Prefect's database, the logs, the documents, our files.
    # Files this process holds open are skipped: closing any descriptor of a SQLite file drops
    # the process's locks on it (our own database is checked in tests/models/test_people.py).
    held = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    held |= {f"{path}{suffix}" for path in held for suffix in ("-wal", "-shm", "-journal")}
    searched = 0
    for path in tmp_path_factory.getbasetemp().rglob("*"):
        if path.is_file() and str(path.resolve()) not in held and path.stat().st_size < 500_000_000:
            data = path.read_bytes()
            searched += 1
            for name, secret in approvers.secrets.items():
                assert secret.encode() not in data, f"{name}'s secret is in {path}"
    assert searched > 10


def test_answers_nobody_can_vouch_for_are_refused_and_the_run_keeps_waiting(prefect_server, server, clean_db,
                                                                             monkeypatch, approvers):
    """An attacker with full access to Prefect's API: a stranger's name, a real approver's name
    with a wrong code (written ahead through the flow run input API), someone without the role,
    and a code copied from a stored answer. Each is refused with its reason; the run waits at the
    same gate and no step after it runs."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tests.flows.problem_runs import api

    with session_scope(clean_db) as s:
        problem_id = make_problem(s, count=2)
    run_id = start_run(prefect_server, {"problem_id": problem_id})
    assert wait_at_gate(prefect_server, run_id, "root-cause-") == "root-cause-1r1-1"
    # written ahead for the gate's next key: the run will read it without stopping
    ahead = {**ROOT_CAUSE, "code": "000000" if approvers.code("pat") != "000000" else "111111"}
    api(prefect_server, "POST", f"/flow_runs/{run_id}/input",
        json={"key": "suspended-root-cause-1r1-2-response", "value": json.dumps(ahead)})
    resume(prefect_server, run_id, {**ROOT_CAUSE, "approver": "mallory", "code": "123456"})
    assert wait_at_gate(prefect_server, run_id, "root-cause-1r1-3") == "root-cause-1r1-3"
    resume(prefect_server, run_id, {**ROOT_CAUSE, "approver": "cab-alex", "code": approvers.code("cab-alex")})
    assert wait_at_gate(prefect_server, run_id, "root-cause-1r1-4") == "root-cause-1r1-4"
    # pat sends the analysis back; the attacker copies pat's stored answer and signs it off
    resume(prefect_server, run_id, {**ROOT_CAUSE, "approve": False, "code": approvers.code("pat")})
    assert wait_at_gate(prefect_server, run_id, "root-cause-1r2-") == "root-cause-1r2-1"
    stored = api(prefect_server, "POST", f"/flow_runs/{run_id}/input/filter",
                 json={"prefix": "suspended-root-cause-1r1-4-response", "limit": 1})
    copied = {**json.loads(stored[0]["value"]), "approve": True}
    resume(prefect_server, run_id, copied)
    assert wait_at_gate(prefect_server, run_id, "root-cause-1r2-2") == "root-cause-1r2-2"

    with session_scope(clean_db) as s:
        answers = [(a.approver, str(a.decision), a.reason) for a in s.scalars(select(Approval).order_by(Approval.id))]
        assert answers == [("mallory", "refused", "no such person"), ("pat", "refused", "wrong code"),
                           ("cab-alex", "refused", "no role"), ("pat", "rejected", None),
                           ("pat", "refused", "reused code")]
        assert s.get(Problem, problem_id).analysis.signed_off_by is None
        trail = s.scalars(select(AuditEvent).where(AuditEvent.action == "approval:root-cause")).all()
        assert [e.detail["reason"] for e in trail] == [a[2] for a in answers]
    assert read_run(prefect_server, run_id)["state"]["type"] == "PAUSED"
    ran = {t["name"].rsplit("-", 1)[0] for t in task_runs(prefect_server, run_id)}
    assert not ran & {"plan", "workaround", "known-error", "raise-change", "resolve"}, ran

    # the waiting gate is listed and, past the reminder setting, reminded (log and channels)
    from problemflow.flows.reminders import ReminderRun, approval_reminders
    from problemflow.models.settings import get_settings

    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    channel = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=channel.serve_forever, daemon=True).start()
    monkeypatch.setattr(get_settings(), "approval_remind_after_hours", 1e-6)  # 3.6 ms: due at once
    monkeypatch.setattr(get_settings(), "roles", ROLES)
    monkeypatch.setattr(get_settings(), "notify_urls", [f"json://127.0.0.1:{channel.server_port}/"])
    try:
        reminded = approval_reminders(ReminderRun(interval_minutes=30))
    finally:
        channel.shutdown()
    # the session's Prefect server may hold other tests' waiting runs: look at this one's
    ours = [(r.flow_run_id, r.gate, r.problem_id) for r in reminded if r.flow_run_id == run_id]
    assert ours == [(run_id, "root-cause", problem_id)]
    messages = [m for m in received if run_id in m["message"]]
    assert [m["title"] for m in messages] == [f"PRB{problem_id:07d} waits for the root-cause gate"]
    assert "pat" in messages[0]["message"]
    assert len(received) == len(reminded)  # one message per waiting run


def test_serving_killed_at_a_gate_resumes_without_repeating_a_step(prefect_server, clean_db, tmp_path, approvers):
    with session_scope(clean_db) as s:
        problem_id = make_problem(s, count=3)
    env = serving_env(tmp_path, clean_db)
    served = Server(env, tmp_path / "serve.log").start()
    try:
        run_id = start_run(prefect_server, {"problem_id": problem_id})
        wait_at_gate(prefect_server, run_id, "root-cause-")
        resume(prefect_server, run_id, {**ROOT_CAUSE, "code": approvers.code("pat")})  # small fix: no change approval
        wait_at_gate(prefect_server, run_id, "closure-")
        import time

        time.sleep(2)  # let the suspended run's process exit
        served.kill()
        resume(prefect_server, run_id, {"approver": "pat", "code": approvers.code("pat"), "closure_code": "fix_applied",
                                        "lessons": "pools"})
        assert read_run(prefect_server, run_id)["state"]["type"] != "COMPLETED"
        served = Server(env, tmp_path / "serve.log").start()
        wait_for(prefect_server, run_id, lambda r: r["state"]["type"] == "COMPLETED", "completion", timeout=180)
    finally:
        served.stop()

    runs = Counter((t["name"].rsplit("-", 1)[0], t["state"]["name"]) for t in task_runs(prefect_server, run_id))
    for step in STEPS:
        assert runs[(step, "Completed")] == 1, (step, runs)
    # resumed twice: steps before the first gate came from their stored results twice
    for step, resumes in (("identify", 2), ("analyse", 2), ("plan", 1), ("known-error", 1), ("resolve", 1)):
        assert runs[(step, "Cached")] == resumes, (step, runs)
    with session_scope(clean_db) as s:
        assert _counts(s) == {"Problem": 1, "KnownError": 1, "Workaround": 1, "ChangeRequest": 1, "Review": 1,
                              "ProblemTask": 6}
        assert s.get(Problem, problem_id).state == ProblemState.closed
        plans = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "plan"))
        assert plans == 1


def test_cli_runs_lists_and_answers_gates_including_a_rejected_change(prefect_server, server, clean_db, tmp_path,
                                                                     approvers):
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "problemflow")
    env = dict(server.env)

    def cli(*args: str) -> str:
        done = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with session_scope(clean_db) as s:
        problem_id = make_problem(s, count=3, impact=Level.high)
    deployment_id(prefect_server)  # served and registered
    out = cli("problem", "run", f"PRB{problem_id:07d}")
    assert "started flow run" in out
    run_id = out.split("(")[1].split(")")[0]
    wait_at_gate(prefect_server, run_id, "root-cause-")
    waiting = json.loads(cli("approvals", "--json"))  # runs left waiting by other tests are listed too
    assert [(w["problem_id"], w["gate"], w["can_answer"]) for w in waiting if w["flow_run_id"] == run_id] == [
        (problem_id, "root-cause", ["pat"])]
    root_cause = ["--as", "pat", "--root-cause", "Pool too small", "--why", "timeouts", "--factor",
                  "technology:fixed pool", "--workaround", "restart pods"]
    cli("approve", run_id, *root_cause, "--code", approvers.code("pat"))
    wait_at_gate(prefect_server, run_id, "change-1r1-")
    cli("approve", run_id, "--as", "cab-sam", "--code", approvers.code("cab-sam"), "--reject",
        "--comment", "no back-out plan")
    wait_at_gate(prefect_server, run_id, "root-cause-2r1-")
    cli("approve", run_id, *root_cause, "--backout-plan", "roll back to v41", "--code", approvers.code("pat"))
    wait_at_gate(prefect_server, run_id, "change-2r1-")
    cli("approve", run_id, "--as", "cab-alex", "--code", approvers.code("cab-alex"))
    wait_at_gate(prefect_server, run_id, "closure-")
    cli("approve", run_id, "--as", "pat", "--code", approvers.code("pat"), "--lessons", "always write a back-out plan",
        "--action", "template")
    wait_for(prefect_server, run_id, lambda r: r["state"]["type"] == "COMPLETED", "completion")

    with session_scope(clean_db) as s:
        changes = s.scalars(select(ChangeRequest).order_by(ChangeRequest.attempt)).all()
        assert [(c.attempt, c.state) for c in changes] == [(1, ChangeState.rejected), (2, ChangeState.implemented)]
        assert changes[1].backout_plan == "roll back to v41"
        problem = s.get(Problem, problem_id)
        answers = [(a.gate, str(a.decision), a.approver, a.reason) for a in s.scalars(select(Approval).order_by(Approval.id))]
        assert problem.state == ProblemState.closed and problem.closure_code == ClosureCode.fix_applied, answers
        assert s.scalar(select(func.count()).select_from(KnownError)) == 1
        decisions = [(a.gate, str(a.decision)) for a in s.scalars(select(Approval).order_by(Approval.id))]
    assert decisions == [("root-cause", "approved"), ("change", "rejected"), ("root-cause", "approved"),
                         ("change", "approved"), ("closure", "approved")]


def test_problem_opened_event_starts_a_run_for_that_problem(prefect_server, server, clean_db):
    """One event, sent once, starts exactly one run: sending again until a run appears would
    hide a lost or a duplicated trigger."""
    import uuid
    from datetime import datetime, timezone

    from tests.flows.problem_runs import api
    from tests.waiting import wait_until

    with session_scope(clean_db) as s:
        problem_id = make_problem(s, count=2)
    deployment = deployment_id(prefect_server)
    # the deployment's trigger is an automation: wait until the server holds it, enabled
    wait_until(lambda: api(prefect_server, "GET", f"/automations/related-to/prefect.deployment.{deployment}"),
               lambda found: any(a.get("enabled") for a in found), what="the deployment's automation",
               timeout=60, interval=0.5, show=lambda found: [(a["name"], a.get("enabled")) for a in found])
    sent_at = datetime.now(timezone.utc)  # ids restart in each test: earlier runs may name the same id
    api(prefect_server, "POST", "/events", json=[{
        "id": str(uuid.uuid4()), "occurred": sent_at.isoformat(), "event": "problemflow.problem.opened",
        "resource": {"prefect.resource.id": f"problemflow.problem.{problem_id}"},
        "payload": {"problem_id": problem_id, "number": f"PRB{problem_id:07d}"}}])

    def started() -> list[dict]:
        return [r for r in api(prefect_server, "POST", "/flow_runs/filter",
                               json={"deployments": {"id": {"any_": [deployment]}}})
                if (r["parameters"].get("params") or {}).get("problem_id") == problem_id
                and datetime.fromisoformat(r["created"].replace("Z", "+00:00")) > sent_at]

    [run] = wait_until(started, what="the run the event starts", timeout=90, interval=1,
                       show=lambda runs: [r["id"] for r in runs])
    wait_at_gate(prefect_server, run["id"], "root-cause-")
    assert [r["id"] for r in started()] == [run["id"]], "one event started more than one run"
    with session_scope(clean_db) as s:
        assert s.get(Problem, problem_id).state == ProblemState.root_cause_analysis


def test_problem_run_without_a_served_deployment_runs_in_process(prefect_server, clean_db, tmp_path, approvers):
    """`problemflow problem run` falls back to this process and says so; its gates
    wait in the process and are answered with `problemflow approve`."""
    import subprocess
    import sys
    import time
    from datetime import datetime, timezone

    from tests.flows.problem_runs import api

    exe = str(Path(sys.executable).parent / "problemflow")
    env = serving_env(tmp_path, clean_db)
    with session_scope(clean_db) as s:
        problem_id = make_problem(s, count=2)
    started = datetime.now(timezone.utc)
    runner = subprocess.Popen([exe, "problem", "run", str(problem_id)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        run_id = None
        deadline = time.monotonic() + 120
        while run_id is None and time.monotonic() < deadline:
            time.sleep(1)
            for run in api(prefect_server, "POST", "/flow_runs/filter",
                           json={"flows": {"name": {"any_": ["problem-management"]}}}):
                if ((run["parameters"].get("params") or {}).get("problem_id") == problem_id
                        and datetime.fromisoformat(run["created"].replace("Z", "+00:00")) > started):
                    run_id = run["id"]
        assert run_id is not None and read_run(prefect_server, run_id)["deployment_id"] is None
        for prefix, answer in (("root-cause-", ["--as", "pat", "--root-cause", "pool too small"]),
                               ("closure-", ["--as", "pat", "--lessons", "load tests"])):
            wait_at_gate(prefect_server, run_id, prefix)
            done = subprocess.run([exe, "approve", run_id, *answer, "--code", approvers.code("pat")], env=env,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        out, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert "running the flow in this process" in out and f"PRB{problem_id:07d}: closed (fix_applied)" in out
    with session_scope(clean_db) as s:
        assert s.get(Problem, problem_id).state == ProblemState.closed
