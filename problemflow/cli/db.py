"""``problemflow db``: the schema."""

import typer

from problemflow.models.db import current_revisions, upgrade
from problemflow.models.settings import get_settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command() -> None:
    """Create or migrate the schema to the newest revision."""
    upgrade()
    url = get_settings().database_url
    typer.echo(f"database at {url.split('@')[-1]} is at {', '.join(sorted(current_revisions()))}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="db")
