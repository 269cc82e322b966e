"""``problemflow intake``: the HTTP service that turns monitoring alerts into incidents."""

from __future__ import annotations

from typing import Optional

import typer


def intake(
    host: Optional[str] = typer.Option(None, help="Address to listen on (default: PROBLEMFLOW_INTAKE_HOST)"),
    port: Optional[int] = typer.Option(None, min=1, max=65535, help="Port (default: PROBLEMFLOW_INTAKE_PORT)"),
    workers: int = typer.Option(1, min=1, max=64, help="uvicorn worker processes"),
    log_level: str = typer.Option("info", help="debug, info, warning or error"),
    access_log: bool = typer.Option(False, help="Log every request"),
) -> None:
    """Receive alerts (Alertmanager, Grafana, PagerDuty, generic JSON) over HTTP until stopped."""
    from problemflow.intake import run

    run(host=host, port=port, workers=workers, log_level=log_level, access_log=access_log)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("intake")(intake)
