"""``problemflow up``: the whole stack in one command."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer


class PrefectDb(str, Enum):
    postgres = "postgres"
    sqlite = "sqlite"


def up_command(
    prefect_port: int = typer.Option(4200, min=1, max=65535, help="Port of the local Prefect server"),
    intake_port: Optional[int] = typer.Option(None, min=1, max=65535,
                                              help="Port of the intake (default PROBLEMFLOW_INTAKE_PORT, 4300)"),
    intake_workers: int = typer.Option(1, min=1, max=32, help="uvicorn workers for the intake"),
    limit: int = typer.Option(10, min=1, max=100, help="Flow runs at once in this process"),
    prefect_db: PrefectDb = typer.Option(
        PrefectDb.postgres, envvar="PROBLEMFLOW_PREFECT_DB", case_sensitive=False,
        help="Prefect's own database: a private PostgreSQL under the home, or SQLite (answers 503 under load)",
    ),
) -> None:
    """Migrate, start Prefect (server and UI), the intake, and serve every flow."""
    import os

    from problemflow.doors import DoorTaken
    from problemflow.models.settings import get_settings
    from problemflow.stack import up

    if intake_port is not None:
        os.environ["PROBLEMFLOW_INTAKE_PORT"] = str(intake_port)
        get_settings.cache_clear()
    try:
        up(prefect_port=prefect_port, intake_workers=intake_workers, limit=limit, prefect_db=prefect_db.value)
    except DoorTaken as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def deploy_command(
    pool: str = typer.Option("problemflow", help="Process work pool the workers poll"),
) -> None:
    """Register every deployment in a work pool, for `prefect worker start --pool ...`."""
    from problemflow.scaleout import deploy_to_pool

    ids = deploy_to_pool(pool)
    typer.echo(f"{len(ids)} deployments registered in work pool {pool!r}; start workers with:")
    typer.echo(f"  prefect worker start --pool {pool}")


def demo_command(
    rounds: int = typer.Option(4, min=3, max=50, help="Times the recurring alert fires and resolves"),
    prefect_url: str = typer.Option("http://127.0.0.1:4200/api", envvar="PREFECT_API_URL", help="Prefect API of the running stack"),
) -> None:
    """With the stack up: replay an alert storm, scan, and show the problem waiting for approval."""
    import os

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from problemflow.demo import post_storm, run_scan_deployment, wait_for_suspended_problem_run
    from problemflow.models.settings import get_settings

    os.environ["PREFECT_API_URL"] = prefect_url
    settings = get_settings()
    intake_url = f"http://{settings.intake_host}:{settings.intake_port}"
    sent = post_storm(intake_url, settings.intake_token, rounds=rounds)
    typer.echo(f"posted {sent} alerts to {intake_url}")
    # prefect read its settings when it was imported; point it at the running stack
    with temporary_settings(updates={PREFECT_API_URL: prefect_url}):
        run_scan_deployment()
        typer.echo("recurrence scan finished")
        found = wait_for_suspended_problem_run()
    if found is None:
        typer.echo("no problem-management run reached its first gate within 3 minutes; "
                   "is `problemflow up` running?", err=True)
        raise typer.Exit(code=1)
    run_id, name = found
    ui = prefect_url.removesuffix("/api")
    typer.echo(f"problem-management run {name} waits for root-cause sign-off:")
    typer.echo(f"  {ui}/runs/flow-run/{run_id}")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo_command)
    root.command("up")(up_command)
    root.command("deploy")(deploy_command)
