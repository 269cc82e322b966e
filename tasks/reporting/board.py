"""The Kanban board of problem work: problems and their tasks by state, per team,
against the team's WIP limit; and the Prefect concurrency limits behind those limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Literal, Optional

from prefect import task
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.db import session_scope
from problemflow.models.enums import ProblemState, TaskStatus
from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX, Problem, ProblemTask
from problemflow.models.settings import get_settings
from problemflow.tasks.common.documents import render
from problemflow.tasks.common.retry import RETRIES

UNASSIGNED = "(unassigned)"
PROBLEM_COLUMNS = [
    ProblemState.new,
    ProblemState.assessed,
    ProblemState.root_cause_analysis,
    ProblemState.fix_in_progress,
    ProblemState.resolved,
]
TASK_COLUMNS = [TaskStatus.todo, TaskStatus.in_progress, TaskStatus.blocked]
# cards in these columns are work a team has started and not finished
WIP_PROBLEM_STATES = [ProblemState.root_cause_analysis, ProblemState.fix_in_progress]
WIP_TASK_STATUSES = [TaskStatus.in_progress]
HTML_TEMPLATE = "report/board.html.j2"
MARKDOWN_TEMPLATE = "report/board.md.j2"

Load = Literal["over", "full", "ok", "unlimited"]


class Card(BaseModel):
    kind: Literal["problem", "task"]
    ref: str = Field(description="PRB0000001, or PRB0000001/task-key for a task")
    title: str
    state: str
    team: str
    owner: Optional[str] = None
    priority: Optional[str] = None
    age_days: float
    due_date: Optional[date] = None


class Lane(BaseModel):
    """One team's row of the board."""

    team: str
    limit: Optional[int] = None
    problems: dict[str, list[Card]]
    tasks: dict[str, list[Card]]

    @property
    def problem_wip(self) -> int:
        return sum(len(self.problems[s.value]) for s in WIP_PROBLEM_STATES)

    @property
    def task_wip(self) -> int:
        return sum(len(self.tasks[s.value]) for s in WIP_TASK_STATUSES)

    def load(self, wip: int) -> Load:
        if self.limit is None:
            return "unlimited"
        if wip > self.limit:
            return "over"
        return "full" if wip == self.limit else "ok"

    @property
    def problem_load(self) -> Load:
        return self.load(self.problem_wip)

    @property
    def task_load(self) -> Load:
        return self.load(self.task_wip)


class Board(BaseModel):
    generated_at: datetime
    problem_columns: list[str] = [s.value for s in PROBLEM_COLUMNS]
    task_columns: list[str] = [s.value for s in TASK_COLUMNS]
    wip_problem_states: list[str] = [s.value for s in WIP_PROBLEM_STATES]
    wip_task_statuses: list[str] = [s.value for s in WIP_TASK_STATUSES]
    lanes: list[Lane]

    def over_limit(self) -> list[str]:
        """Teams with more work in progress than their limit allows."""
        return [l.team for l in self.lanes if "over" in (l.problem_load, l.task_load)]

    def lane(self, team: str) -> Lane:
        return next(l for l in self.lanes if l.team == team)


def _age(now: datetime, since: datetime) -> float:
    return max(0.0, round((now - since).total_seconds() / 86400, 1))


def build_board(
    *,
    db_session: Session,
    team: Optional[str] = None,
    limits: Optional[Mapping[str, int]] = None,
    now: Optional[datetime] = None,
) -> Board:
    """Every problem not closed and every unfinished task of those problems, by team."""
    now = now or utcnow()
    limits = dict(get_settings().wip_limits if limits is None else limits)
    problem_team = Problem.assignment_group
    problem_rows = db_session.execute(
        select(
            Problem.id, Problem.statement, Problem.state, Problem.priority,
            problem_team, Problem.owner, Problem.opened_at,
        )
        .where(Problem.state.in_([s.value for s in PROBLEM_COLUMNS]))
        .order_by(Problem.priority, Problem.opened_at)
    ).all()
    task_rows = db_session.execute(
        select(
            ProblemTask.problem_id, ProblemTask.key, ProblemTask.title, ProblemTask.status,
            ProblemTask.team, problem_team, ProblemTask.owner, ProblemTask.created_at,
            ProblemTask.due_date, Problem.priority,
        )
        .join(Problem, Problem.id == ProblemTask.problem_id)
        .where(
            ProblemTask.status.in_([s.value for s in TASK_COLUMNS]),
            Problem.state != ProblemState.closed.value,
        )
        .order_by(Problem.priority, ProblemTask.due_date, ProblemTask.id)
    ).all()
    lanes: dict[str, Lane] = {}

    def lane_for(name: Optional[str]) -> Lane:
        name = name or UNASSIGNED
        if name not in lanes:
            lanes[name] = Lane(
                team=name,
                limit=limits.get(name),
                problems={s.value: [] for s in PROBLEM_COLUMNS},
                tasks={s.value: [] for s in TASK_COLUMNS},
            )
        return lanes[name]

    for name in limits:
        lane_for(name)
    for pid, statement, state, priority, group, owner, opened_at in problem_rows:
        lane = lane_for(group)
        lane.problems[state].append(
            Card(
                kind="problem", ref=format_number(NUMBER_PREFIX, pid), title=statement, state=state,
                team=lane.team, owner=owner, priority=priority, age_days=_age(now, opened_at),
            )
        )
    for pid, key, title, status, task_team, group, owner, created, due, priority in task_rows:
        lane = lane_for(task_team or group)
        lane.tasks[status].append(
            Card(
                kind="task", ref=f"{format_number(NUMBER_PREFIX, pid)}/{key}", title=title,
                state=status, team=lane.team, owner=owner, priority=priority,
                age_days=_age(now, created), due_date=due,
            )
        )
    ordered = sorted(lanes.values(), key=lambda l: (l.team == UNASSIGNED, l.team.lower()))
    if team is not None:
        ordered = [l for l in ordered if l.team == team]
    return Board(generated_at=now, lanes=ordered)


# ---- documents -----------------------------------------------------------------

CARDS_PER_CELL = 12


def _context(board: Board) -> dict:
    def cell(cards: list[Card]) -> dict:
        return {"cards": cards[:CARDS_PER_CELL], "more": max(0, len(cards) - CARDS_PER_CELL)}

    lanes = []
    for lane in board.lanes:
        lanes.append(
            {
                "team": lane.team,
                "limit": lane.limit,
                "problem_wip": lane.problem_wip,
                "task_wip": lane.task_wip,
                "problem_load": lane.problem_load,
                "task_load": lane.task_load,
                "problems": {state: cell(cards) for state, cards in lane.problems.items()},
                "tasks": {state: cell(cards) for state, cards in lane.tasks.items()},
            }
        )
    return {
        "title": "Problem work board",
        "generated_at": f"{board.generated_at:%Y-%m-%d %H:%M} UTC",
        "problem_columns": board.problem_columns,
        "task_columns": board.task_columns,
        "wip_problem_states": board.wip_problem_states,
        "wip_task_statuses": board.wip_task_statuses,
        "lanes": lanes,
        "over_limit": board.over_limit(),
    }


def render_board_html(board: Board) -> str:
    return render(HTML_TEMPLATE, **_context(board))


def render_board_markdown(board: Board) -> str:
    return render(MARKDOWN_TEMPLATE, **_context(board))


def board_table(board: Board) -> list[dict[str, object]]:
    """One row per team and column: the numbers for a table artifact."""
    rows: list[dict[str, object]] = []
    for lane in board.lanes:
        for kind, columns, wip_columns, load in (
            ("problem", lane.problems, board.wip_problem_states, lane.problem_load),
            ("task", lane.tasks, board.wip_task_statuses, lane.task_load),
        ):
            for column, cards in columns.items():
                rows.append(
                    {
                        "team": lane.team,
                        "kind": kind,
                        "column": column,
                        "cards": len(cards),
                        "limit": lane.limit if column in wip_columns else None,
                        "over_limit": column in wip_columns and load == "over",
                    }
                )
    return rows


def write_board(board: Board, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "board.html"
    path.write_text(render_board_html(board), encoding="utf-8")
    return path


# ---- Prefect ---------------------------------------------------------------------


@task(name="build-board", **RETRIES)
def build_board_task(team: Optional[str] = None) -> Board:
    """Read the board in a session of its own."""
    with session_scope() as db_session:
        return build_board(db_session=db_session, team=team)


@task(name="publish-board")
def publish_board_task(board: Board, out_dir: str) -> str:
    """Write board.html and publish the board as markdown and table artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    path = write_board(board, Path(out_dir))
    over = board.over_limit()
    summary = f"over WIP limit: {', '.join(over)}" if over else "every team within its WIP limit"
    create_markdown_artifact(
        markdown=render_board_markdown(board), key="kanban-board", description=summary
    )
    create_table_artifact(table=board_table(board), key="kanban-board-counts", description=summary)
    return str(path)
