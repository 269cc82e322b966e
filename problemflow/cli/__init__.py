"""The ``problemflow`` command."""

from __future__ import annotations

import importlib
import os
import sys

import typer
from pydantic import ValidationError

try:  # Typer 0.2x carries its own copy of click; older releases use click itself
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the Typer release installed
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from sqlalchemy.exc import DataError, OperationalError

from problemflow.cli.output import err_console
from problemflow.tasks.common.neutralise import NotOurs, terminal
from problemflow.models.errors import ProblemflowError
from problemflow.models.states import IllegalTransition

app = typer.Typer(
    name="problemflow",
    help="Automated IT problem management on Prefect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module adds its commands to the app through its ``register(app)``.
COMMAND_MODULES = [
    "db",
    "incidents",
    "problems",
    "kedb",
    "intake",
    "imports",
    "scan",
    "approvals",
    "people",
    "report",
    "stack",
]
for _name in COMMAND_MODULES:
    importlib.import_module(f"problemflow.cli.{_name}").register(app)


def validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def usage_message(error: UsageError) -> str:
    """``problemflow incident show: missing argument 'INCIDENT_ID' (see --help)``: what was
    wrong with the command line, in one line, instead of click's usage box."""
    where = error.ctx.command_path if error.ctx is not None else "problemflow"
    what = " ".join(error.format_message().split()).rstrip(".")
    return terminal(f"{where}: {what[:1].lower()}{what[1:]} (see {where} --help)")


def one_line(text: object) -> str:
    """An error's text as one line for a terminal (a driver's message can hold the SQL)."""
    return terminal(" ".join(str(text).split()))


def _say(message: str, code: int) -> None:
    err_console.print(message, markup=False, highlight=False)
    sys.exit(code)


def main() -> None:
    """Entry point: run the app, turning expected errors into one-line messages."""
    try:
        # not standalone: click's errors come here, to be printed as one line; what a
        # command returns is its exit code only when it is one (typer.Exit(n) comes back so)
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except NoArgsIsHelpError:  # a group named alone has printed its help
        sys.exit(2)
    except UsageError as error:
        _say(usage_message(error), 2)
    except ClickException as error:
        _say(f"error: {one_line(error.format_message())}", error.exit_code if error.exit_code in (1, 2) else 1)
    except typer.Abort:
        _say("error: stopped before it was done", 1)
    except ValidationError as error:
        _say(f"error: {one_line(validation_message(error))}", 2)
    except NotOurs as error:
        _say(f"error: {one_line(error)}", 2)
    except (ProblemflowError, IllegalTransition, ValueError) as error:
        _say(f"error: {one_line(error)}", 1)
    except OperationalError as error:
        _say(f"error: the database cannot be reached: {one_line(error.orig)}", 3)
    except DataError as error:  # a value the database cannot store: too long, a NUL on PostgreSQL
        _say(f"error: the database refused a value: {one_line(error.orig)}", 2)
    except OverflowError as error:
        _say(f"error: a number or date is out of range ({one_line(error)})", 2)
    except Exception as error:  # noqa: BLE001 - a person gets one line, never a traceback
        if os.environ.get("PROBLEMFLOW_DEBUG"):
            raise
        _say(f"error: {type(error).__name__}: {one_line(error)} (PROBLEMFLOW_DEBUG=1 shows where)", 1)
