"""Printing records for people (tables) and for machines (JSON), with outside text shown as
text: escape and control sequences made visible, Rich markup never interpreted."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Sequence

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from problemflow.tasks.common.neutralise import terminal

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long


def to_jsonable(records: Iterable[BaseModel]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in records]


# characters JSON leaves as they are that a terminal would still act on
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def print_json(data: Any) -> None:
    # plain print: no colour codes, no wrapping, so machines can parse it; JSON escapes
    # C0 controls itself, the rest is written as \uXXXX escapes
    text = json.dumps(data, indent=2, ensure_ascii=False)
    print(_RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def say(text: str, err: bool = False) -> None:
    """One plain line for a person, with any outside text in it shown as text."""
    typer.echo(terminal(text), err=err)


def shown(value: Any) -> Text:
    """A cell or line of outside text, as plain text for the terminal."""
    return Text("" if value is None else terminal(value))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=shown(title), show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[shown(v) for v in row])
    console.print(table)


def print_record(title: str, record: BaseModel, skip: Sequence[str] = ()) -> None:
    table = Table(title=shown(title), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in record.model_dump(mode="json").items():
        if key in skip or value in (None, "", [], {}):
            continue
        table.add_row(key, shown(json.dumps(value) if isinstance(value, (dict, list)) else value))
    console.print(table)
