"""``problemflow up``: the whole stack from one command, stopped and started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from problemflow.prefect_server import free_port

EXECUTABLE = Path(sys.executable).parent / "problemflow"
EXPECTED_DEPLOYMENTS = {"problem-management", "open-incident", "incident-response", "recurrence-scan"}

pytestmark = pytest.mark.sqlite_only


def start_stack(home: Path, prefect_port: int, intake_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROBLEMFLOW_"))}
    env.update(
        PROBLEMFLOW_HOME=str(home),
        PROBLEMFLOW_INTAKE_PORT=str(intake_port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(home / "prefect-client"),
        # the key that seals people's secrets: the tests enrol people whose codes the stack checks
        PROBLEMFLOW_SECRET_KEY=os.environ["PROBLEMFLOW_SECRET_KEY"],
        PREFECT_RUNNER_POLL_FREQUENCY="1",
    )
    return subprocess.Popen(
        [str(EXECUTABLE), "up", "--prefect-port", str(prefect_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_ready(process: subprocess.Popen, timeout: float = 180) -> str:
    """Read the banner until the stack says it is up; returns what it printed."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if "Stop with Ctrl-C" in line:
            return "".join(lines)
    raise AssertionError("the stack did not come up:\n" + "".join(lines))


def stop_stack(process: subprocess.Popen) -> float:
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    return time.monotonic() - started


def deployment_names(api_url: str) -> set[str]:
    response = httpx.post(f"{api_url}/deployments/filter", json={"limit": 100}, timeout=10)
    response.raise_for_status()
    return {d["name"] for d in response.json()}


def test_up_serves_everything_stops_cleanly_and_resumes(tmp_path):
    home = tmp_path / "home"
    prefect_port, intake_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{prefect_port}/api"
    intake_url = f"http://127.0.0.1:{intake_port}"

    process = start_stack(home, prefect_port, intake_port)
    try:
        banner = wait_ready(process)
        assert f"http://127.0.0.1:{prefect_port}" in banner and intake_url in banner
        assert httpx.get(f"{intake_url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{prefect_port}/", timeout=5).status_code == 200
        assert EXPECTED_DEPLOYMENTS <= deployment_names(api_url)
        opened = httpx.post(
            f"{intake_url}/v1/alerts/generic",
            json={"alerts": [{"title": "Orders API 5xx above 5%", "severity": "warning", "service": "orders"}]},
            timeout=10,
        )
        assert opened.status_code < 300, opened.text

        # the demo: an alert storm, a scan, and a problem run waiting at its first gate
        demo = subprocess.run(
            [str(EXECUTABLE), "demo", "--prefect-url", api_url],
            env={**os.environ, "PROBLEMFLOW_HOME": str(home), "PROBLEMFLOW_DATABASE_URL": "",
                 "PROBLEMFLOW_INTAKE_PORT": str(intake_port)},
            capture_output=True, text=True, timeout=400,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        link = next(line.strip() for line in demo.stdout.splitlines() if "/runs/flow-run/" in line)
        run = httpx.get(f"{api_url}/flow_runs/{link.rsplit('/', 1)[-1]}", timeout=10).json()
        assert run["state"]["type"] == "PAUSED" and run["state"]["name"] == "Suspended"
        assert link.startswith(f"http://127.0.0.1:{prefect_port}/runs/flow-run/")
    finally:
        stop_seconds = stop_stack(process)
    assert process.returncode is not None and stop_seconds < 60
    for port in (prefect_port, intake_port):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)

    # a second start finds the same data and the same deployments
    process = start_stack(home, prefect_port, intake_port)
    try:
        wait_ready(process)
        assert EXPECTED_DEPLOYMENTS <= deployment_names(api_url)
        listed = subprocess.run(
            [str(EXECUTABLE), "incident", "list", "--json"],
            env={**os.environ, "PROBLEMFLOW_HOME": str(home), "PROBLEMFLOW_DATABASE_URL": ""},
            capture_output=True, text=True, timeout=60,
        )
        assert "Orders API 5xx above 5%" in listed.stdout, listed.stderr
    finally:
        stop_stack(process)


def _refused(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.HTTPError:
        return True
    return False


def _left_behind(home: Path) -> list[str]:
    """Processes still running that belong to the stack in ``home`` (its server, intake,
    PostgreSQL, flow runs), as the kernel shows them."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            env = process.info["environ"] or {}
        except psutil.Error:
            continue
        if str(home) in cmdline or env.get("PROBLEMFLOW_HOME") == str(home):
            found.append(f"{process.info['pid']} {cmdline[:120]}")
    return found


def _paused_at(api_url: str, run_id: str) -> str:
    run = httpx.get(f"{api_url}/flow_runs/{run_id}", timeout=10).json()
    return run["state"]["type"] == "PAUSED" and run["state"]["state_details"].get("pause_key") or ""


def test_a_second_up_never_joins_and_a_killed_up_leaves_nothing_behind(tmp_path):
    from tests.stack.gate_load import Codes, answer_for
    from tests.waiting import wait_until

    prefect_port, intake_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{prefect_port}/api"
    home = tmp_path / "first"
    first = start_stack(home, prefect_port, intake_port)
    try:
        wait_ready(first)
        # a problem run waits at its first gate when up is killed
        codes = Codes(f"sqlite:///{home / 'problemflow.db'}", {"problem_manager": ["pm000"]})
        deployment = httpx.get(f"{api_url}/deployments/name/problem-management/problem-management", timeout=10)
        run_id = httpx.post(f"{api_url}/deployments/{deployment.json()['id']}/create_flow_run", timeout=10, json={
            "parameters": {"params": {"statement": "Checkout pool exhausted", "owner": "pm000"}}}).json()["id"]
        key = wait_until(lambda: _paused_at(api_url, run_id), lambda k: k.startswith("root-cause-1r1-"),
                         what="the problem run to wait at its first gate", timeout=180, interval=0.5)
        # a second stack on the same ports ends at once, naming the port, and touches nothing
        started = time.monotonic()
        second = start_stack(tmp_path / "second", prefect_port, intake_port)
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 2 and time.monotonic() - started < 10, out
        assert f"port {prefect_port} on 127.0.0.1 is taken" in out and "--prefect-port" in out, out
        assert EXPECTED_DEPLOYMENTS <= deployment_names(api_url)
        assert httpx.get(f"http://127.0.0.1:{intake_port}/healthz", timeout=5).status_code == 200
        # the same home twice is refused too, even on other ports
        third = start_stack(home, free_port(), free_port())
        out, _ = third.communicate(timeout=30)
        assert third.returncode == 2 and "already runs" in out, out
        assert _paused_at(api_url, run_id) == key
    finally:
        os.kill(first.pid, signal.SIGKILL)  # up alone, as the OOM killer would: not its group
        first.wait(10)
    wait_until(lambda: all(_refused(p) for p in (prefect_port, intake_port)), what="both ports to be freed",
               timeout=10, interval=0.2)
    # every child ends with up: the Prefect server, the intake, Prefect's PostgreSQL
    wait_until(lambda: _left_behind(home), lambda left: not left, what="every process of the killed stack to end",
               timeout=10, interval=0.2)
    again = start_stack(home, prefect_port, intake_port)
    try:
        wait_ready(again)
        assert EXPECTED_DEPLOYMENTS <= deployment_names(api_url)
        # the run suspended before the kill still waits at the same gate, and an answer moves it on
        assert _paused_at(api_url, run_id) == key
        name, code = codes.take("problem_manager")
        resumed = httpx.post(f"{api_url}/flow_runs/{run_id}/resume", timeout=30,
                             json={"run_input": answer_for("root-cause-reject", name, code, 0)})
        assert resumed.status_code < 300 and resumed.json()["status"] == "ACCEPT", resumed.text
        wait_until(lambda: _paused_at(api_url, run_id), lambda k: k.startswith("root-cause-1r2-"),
                   what="the answered run to reach its next gate (sent back to the analyst)", timeout=180,
                   interval=0.5)
    finally:
        stop_stack(again)
