"""What ``problemflow up`` checks before it starts anything, and how its children end with it.

* Its ports must be free: a busy port ends ``up`` at once, naming the port, what holds
  it (where the system tells), and the option that moves it. ``up`` never joins a
  server it did not start.
* Its children (the Prefect server, the intake) get a parent-death signal: however
  ``up`` ends, SIGKILL included, they are told to stop.
* A pid file in its home says an ``up`` runs there; one left by a killed ``up`` is
  cleared on the next start, and one of a live ``up`` stops a second one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
from pathlib import Path
from typing import Optional

import psutil

PID_FILE = "up.pid"
_PR_SET_PDEATHSIG = 1


class DoorTaken(RuntimeError):
    """A port or the home is in use by something else."""


def holder_of(port: int) -> Optional[str]:
    """``pid 1234 (prefect server start)`` for the process listening on ``port``, when known."""
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
                if connection.pid is None:
                    return None
                command = " ".join(psutil.Process(connection.pid).cmdline()[:4])
                return f"pid {connection.pid} ({command[:120]})"
    except (psutil.Error, OSError):
        return None
    return None


def check_port(host: str, port: int, option: str) -> None:
    """Raise :class:`DoorTaken` when nothing of ours could listen on ``host:port``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise DoorTaken(f"cannot listen on {host}:{port} ({error.strerror}); choose another with {option}")
            holder = holder_of(port)
            raise DoorTaken(f"port {port} on {host} is taken{f' by {holder}' if holder else ''}; "
                            f"stop it or choose another port with {option}") from None


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """In a child, before it runs: ``signum`` when the process that started it ends (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    except OSError:  # not Linux: children are stopped by up's own shutdown only
        pass


def claim_home(home: Path) -> Path:
    """Write our pid into the home; a live ``up`` already there is an error, a dead one's
    file is cleared. Returns the pid file (removed by :func:`release_home`)."""
    path = Path(home) / PID_FILE
    try:
        other = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        other = None
    if other and other != os.getpid() and psutil.pid_exists(other):
        try:
            command = " ".join(psutil.Process(other).cmdline())
        except psutil.Error:
            command = ""
        if "problemflow" in command and " up" in f" {command}":
            raise DoorTaken(f"problemflow up already runs for {home} (pid {other}); stop it first")
    path.write_text(f"{os.getpid()}\n")
    return path


def release_home(path: Path) -> None:
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except FileNotFoundError:
        pass
