"""Running the intake under uvicorn: ``problemflow intake`` and ``problemflow up`` call :func:`run`."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Optional

from problemflow.models.settings import get_settings

logger = logging.getLogger("problemflow.intake")

APP_FACTORY = "problemflow.intake.app:create_app"


def warn_if_open(token: Optional[str], host: str) -> None:
    if not token:
        logger.warning(
            "PROBLEMFLOW_INTAKE_TOKEN is not set: alerts are accepted without authentication, "
            "from senders on this machine (127.0.0.1) only%s",
            "" if host in ("127.0.0.1", "::1", "localhost") else f"; the service listens on {host}",
        )


def run(
    *,
    host: Optional[str] = None,
    port: Optional[int] = None,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve the intake until interrupted (blocks). Settings come from the environment.

    With ``workers > 1`` every worker is a process with its own writer; the
    database keeps one open incident per fingerprint across them, and
    ``/metrics`` sums every worker's counters (prometheus-client multiprocess mode).
    """
    import uvicorn

    settings = get_settings()
    host = host or settings.intake_host
    port = port or settings.intake_port
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(levelname)s %(name)s: %(message)s")
    warn_if_open(settings.intake_token, host)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="problemflow-intake-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_level=log_level,
            access_log=access_log,
        )
    finally:
        if metrics_dir:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
