"""Options several commands share, checked before the command runs."""

from __future__ import annotations

import typer
from pydantic import TypeAdapter, ValidationError

from problemflow.models.audit import ActorName

_ACTOR = TypeAdapter(ActorName)


def _checked_actor(value: str) -> str:
    try:
        return _ACTOR.validate_python(value)
    except ValidationError as error:
        raise typer.BadParameter(error.errors()[0]["msg"].removeprefix("Value error, ")) from None


def actor_option(doing: str):
    """``--actor``: who does it, for the audit trail (1 to 120 characters, one line)."""
    return typer.Option("cli", help=f"Who {doing} it (for the audit trail)", callback=_checked_actor)
