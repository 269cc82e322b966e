"""``problemflow report kpi`` and ``problemflow board``: numbers and work in progress."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from problemflow.cli.output import console, print_json, shown
from problemflow.models.db import session_scope
from problemflow.models.settings import get_settings
from problemflow.tasks.common.neutralise import terminal

app = typer.Typer(help="Reports on incident and problem management.", no_args_is_help=True)
DATE_FORMATS = ["%Y-%m-%d"]
CARDS_SHOWN = 6


def period_from_options(start: Optional[datetime], end: Optional[datetime]):
    """``--from``/``--to`` are whole UTC days, both included; default: the last 7 full days."""
    from problemflow.tasks.reporting.kpi import Period

    today = datetime.now(timezone.utc).date()
    last = end.date() if end else today - timedelta(days=1)
    first = start.date() if start else last - timedelta(days=6)
    if last < first:
        raise ValueError(f"--to ({last}) is before --from ({first}); give the first day, then the last")
    # the report compares with the period before: both must be real dates
    if first.year < 1970 or last.year > 2999 or (last - first).days > 3660:
        raise ValueError(f"--from {first} --to {last}: give days between 1970 and 2999, at most ten years apart")
    return Period(
        start=datetime.combine(first, time(), tzinfo=timezone.utc),
        end=datetime.combine(last + timedelta(days=1), time(), tzinfo=timezone.utc),
    )


@app.command("kpi")
def kpi(
    start: Optional[datetime] = typer.Option(
        None, "--from", formats=DATE_FORMATS, help="First day (UTC), default 7 days before --to"
    ),
    end: Optional[datetime] = typer.Option(
        None, "--to", formats=DATE_FORMATS, help="Last day included (UTC), default yesterday"
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", file_okay=False, help="Directory for the HTML, Markdown and CSV files"
    ),
    service: Optional[str] = typer.Option(None, help="Only this service"),
    category: Optional[str] = typer.Option(None, help="Only this incident category"),
    team: Optional[str] = typer.Option(None, help="Only this team (assignment group)"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
    force: bool = typer.Option(False, "--force", help="Overwrite files of the same name not written by problemflow"),
) -> None:
    """Compute the KPIs of a period against the one before it and write the report."""
    from problemflow.tasks.reporting.kpi import Scope, compute_report
    from problemflow.tasks.reporting.kpi.render import summary_rows, write_report

    period = period_from_options(start, end)
    scope = Scope(service=service, category=category, team=team)
    with session_scope() as db_session:
        report = compute_report(db_session=db_session, period=period, scope=scope)
    files = write_report(report, out or get_settings().output_dir / "reports", force=force)
    if as_json:
        data = report.model_dump(mode="json")
        data["files"] = files.model_dump(mode="json")
        print_json(data)
        return
    table = Table(title=shown(f"KPIs {period.label()} ({scope.label()})"))
    for column in ("measure", "this period", "previous", "change", "trend"):
        table.add_column(column, justify="left" if column in ("measure", "trend") else "right")
    styles = {"better": "green", "worse": "red"}
    for row in summary_rows(report):
        table.add_row(
            row["metric"], row["current"], row["previous"], row["change"],
            Text(row["arrow"], style=styles.get(row["verdict"], "")),
        )
    console.print(table)
    for kind, path in files.model_dump().items():
        console.print(shown(f"{kind:>8}: {path}"), highlight=False)


def _cell(cards, over: bool) -> Text:
    text = Text()
    for card in cards[:CARDS_SHOWN]:
        text.append(terminal(card.ref), style="bold")
        text.append(terminal(f" {card.title[:40]}\n"))
    if len(cards) > CARDS_SHOWN:
        text.append(f"and {len(cards) - CARDS_SHOWN} more\n", style="dim")
    if over:
        text.stylize("on dark_red")
    return text


def _board_table(title: str, board, columns, wip_columns, kind: str) -> Table:
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("team (WIP / limit)")
    for column in columns:
        table.add_column(column.replace("_", " ") + (" [WIP]" if column in wip_columns else ""))
    for lane in board.lanes:
        wip, load = (lane.problem_wip, lane.problem_load) if kind == "problem" else (lane.task_wip, lane.task_load)
        limit = "no limit" if lane.limit is None else f"{wip} / {lane.limit}"
        head = shown(f"{lane.team}\n{limit}" + (" OVER" if load == "over" else ""))
        if load == "over":
            head.stylize("bold red")
        cells = lane.problems if kind == "problem" else lane.tasks
        table.add_row(
            head, *[_cell(cells[c], load == "over" and c in wip_columns) for c in columns]
        )
    return table


def board(
    team: Optional[str] = typer.Option(None, help="Only this team"),
    html: Optional[Path] = typer.Option(None, "--html", dir_okay=False, help="Also write the board as HTML"),
    as_json: bool = typer.Option(False, "--json", help="Print the board as JSON"),
) -> None:
    """Show problems and their tasks by state per team, against each team's WIP limit."""
    from problemflow.tasks.reporting.board import build_board, render_board_html

    with session_scope() as db_session:
        found = build_board(db_session=db_session, team=team)
    if team is not None and not found.lanes:
        raise ValueError(f"no team {team!r} on the board (no open problems and no WIP limit)")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_board_html(found), encoding="utf-8")
    if as_json:
        data = found.model_dump(mode="json")
        data["over_limit"] = found.over_limit()
        print_json(data)
        return
    console.print(_board_table("Problems", found, found.problem_columns, found.wip_problem_states, "problem"))
    console.print(_board_table("Problem tasks", found, found.task_columns, found.wip_task_statuses, "task"))
    over = found.over_limit()
    if over:
        console.print(Text("Over the WIP limit: ", style="bold red") + shown(", ".join(over)), highlight=False)
    if html is not None:
        console.print(shown(f"written {html}"), highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``report`` and ``board`` to the root app."""
    root.add_typer(app, name="report")
    root.command("board")(board)
