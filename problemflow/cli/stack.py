"""``problemflow up``: the whole stack in one command."""

from __future__ import annotations

import typer


def up_command(
    prefect_port: int = typer.Option(4200, min=1, max=65535, help="Port of the local Prefect server"),
    intake_workers: int = typer.Option(1, min=1, max=32, help="uvicorn workers for the intake"),
    limit: int = typer.Option(10, min=1, max=100, help="Flow runs at once in this process"),
) -> None:
    """Migrate, start Prefect (server and UI), the intake, and serve every flow."""
    from problemflow.stack import up

    up(prefect_port=prefect_port, intake_workers=intake_workers, limit=limit)


def deploy_command(
    pool: str = typer.Option("problemflow", help="Process work pool the workers poll"),
) -> None:
    """Register every deployment in a work pool, for `prefect worker start --pool ...`."""
    from problemflow.scaleout import deploy_to_pool

    ids = deploy_to_pool(pool)
    typer.echo(f"{len(ids)} deployments registered in work pool {pool!r}; start workers with:")
    typer.echo(f"  prefect worker start --pool {pool}")


def register(root: typer.Typer) -> None:
    root.command("up")(up_command)
    root.command("deploy")(deploy_command)
