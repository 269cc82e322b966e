"""Gate answers under load, against a running ``problemflow up``: used by
tests/stack/test_gates.py and bench/gates.py.

Problem-management runs are started through their deployment; while incident flows,
an alert storm and a recurrence scan keep the stack busy, each gate is answered once
through ``POST /api/flow_runs/{id}/resume`` (what the UI's Resume dialog sends), with
a valid one-time code. Every answer's HTTP status and latency is kept. A refused
answer (any non-2xx) is never sent again by the driver itself; the bench may choose to
answer that gate again later, as a person would, and counts both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import httpx
import pyotp

from problemflow.demo import storm
from problemflow.models.db import session_scope
from problemflow.models.services import people
from problemflow.prefect_server import free_port
from tests.flows.problem_runs import form_stored
from tests.waiting import wait_until

STEP = people.STEP_SECONDS
EXECUTABLE = Path(sys.executable).parent / "problemflow"
# each run's answers, gate by gate: sent back once, then signed off with a change to approve,
# approved by two change approvers, closed: five gates, five distinct pause keys
SCRIPT = ("root-cause-reject", "root-cause-approve", "change", "change", "closure")
CHANGE_APPROVALS = 2  # PROBLEMFLOW_CHANGE_APPROVALS_REQUIRED for the stack under load


def roles(managers: int = 60, approvers: int = 30) -> dict[str, list[str]]:
    return {"problem_manager": [f"pm{n:03d}" for n in range(managers)],
            "change_approver": [f"cab{n:03d}" for n in range(approvers)]}


class Codes:
    """Enrolled people and their codes. A person's code counts once and only after their last
    one, so each answer takes the next time step's code (still valid ~60 s later, when the
    resumed run checks it) from someone who has not used that step."""

    def __init__(self, db_url: str, people_by_role: dict[str, list[str]]):
        self.by_role = people_by_role
        self.secrets: dict[str, str] = {}
        self.last: dict[str, int] = {}
        self.lock = threading.Lock()
        with session_scope(db_url) as db_session:
            people.seed(db_session=db_session, roles=people_by_role)
            for name in sorted({n for names in people_by_role.values() for n in names}):
                person = people.get_or_raise(db_session=db_session, name=name)
                self.secrets[name] = pyotp.parse_uri(people.enroll(db_session=db_session, person=person)).secret

    def take(self, role: str, besides: set[str] = frozenset()) -> Optional[tuple[str, str]]:
        """(name, code) of someone holding ``role``, not in ``besides``, with an unused code of
        the next step; None when there is no such person now."""
        step = int(time.time()) // STEP + 1
        with self.lock:
            # the one whose last answer is oldest: checks of answers run out of order, and a
            # person's older code checked after a newer one would count as reused
            free = [n for n in self.by_role[role] if n not in besides and self.last.get(n, -1) < step]
            if not free:
                return None
            name = min(free, key=lambda n: (self.last.get(n, -1), n))
            self.last[name] = step
            return name, pyotp.TOTP(self.secrets[name], interval=STEP).at(step * STEP)


def answer_for(gate: str, name: str, code: str, n: int) -> dict[str, Any]:
    if gate == "root-cause-reject":
        return {"approver": name, "code": code, "approve": False, "root_cause": f"first guess for load problem {n}",
                "comment": "not convinced: look at the pool settings"}
    if gate == "root-cause-approve":
        return {"approver": name, "code": code, "approve": True, "root_cause": f"pool exhausted under load {n}",
                "workaround": "restart the pods", "change_title": f"Raise pool size ({n})",
                "needs_change_approval": True}
    if gate == "change":
        return {"approver": name, "code": code, "decision": "approve", "comment": "low risk"}
    return {"approver": name, "code": code, "closure_code": "fix_applied", "lessons": "watch pool usage"}


def step_of(pause_key: str) -> str:
    """Which answer of :data:`SCRIPT` a pause key asks for (a code the gate refused is asked
    for again under the next try's key, and gets the same kind of answer)."""
    if pause_key.startswith("root-cause-1r1-"):
        return "root-cause-reject"
    if pause_key.startswith("root-cause-"):
        return "root-cause-approve"
    if pause_key.startswith("change-"):
        return "change"
    if pause_key.startswith("closure-"):
        return "closure"
    raise AssertionError(f"a problem run waits at an unexpected gate: {pause_key!r}")


NO_RESPONSE = 599  # the status an answer is counted with when the server closed the connection instead

ROLE_OF = {"root-cause-reject": "problem_manager", "root-cause-approve": "problem_manager",
           "change": "change_approver", "closure": "problem_manager"}


@dataclass
class Answer:
    run_id: str
    pause_key: str
    gate: str
    status: int
    seconds: float
    body: str
    accepted: bool = False


@dataclass
class Run:
    run_id: str
    n: int
    given: int = 0                        # answers accepted so far
    closed: bool = False                  # its closure answer was accepted
    approvers: set[str] = field(default_factory=set)  # who approved its change: distinct people
    answered_keys: set[str] = field(default_factory=set)
    outstanding: Optional[str] = None     # pause key answered, run not yet past it


class GateLoad:
    """Drives ``runs`` problem runs through :data:`SCRIPT` on the stack at ``api_url``."""

    def __init__(self, api_url: str, intake_url: str, codes: Codes, *, in_flight: int = 6):
        self.api_url, self.intake_url, self.codes = api_url, intake_url, codes
        self.in_flight = in_flight
        self.http = httpx.Client(base_url=api_url, timeout=60)
        self.answers: list[Answer] = []
        self.runs: dict[str, Run] = {}
        self.load_runs: list[str] = []
        self.load_errors: list[str] = []
        self.create_refusals: list[str] = []
        self.tag = uuid.uuid4().hex[:8]

    # -- reading (reads that meet a busy database are read again: they change nothing) --------

    def read(self, method: str, path: str, **kwargs: Any) -> Any:
        for delay in (0.2, 0.5, 1, 2, 4, 0):
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 503 or not delay:
                break
            time.sleep(delay)
        response.raise_for_status()
        return response.json()

    def deployment_id(self, flow: str, name: str) -> str:
        return self.read("GET", f"/deployments/name/{flow}/{name}")["id"]

    def create_run(self, deployment_id: str, parameters: dict, key: str) -> str:
        """Start a run. A refusal (503) is counted in ``create_refusals`` and the call is made
        again with the same idempotency key, which can only ever give one run."""
        for delay in (0.5, 1, 2, 4, 8, 0):
            response = self.http.post(f"/deployments/{deployment_id}/create_flow_run",
                                      json={"parameters": parameters, "idempotency_key": key})
            if response.status_code < 300:
                return response.json()["id"]
            self.create_refusals.append(f"{response.status_code} {response.text[:200]}")
            if response.status_code != 503 or not delay:
                break
            time.sleep(delay)
        raise AssertionError(f"creating a run was refused: {response.status_code} {response.text[:300]}")

    # -- load ----------------------------------------------------------------------------------

    def start_problem_runs(self, count: int) -> None:
        deployment = self.deployment_id("problem-management", "problem-management")
        for n in range(count):
            run_id = self.create_run(deployment, {"params": {"statement": f"Load problem {n}: pool exhausted",
                                                             "owner": "pm000"}}, key=f"{self.tag}-problem-{n}")
            self.runs[run_id] = Run(run_id=run_id, n=n)

    def unfinished(self, run_ids: list[str]) -> int:
        if not run_ids:
            return 0
        found = self.read("POST", "/flow_runs/filter", json={
            "flow_runs": {"id": {"any_": run_ids[-50:]}, "state": {"type": {"not_any_": [
                "COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}}, "limit": 50})
        return len(found)

    def load(self, stop: threading.Event, incidents_per_wave: int = 2, wave_seconds: float = 10,
             scan_after_waves: int = 2, pending: int = 4) -> None:
        """Until ``stop``: waves of service-desk incidents and Alertmanager webhooks (the critical
        ones escalate into incident-response runs through events); one recurrence scan. A wave
        waits while ``pending`` incident runs have not finished: a steady load, not a backlog
        that grows for as long as the machine is slower than the waves."""
        try:
            incident = self.deployment_id("open-incident", "open-incident")
            scan = self.deployment_id("recurrence-scan", "recurrence-scan")
            bodies = storm(rounds=50)
            wave = 0
            with httpx.Client(base_url=self.intake_url, timeout=60) as intake:
                while not stop.is_set():
                    if self.unfinished(self.load_runs) >= pending:
                        stop.wait(1)
                        continue
                    for k in range(incidents_per_wave):
                        self.load_runs.append(self.create_run(incident, {"form": {
                            "title": f"Checkout latency above 2 s (wave {wave}, {k})",
                            "description": "p99 latency alert from the synthetic checks", "service": "checkout"}},
                            key=f"{self.tag}-incident-{wave}-{k}"))
                    for _ in range(2):
                        body = next(bodies, None)
                        if body is not None:
                            response = intake.post("/v1/alerts/alertmanager", json=body)
                            if response.status_code >= 300:
                                self.load_errors.append(f"intake {response.status_code} {response.text[:200]}")
                    wave += 1
                    if wave == scan_after_waves:
                        self.load_runs.append(self.create_run(scan, {"params": {"mode": "incremental"}},
                                                                key=f"{self.tag}-scan"))
                    stop.wait(wave_seconds)
        except Exception as error:  # the load is not under test; say what broke it
            self.load_errors.append(f"load stopped: {error!r}")

    # -- answering -----------------------------------------------------------------------------

    def paused(self) -> list[dict]:
        return self.read("POST", "/flow_runs/filter", json={
            "flow_runs": {"id": {"any_": list(self.runs)}, "state": {"type": {"any_": ["PAUSED"]}}},
            "limit": 200})

    def ended_badly(self) -> list[str]:
        """Problem runs that ended without going through their gates, with what their state says."""
        found = self.read("POST", "/flow_runs/filter", json={
            "flow_runs": {"id": {"any_": list(self.runs)}, "state": {"type": {"any_": [
                "FAILED", "CRASHED", "CANCELLED"]}}}, "limit": 200})
        return [f"run {r['id']} ended {r['state']['type']}: {(r['state'].get('message') or '')[:300]}" for r in found]

    def answer_once(self, run: Run, pause_key: str) -> Optional[Answer]:
        gate = step_of(pause_key)
        person = self.codes.take(ROLE_OF[gate], run.approvers if gate == "change" else set())
        if person is None:
            return None  # everyone with the role used this step's code: the next step frees them
        started = time.monotonic()
        try:
            response = self.http.post(f"/flow_runs/{run.run_id}/resume",
                                      json={"run_input": answer_for(gate, *person, run.n)})
        except httpx.TransportError as error:  # no answer at all (connection reset): a refusal too
            answer = Answer(run.run_id, pause_key, gate, NO_RESPONSE, time.monotonic() - started, repr(error))
        else:
            answer = Answer(run.run_id, pause_key, gate, response.status_code, time.monotonic() - started,
                            response.text[:500])
            answer.accepted = response.status_code < 300 and response.json().get("status") == "ACCEPT"
        self.answers.append(answer)
        run.answered_keys.add(pause_key)
        if answer.accepted:
            if gate == "change":
                run.approvers.add(person[0])
            run.closed = run.closed or gate == "closure"
            run.given += 1
            run.outstanding = pause_key
        return answer

    def drive(self, total: int, *, timeout: float, answer_again: bool = False, on_refusal=None,
              report=None) -> None:
        """Answer gates until ``total`` answers are sent or every run is closed. An answer not
        taken (any non-2xx, or a 2xx whose status is not ACCEPT) goes to ``on_refusal`` (the
        test fails there); with ``answer_again`` the gate is answered again later.
        ``report(self)`` is called every 30 s."""
        deadline = time.monotonic() + timeout
        reported = checked = time.monotonic()
        # first every run reaches its first gate: answers sent during the start-up burst would
        # queue behind it, and a code checked more than a minute after it was typed has expired
        wait_until(lambda: len(self.paused()), lambda n: n >= len(self.runs), timeout=timeout / 2, interval=1,
                   what=f"all {len(self.runs)} problem runs at their first gate")
        while len(self.answers) < total and not all(r.closed for r in self.runs.values()):
            if report is not None and time.monotonic() - reported > 30:
                report(self)
                reported = time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.answers)} of {total} answers sent in {timeout:.0f} s; "
                                     f"runs: {self.progress()}; ended: {self.ended_badly()}")
            if time.monotonic() > checked + 5:  # a run that failed will never ask again: say so at once
                checked = time.monotonic()
                failed = self.ended_badly()
                if failed:
                    raise AssertionError(f"{len(failed)} problem runs ended before their last gate: {failed[:3]}")
            waiting = []
            for found in self.paused():  # first every run that moved on, then answers
                run = self.runs[found["id"]]
                key = found["state"]["state_details"].get("pause_key") or ""
                if run.outstanding == key:
                    continue  # our answer is taken; the run has not moved on yet
                run.outstanding = None
                if form_stored(self.api_url, found):  # the UI cannot answer before the form is there
                    waiting.append((run, key))
            for run, key in waiting:
                if key in run.answered_keys and not answer_again:
                    continue
                if sum(1 for r in self.runs.values()
                       if r.outstanding and not r.outstanding.startswith("closure-")) >= self.in_flight:
                    break
                answer = self.answer_once(run, key)
                if answer is not None and not answer.accepted and on_refusal is not None:
                    on_refusal(answer)
                if len(self.answers) >= total:
                    break
            time.sleep(0.3)

    def progress(self) -> dict[str, int]:
        return dict(Counter("closed" if r.closed else step_of(r.outstanding) if r.outstanding else "waiting"
                            for r in self.runs.values()))

    def wait_finished(self, timeout: float) -> dict[str, str]:
        """Wait until every problem run has ended; returns run id -> final state type."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.read("POST", "/flow_runs/filter", json={"flow_runs": {"id": {"any_": list(self.runs)}},
                                                                  "limit": 200})
            states = {r["id"]: r["state"]["type"] for r in found}
            if all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states.values()) \
                    or time.monotonic() > deadline:
                return states
            time.sleep(1)

    # -- checking ------------------------------------------------------------------------------

    def stored_answers(self, run_id: str) -> Counter:
        """How many answers Prefect stored for each pause key of the run."""
        inputs = self.read("POST", f"/flow_runs/{run_id}/input/filter",
                           json={"prefix": "suspended-", "limit": 500, "exclude_keys": []})
        return Counter(i["key"] for i in inputs if i["key"].endswith("-response"))

    def duplicates(self, db_url: str) -> list[str]:
        """Every way a run differs from one answer per gate, in Prefect's store and in ours."""
        from sqlalchemy import select

        from problemflow.models.change import Approval

        problems = []
        with session_scope(db_url) as db_session:
            rows = db_session.execute(select(Approval.flow_run_id, Approval.answer_key, Approval.gate,
                                             Approval.decision)).all()
        recorded = Counter(r.answer_key for r in rows)
        for run in self.runs.values():
            stored = self.stored_answers(run.run_id)
            ours = {k.split(":", 1)[1]: c for k, c in recorded.items() if k and k.startswith(run.run_id + ":")}
            for key, count in stored.items():
                if count != 1:
                    problems.append(f"run {run.run_id}: {count} stored answers for {key}")
            for key, count in ours.items():
                if count != 1:
                    problems.append(f"run {run.run_id}: {count} recorded decisions for {key}")
            if len(stored) != run.given or len(ours) != run.given:
                problems.append(f"run {run.run_id}: {run.given} answers accepted, {len(stored)} stored, "
                                f"{len(ours)} decisions recorded ({sorted(stored)} / {sorted(ours)})")
        return problems

    def refused_by_gates(self, db_url: str) -> Counter:
        """Answers the server took but the gate refused (the code checked when the run resumed), by reason."""
        from sqlalchemy import select

        from problemflow.models.change import Approval

        with session_scope(db_url) as db_session:
            reasons = db_session.scalars(select(Approval.reason).where(Approval.decision == "refused")).all()
        return Counter(reasons)


def start_up(home: Path, secret_key: str, *, prefect_db: Optional[str] = None) -> tuple[subprocess.Popen, str, str, float]:
    """``problemflow up`` in ``home`` on free ports, as a person starts it (``prefect_db``: the
    --prefect-db choice, default the stack's own); returns it, its API and intake URLs and
    the seconds until it said it was up. Its output goes on to ``home/up.out``."""
    prefect_port, intake_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROBLEMFLOW_"))}
    env.update(PROBLEMFLOW_HOME=str(home), PROBLEMFLOW_INTAKE_PORT=str(intake_port), PROBLEMFLOW_SECRET_KEY=secret_key,
               PROBLEMFLOW_CHANGE_APPROVALS_REQUIRED=str(CHANGE_APPROVALS),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(home / "prefect-client"),
               PREFECT_RUNNER_POLL_FREQUENCY="1", PREFECT_LOGGING_LEVEL="WARNING")
    if prefect_db:
        env["PROBLEMFLOW_PREFECT_DB"] = prefect_db
    started = time.monotonic()
    process = subprocess.Popen([str(EXECUTABLE), "up", "--prefect-port", str(prefect_port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Stop with Ctrl-C" in line:
            break
    else:
        raise RuntimeError("problemflow up did not come up:\n" + "".join(lines[-40:]))
    ready = time.monotonic() - started
    out = open(home / "up.out", "w")
    threading.Thread(target=lambda: [out.write(line) for line in process.stdout], daemon=True).start()
    return process, f"http://127.0.0.1:{prefect_port}/api", f"http://127.0.0.1:{intake_port}", ready


def stop_up(process: subprocess.Popen) -> None:
    """Ctrl-C, as a person stops it; SIGKILL to the group if it has not ended in 90 s."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
