"""Starting and waiting for a local Prefect server (used by ``up`` and tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from problemflow.doors import die_with_parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_env(
    prefect_home: Path, database_url: str | None = None, *, api_url: str | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    if api_url:
        # the UI asks its API here; without it, it asks port 4200 whatever the port
        env["PREFECT_UI_API_URL"] = api_url
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    # Operators land on the UI whose Resume dialog answers gates (the V2 UI showed no Resume
    # button on a suspended run); a person can still switch for their own browser.
    env.setdefault("PREFECT_SERVER_UI_V2_ENABLED", "false")
    env.pop("PREFECT_API_URL", None)
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


def start_server(
    prefect_home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4200,
    database_url: str | None = None,
    log_path: Path | None = None,
) -> subprocess.Popen:
    """Start ``prefect server start`` in a child process (its own process group)."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    log = open(log_path or prefect_home / "server.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=server_env(prefect_home, database_url, api_url=f"http://{host}:{port}/api"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def wait_healthy(api_url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> float:
    """Wait until ``GET {api_url}/health`` answers; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"the Prefect server at {api_url} was not healthy after {timeout:.0f} s")


def stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate a child started with :func:`start_server` and its children."""
    import signal

    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)
