"""When a group crosses the threshold: one problem (never two), or the existing problem or known error."""

from __future__ import annotations

import csv
import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from problemflow.cli import app
from problemflow.models.enums import KnownErrorState
from problemflow.models.kedb import KnownErrorCreate, Signature
from problemflow.models.problem import Problem, ProblemCreate, ProblemIncident
from problemflow.models.recurrence import RecurrenceGroup
from problemflow.models.services import kedb as kedb_service
from problemflow.models.services import problems as problem_service
from problemflow.tasks.recurrence import run_scan

from .conftest import DAY, add


def alert(db, minutes: float, fingerprint: str = "fp-disk") -> int:
    return add(db, minutes, "Disk almost full on db-07", fingerprint=fingerprint, service="orders-db",
               labels={"alertname": "DiskFull", "instance": "db-07"})


def problem_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Problem))


def test_two_incidents_group_but_the_third_opens_one_problem(db):
    ids = [alert(db, 0), alert(db, DAY)]
    result = run_scan(db_session=db, mode="full")
    assert result.problems_opened == [] and problem_count(db) == 0
    ids.append(alert(db, 2 * DAY))
    result = run_scan(db_session=db)
    assert len(result.problems_opened) == 1
    problem = db.get(Problem, result.problems_opened[0])
    group = db.scalar(select(RecurrenceGroup))
    assert problem.group_key == group.key == f"rec-{ids[0]}" and group.problem_id == problem.id
    assert problem.source == "recurrence-scan" and "Disk almost full" in problem.statement
    links = db.scalars(select(ProblemIncident).where(ProblemIncident.problem_id == problem.id)).all()
    assert sorted(link.incident_id for link in links) == ids
    assert all(link.algorithm_version == result.algorithm_version and link.reason for link in links)
    # scanning again, incrementally or in full, never opens a second problem
    assert run_scan(db_session=db).problems_opened == []
    assert run_scan(db_session=db, mode="full").problems_opened == []
    fourth = alert(db, 3 * DAY)
    again = run_scan(db_session=db)
    assert again.problems_opened == [] and problem_count(db) == 1
    assert db.get(ProblemIncident, (problem.id, fourth)) is not None


def test_incidents_spread_beyond_the_threshold_window_do_not_open_a_problem(db):
    for d in (0, 5, 10, 15):  # linked pairwise (5 days apart) but never 3 within 7 days
        alert(db, d * DAY)
    result = run_scan(db_session=db, mode="full")
    assert result.groups_touched == 1 and result.problems_opened == []


def test_a_group_joins_the_open_problem_its_incidents_are_linked_to(db):
    first = alert(db, 0)
    existing = problem_service.create(
        db_session=db, problem_in=ProblemCreate(statement="Disks on db-07 fill up", incident_ids=[first])
    )
    for d in (1, 2):
        alert(db, d * DAY)
    result = run_scan(db_session=db, mode="full")
    assert result.problems_opened == [] and problem_count(db) == 1
    assert set(result.problems_linked.values()) == {existing.id}
    linked = db.scalar(select(func.count()).select_from(ProblemIncident).where(ProblemIncident.problem_id == existing.id))
    assert linked == 3


def test_a_group_that_matches_a_known_error_links_to_it_instead(db):
    known_error = kedb_service.create(
        db_session=db,
        known_error_in=KnownErrorCreate(
            title="Disk fills with old WAL files", symptoms="Disk almost full on database hosts",
            workaround="Remove archived WAL older than 2 days",
            signature=Signature(fingerprints=["fp-disk"], services=["orders-db"], labels={"alertname": "DiskFull"}),
        ),
    )
    kedb_service.transition(db_session=db, known_error=known_error, to_state=KnownErrorState.published)
    db.flush()
    for d in (0, 1, 2):
        alert(db, d * DAY)
    result = run_scan(db_session=db, mode="full")
    assert result.problems_opened == [] and problem_count(db) == 0
    assert set(result.known_errors_linked.values()) == {known_error.id}
    assert db.scalar(select(RecurrenceGroup.known_error_id)) == known_error.id


def test_scan_cli_writes_the_evaluation_csv(db, tmp_path):
    ids = [alert(db, m) for m in (0, 3, 8)]
    add(db, 20, "Office coffee machine broken", category="facilities")
    db.commit()
    out = tmp_path / "groups.csv"
    result = CliRunner().invoke(app, ["scan", "--full", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "full" and len(data["problems_opened"]) == 1 and data["csv_rows"] == 3
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["incident"] for r in rows] == [f"INC{i:07d}" for i in ids]
    assert {r["group"] for r in rows} == {f"rec-{ids[0]}"}
    assert all("fingerprint" in r["reason"] and 0 < float(r["score"]) for r in rows)
    second = CliRunner().invoke(app, ["scan"])
    assert "0 new incidents" in second.stdout and "0 problems opened" in second.stdout


def test_a_problem_another_scan_opened_for_the_group_is_reused(db):
    ids = [alert(db, d * DAY) for d in (0, 1, 2)]
    # a concurrent scan committed the group's problem first
    first = problem_service.create(
        db_session=db, problem_in=ProblemCreate(statement="Disk fills up", source="recurrence-scan", group_key=f"rec-{ids[0]}")
    )
    result = run_scan(db_session=db, mode="full")
    assert result.problems_opened == [] and problem_count(db) == 1
    assert result.problems_linked == {db.scalar(select(RecurrenceGroup.id)): first.id}
    assert db.get(ProblemIncident, (first.id, ids[2])) is not None


def test_losing_the_race_to_open_the_problem_links_to_the_winner(db, monkeypatch):
    ids = [alert(db, d * DAY) for d in (0, 1, 2)]
    winner = problem_service.create(
        db_session=db, problem_in=ProblemCreate(statement="Disk fills up", source="recurrence-scan", group_key=f"rec-{ids[0]}")
    )
    db.flush()
    real = problem_service.get_by_group_key
    calls = []

    def not_yet_visible(*, db_session, group_key):
        # the first look happens before the other scan commits: the insert then hits the unique key
        calls.append(group_key)
        return None if len(calls) == 1 else real(db_session=db_session, group_key=group_key)

    monkeypatch.setattr(problem_service, "get_by_group_key", not_yet_visible)
    result = run_scan(db_session=db, mode="full")
    assert len(calls) == 2 and result.problems_opened == [] and problem_count(db) == 1
    assert db.get(ProblemIncident, (winner.id, ids[1])) is not None


