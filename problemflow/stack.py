"""The whole stack on one machine: migrations, Prefect's database and server, intake, served flows.

``problemflow up`` calls :func:`up`. With ``PREFECT_API_URL`` set it uses that
server instead of starting one; otherwise Prefect's server keeps its data in a
private PostgreSQL under the home (``--prefect-db sqlite`` for Prefect's SQLite). Ctrl-C (or SIGTERM) stops every child cleanly;
the next start picks up where this one stopped: the databases stay under
``PROBLEMFLOW_HOME``, suspended runs stay suspended, schedules resume.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from problemflow.doors import DoorTaken, check_port, claim_home, die_with_parent, release_home
from problemflow.models.settings import Settings, get_settings

if TYPE_CHECKING:
    from problemflow.prefect_db import Cluster

logger = logging.getLogger("problemflow.stack")

POOL_NAME = "problemflow"


@dataclass
class Stack:
    """What ``up`` started, so it can be stopped in reverse order."""

    api_url: str
    ui_url: str
    intake_url: str
    children: list[subprocess.Popen] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    cluster: Optional["Cluster"] = None

    def stop(self) -> None:
        from problemflow import prefect_db
        from problemflow.prefect_server import stop

        for child in reversed(self.children):
            stop(child)
        self.children.clear()
        if self.cluster is not None:  # last: the Prefect server has let go of it
            prefect_db.stop(self.cluster)
            self.cluster = None


def prefect_home(settings: Settings) -> Path:
    return (settings.home / "prefect").resolve()


def start_prefect(settings: Settings, *, port: int, stack: Stack, database: str = "postgres") -> None:
    """Start a local Prefect server unless ``PREFECT_API_URL`` names one. ``database`` is its
    own database: ``postgres``, a private cluster under the home (problemflow/prefect_db.py),
    or ``sqlite``, on which Prefect answers 503 to gate answers under load (bench/RESULTS.md,
    "Stack: gate answers under load")."""
    from problemflow import prefect_db
    from problemflow.prefect_server import start_server, wait_healthy

    started = time.monotonic()
    external = os.environ.get("PREFECT_API_URL")
    if external:
        wait_healthy(external, timeout=30)
    else:
        home = prefect_home(settings)
        home.mkdir(parents=True, exist_ok=True)
        database_url = None
        if database == "postgres":
            stack.cluster = prefect_db.start(home)
            database_url = stack.cluster.url
            stack.timings["prefect_db_s"] = time.monotonic() - started
        process = start_server(home, port=port, database_url=database_url)
        stack.children.append(process)
        wait_healthy(stack.api_url, timeout=120, process=process)
        os.environ["PREFECT_API_URL"] = stack.api_url
    stack.timings["prefect_server_s"] = time.monotonic() - started


def start_intake(settings: Settings, *, stack: Stack, workers: int = 1) -> None:
    """Run the intake service as a child process and wait until it answers."""
    import httpx

    started = time.monotonic()
    log = open(settings.home / "intake.log", "ab")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "problemflow.cli", "intake",
            "--host", settings.intake_host, "--port", str(settings.intake_port),
            "--workers", str(workers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,  # ends with up, however up ends
    )
    stack.children.append(process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the intake exited with code {process.returncode}; see {settings.home / 'intake.log'}"
            )
        try:
            if httpx.get(f"{stack.intake_url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.25)
    else:
        raise TimeoutError("the intake did not answer /healthz within 60 s")
    stack.timings["intake_s"] = time.monotonic() - started


def prepare_prefect(settings: Settings) -> None:
    """Server-side objects the flows rely on (WIP concurrency limits per team)."""
    try:
        from problemflow.tasks.problem.wip import ensure_wip_limits
    except ImportError:
        return
    ensure_wip_limits(None)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def door_warnings(settings: Settings, api_url: str) -> list[str]:
    """What the stack leaves open to anyone on the network, in sentences an operator can act on."""
    from urllib.parse import urlparse

    warnings = []
    if settings.intake_host not in LOOPBACK and not settings.intake_token:
        warnings.append(f"the intake listens on {settings.intake_host} without PROBLEMFLOW_INTAKE_TOKEN: "
                        "set a token, or anyone who reaches it can post alerts")
    api_host = urlparse(api_url).hostname or ""
    if api_host not in LOOPBACK and not os.environ.get("PREFECT_SERVER_API_AUTH_STRING") \
            and not os.environ.get("PREFECT_API_AUTH_STRING"):
        warnings.append(f"the Prefect API at {api_host} has no PREFECT_SERVER_API_AUTH_STRING: anyone who reaches "
                        "it can start and cancel runs (gate answers still need a one-time code)")
    return warnings


def print_banner(stack: Stack, deployments: list) -> None:
    from rich.console import Console

    console = Console()
    console.print("[bold]problemflow is up[/bold]")
    console.print(f"  Prefect UI     {stack.ui_url}")
    console.print(f"  Prefect API    {stack.api_url}")
    console.print(f"  Intake         {stack.intake_url}  (API docs: {stack.intake_url}/docs)")
    console.print(f"  Deployments    {', '.join(sorted(d.name for d in deployments))}")
    console.print(f"  Data           {get_settings().database_url.split('@')[-1]}")
    if stack.cluster is not None:
        console.print(f"  Prefect data   PostgreSQL in {stack.cluster.data} (socket only, no port)", highlight=False)
    for warning in door_warnings(get_settings(), stack.api_url):
        console.print(f"  [bold]warning[/bold]: {warning}", highlight=False)
    console.print("  Stop with Ctrl-C.")


def _seed_people(settings: Settings) -> None:
    """People named in PROBLEMFLOW_ROLES exist with those roles (they still enrol for codes)."""
    from problemflow.models.db import session_scope
    from problemflow.models.services import people

    with session_scope() as db_session:
        people.seed(db_session=db_session, roles=settings.roles)
        unenrolled = [p.name for p in people.list(db_session=db_session) if p.roles and p.secret is None]
    if unenrolled:
        logger.warning("not enrolled for one-time codes, so they cannot answer gates yet: %s "
                       "(problemflow people enroll NAME)", ", ".join(unenrolled))


def check_doors(settings: Settings, prefect_port: int) -> None:
    """Before anything starts: the ports are free (up never joins a server it did not start)."""
    if not os.environ.get("PREFECT_API_URL"):
        check_port("127.0.0.1", prefect_port, "--prefect-port")
    check_port(settings.intake_host, settings.intake_port, "--intake-port (or PROBLEMFLOW_INTAKE_PORT)")


def up(*, prefect_port: int = 4200, intake_workers: int = 1, limit: int = 10, prefect_db: str = "postgres") -> None:
    """Bring the whole stack up and serve every deployment until interrupted."""
    from problemflow.models.db import upgrade

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pid_file = claim_home(settings.home)
    try:
        check_doors(settings, prefect_port)
    except DoorTaken:
        release_home(pid_file)
        raise
    upgrade()
    _seed_people(settings)
    external = os.environ.get("PREFECT_API_URL")
    api_url = external or f"http://127.0.0.1:{prefect_port}/api"
    stack = Stack(
        api_url=api_url,
        ui_url=api_url.removesuffix("/api"),
        intake_url=f"http://{settings.intake_host}:{settings.intake_port}",
    )

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        start_prefect(settings, port=prefect_port, stack=stack, database=prefect_db)
        start_intake(settings, stack=stack, workers=intake_workers)
        import asyncio

        from prefect.runner import Runner
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from problemflow.flows.deployments import all_deployments

        with temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
            prepare_prefect(settings)
            deployments = all_deployments()
            # the same as prefect.serve(), but the banner waits until every
            # deployment is registered, so what it lists can be triggered
            runner = Runner(pause_on_shutdown=True, limit=limit)
            for deployment in deployments:
                runner.add_deployment(deployment)
            stack.timings["ready_s"] = time.monotonic() - started
            print_banner(stack, deployments)
            logger.info("stack ready in %.1f s", stack.timings["ready_s"])
            asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        release_home(pid_file)
