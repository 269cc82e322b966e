"""Commands of this module are added as their feature lands."""

import typer


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
