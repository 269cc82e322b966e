"""The Kanban board: cards by team and state, WIP limits, documents, CLI and Prefect limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from problemflow.cli import app
from problemflow.models.enums import ClosureCode, ProblemState, TaskStatus
from problemflow.models.problem import ProblemCreate, ProblemTaskCreate
from problemflow.models.services import problems
from problemflow.tasks.problem.wip import ensure_wip_limits
from problemflow.tasks.reporting.board import (
    UNASSIGNED,
    board_table,
    build_board,
    render_board_html,
    render_board_markdown,
)

NOW = datetime(2026, 3, 9, tzinfo=timezone.utc)
LIMITS = {"net": 1, "dba": 2, "ops": 3}


def problem(db_session, statement, state, team=None, days_old=1):
    record = problems.create(
        db_session=db_session,
        problem_in=ProblemCreate(statement=statement, assignment_group=team, impact="high"),
    )
    if state == ProblemState.closed:
        problems.transition(
            db_session=db_session, problem=record, to_state=state, closure_code=ClosureCode.duplicate
        )
    else:
        problems.advance_to(db_session=db_session, problem=record, to_state=state)
    record.opened_at = NOW - timedelta(days=days_old)
    return record


@pytest.fixture
def work(db_session):
    """net is over its limit of 1 (two problems in progress); dba is within 2."""
    s = db_session
    p1 = problem(s, "Network flaps", ProblemState.root_cause_analysis, "net", days_old=3)
    problem(s, "Switch firmware", ProblemState.fix_in_progress, "net")
    problem(s, "New <b>thing</b>", ProblemState.new, "net")
    problem(s, "Lock waits", ProblemState.root_cause_analysis, "dba")
    problem(s, "Printer", ProblemState.resolved)
    problem(s, "Old duplicate", ProblemState.closed, "net")
    tasks = problems.set_plan(
        db_session=s,
        problem=p1,
        tasks_in=[
            ProblemTaskCreate(key="collect", title="Collect switch logs", team="net"),
            ProblemTaskCreate(key="patch", title="Patch the cluster", team="dba", depends_on=["collect"]),
            ProblemTaskCreate(key="notify", title="Tell the users"),
        ],
    )
    by_key = {t.key: t for t in tasks}
    by_key["collect"].status = TaskStatus.in_progress
    by_key["notify"].status = TaskStatus.done
    s.commit()
    return s


def test_board_places_cards_by_team_and_state(work):
    board = build_board(db_session=work, limits=LIMITS, now=NOW)
    assert [lane.team for lane in board.lanes] == ["dba", "net", "ops", UNASSIGNED]
    net = board.lane("net")
    assert [c.title for c in net.problems["root_cause_analysis"]] == ["Network flaps"]
    assert net.problems["root_cause_analysis"][0].age_days == 3.0
    assert [c.title for c in net.problems["fix_in_progress"]] == ["Switch firmware"]
    assert len(net.problems["new"]) == 1
    assert sum(len(cards) for lane in board.lanes for cards in lane.problems.values()) == 5
    assert [c.title for c in board.lane(UNASSIGNED).problems["resolved"]] == ["Printer"]
    # tasks: the team named on the task; done tasks are off the board
    assert [c.ref.split("/")[1] for c in net.tasks["in_progress"]] == ["collect"]
    assert [c.ref.split("/")[1] for c in board.lane("dba").tasks["todo"]] == ["patch"]
    assert all(c.title != "Tell the users" for l in board.lanes for cs in l.tasks.values() for c in cs)


def test_board_marks_teams_over_their_wip_limit(work):
    board = build_board(db_session=work, limits=LIMITS, now=NOW)
    net, dba, ops = board.lane("net"), board.lane("dba"), board.lane("ops")
    assert (net.limit, net.problem_wip, net.problem_load) == (1, 2, "over")
    assert (net.task_wip, net.task_load) == (1, "full")
    assert (dba.problem_wip, dba.problem_load) == (1, "ok")
    assert (ops.problem_wip, ops.problem_load) == (0, "ok")
    assert board.lane(UNASSIGNED).problem_load == "unlimited"
    assert board.over_limit() == ["net"]
    rows = {(r["team"], r["kind"], r["column"]): r for r in board_table(board)}
    assert rows[("net", "problem", "fix_in_progress")]["over_limit"] is True
    assert rows[("net", "problem", "new")]["over_limit"] is False
    assert rows[("dba", "problem", "root_cause_analysis")] == {
        "team": "dba", "kind": "problem", "column": "root_cause_analysis",
        "cards": 1, "limit": 2, "over_limit": False,
    }
    only = build_board(db_session=work, team="dba", limits=LIMITS, now=NOW)
    assert [lane.team for lane in only.lanes] == ["dba"]


def test_board_documents_mark_the_over_limit_cells(work):
    board = build_board(db_session=work, limits=LIMITS, now=NOW)
    html = render_board_html(board)
    assert html.count('class="over"') == 2  # net's two WIP problem columns
    assert html.count('class="full"') == 1  # net's task column: 1 of 1
    assert "New &lt;b&gt;thing&lt;/b&gt;" in html
    assert "Over the WIP limit: net" in html
    markdown = render_board_markdown(board)
    net_row = next(line for line in markdown.splitlines() if line.startswith("| net | 2 / 1"))
    assert net_row.count("**OVER**") == 2


def test_board_command_prints_the_board(work, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBLEMFLOW_WIP_LIMITS", json.dumps(LIMITS))
    from problemflow.models.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["board", "--html", str(tmp_path / "b.html")], env={"COLUMNS": "220"})
        assert result.exit_code == 0, result.output
        assert "Network flaps" in result.output and "Over the WIP limit: net" in result.output
        assert "2 / 1 OVER" in result.output
        assert (tmp_path / "b.html").read_text().count('class="over"') == 2
        data = json.loads(runner.invoke(app, ["board", "--json", "--team", "net"]).output)
        assert data["over_limit"] == ["net"] and [l["team"] for l in data["lanes"]] == ["net"]
        missing = runner.invoke(app, ["board", "--team", "nobody"])
        assert missing.exit_code != 0 and "no team 'nobody'" in str(missing.exception)
    finally:
        get_settings.cache_clear()


def test_ensure_wip_limits_creates_and_updates_prefect_limits(prefect_server):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        first = ensure_wip_limits(client, {"Net Ops": 2, "dba": 1})
        assert [(s.name, s.limit, s.action) for s in first] == [
            ("wip-net-ops", 2, "created"), ("wip-dba", 1, "created"),
        ]
        again = ensure_wip_limits(client, {"Net Ops": 2, "dba": 3})
        assert [s.action for s in again] == ["unchanged", "updated"]
        assert client.read_global_concurrency_limit_by_name("wip-dba").limit == 3
        assert client.read_global_concurrency_limit_by_name("wip-net-ops").limit == 2
    # without a client one is opened on the configured API
    assert [s.action for s in ensure_wip_limits(None, {"dba": 3})] == ["unchanged"]
    assert ensure_wip_limits(None, {}) == []
