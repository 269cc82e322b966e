"""Driving problem-management runs the way people do: a served deployment, and
answers sent to the same resume endpoint the Prefect UI uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.waiting import Stop, wait_until

REPO = Path(__file__).resolve().parents[2]
SERVE_SCRIPT = Path(__file__).with_name("serve_problem_flow.py")
ROLES = {"problem_manager": ["pat"], "change_approver": ["cab-alex", "cab-sam"]}


def serving_env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
        "PROBLEMFLOW_DATABASE_URL": db_url,
        "PROBLEMFLOW_HOME": str(tmp_path / "home"),
        "PROBLEMFLOW_ROLES": json.dumps(ROLES),
        "PREFECT_LOGGING_LEVEL": "INFO",
    })
    env.update(extra)
    return env


class Server:
    """``serve()`` of the deployment in its own process group."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        out = open(self.log, "ab")
        self.process = subprocess.Popen([sys.executable, str(SERVE_SCRIPT)], cwd=REPO, env=self.env,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the whole group: the serving process and any flow run it started."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def api(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    """One call to the Prefect API, retried while its SQLite database is busy (503)."""
    for delay in (0.5, 1, 2, 4, 8, 0):
        response = httpx.request(method, f"{api_url}{path}", timeout=30, **kwargs)
        if response.status_code not in (429, 503) or not delay:
            break
        time.sleep(delay)
    response.raise_for_status()
    return response.json() if response.content else None


def deployment_id(api_url: str, timeout: float = 60) -> str:
    """The deployment's id once it is served: present and not paused (a ``serve()`` that
    stopped in an earlier test leaves it paused until the next one starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            deployment = api(api_url, "GET", "/deployments/name/problem-management/problem-management")
        except httpx.HTTPStatusError:
            deployment = None
        if deployment is not None and not deployment.get("paused"):
            return deployment["id"]
        time.sleep(0.5)
    raise TimeoutError("the problem-management deployment was never served (missing or paused)")


def start_run(api_url: str, params: dict) -> str:
    run = api(api_url, "POST", f"/deployments/{deployment_id(api_url)}/create_flow_run",
              json={"parameters": {"params": params}})
    return run["id"]


def read_run(api_url: str, run_id: str) -> dict:
    return api(api_url, "GET", f"/flow_runs/{run_id}")


def wait_for(api_url: str, run_id: str, done: Callable[[dict], bool], what: str, timeout: float = 120) -> dict:
    """Wait until the run satisfies ``done``; a run that ends otherwise stops the wait at once."""

    def reached(run: dict) -> bool:
        if done(run):
            return True
        if run["state"]["type"] in ("FAILED", "CRASHED", "CANCELLED"):
            raise Stop(f"run ended {run['state']['type']} waiting for {what}: {run['state'].get('message')}")
        return False

    return wait_until(lambda: read_run(api_url, run_id), reached, what=f"run {run_id} to reach {what}",
                      timeout=timeout, interval=0.3, show=lambda run: run["state"]["name"])


def wait_at_gate(api_url: str, run_id: str, key_prefix: str, timeout: float = 120) -> str:
    """Wait until the run is suspended with a pause key starting ``key_prefix``."""
    run = wait_for(api_url, run_id, lambda r: r["state"]["type"] == "PAUSED"
                   and (r["state"]["state_details"].get("pause_key") or "").startswith(key_prefix),
                   f"gate {key_prefix}", timeout)
    wait_until(lambda: form_stored(api_url, run), what=f"the form of gate {key_prefix} to be stored",
               timeout=timeout, interval=0.2)
    return run["state"]["state_details"]["pause_key"]


def form_stored(api_url: str, run: dict) -> bool:
    """Prefect sets the Suspended state before it stores the gate's form (the input schema) and
    refuses an answer in between ("Run input schema not found"); the UI's Resume dialog cannot
    open before the form is there either, so a test answers only once it is."""
    schema = (run["state"]["state_details"].get("run_input_keyset") or {}).get("schema")
    return bool(schema) and httpx.get(f"{api_url}/flow_runs/{run['id']}/input/{schema}", timeout=30).status_code == 200


def resume(api_url: str, run_id: str, run_input: dict) -> dict:
    """POST /flow_runs/{id}/resume with the answer, as the UI's Resume dialog does."""
    answer = api(api_url, "POST", f"/flow_runs/{run_id}/resume", json={"run_input": run_input})
    if answer.get("status") != "ACCEPT":
        raise AssertionError(f"resume not accepted: {answer}")
    return answer


def task_runs(api_url: str, run_id: str) -> list[dict]:
    return api(api_url, "POST", "/task_runs/filter",
               json={"flow_runs": {"id": {"any_": [run_id]}}, "limit": 200})


def artifacts(api_url: str, run_id: str) -> list[dict]:
    return api(api_url, "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}})
