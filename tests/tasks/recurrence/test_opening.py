"""Opening is about the present, capped and ranked: history groups and opens nothing; a live
recurrence opens one problem per group up to the cap, the rest wait in a ranked queue, and
one digest per scan tells the team."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from problemflow.models.enums import ProblemState
from problemflow.models.problem import Problem
from problemflow.models.recurrence import RecurrenceGroup
from problemflow.models.services import problems as problem_service
from problemflow.tasks.recurrence import ScanConfig, run_scan
from problemflow.tasks.recurrence.queue import ranked_groups
from problemflow.tasks.recurrence.run import send_digest

from .conftest import DAY, T0, add

SYMPTOMS = {
    "payments": ("Card authorisations time out", "GatewayTimeout"),
    "wiki": ("Search index is stale", "IndexLag"),
    "orders": ("Order queue backlog grows", "QueueBacklog"),
    "mail": ("Relay rejects outbound messages", "RelayReject"),
    "archive-2019": ("Tape library offline", "TapeOffline"),
    "db-2016": ("Replica lag above limit", "ReplicaLag"),
}


def recurring(db, name: str, *, days_ago: float = 0, count: int = 3, impact: str = "medium", urgency: str = "medium") -> list[int]:
    """``count`` alerts of one symptom of ``name``, half a day apart, the last ``days_ago`` before T0 + 3 days."""
    text, alertname = SYMPTOMS[name]
    end = 3 * DAY - days_ago * DAY - list(SYMPTOMS).index(name) * 47  # groups apart in time
    return [
        add(db, end - (count - 1 - i) * 720, f"{text} on {name}", fingerprint=f"{alertname}-{name}",
            service=f"{name}-svc", impact=impact, urgency=urgency, labels={"alertname": alertname, "instance": name})
        for i in range(count)
    ]


def problem_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Problem))


def test_imported_history_forms_groups_and_opens_nothing(db):
    old = recurring(db, "db-2016", days_ago=400, count=5)
    result = run_scan(db_session=db, mode="full")
    assert result.groups_touched == 1 and result.problems_opened == [] and result.groups_queued == []
    assert problem_count(db) == 0
    [row] = ranked_groups(db)
    assert row.status == "history" and row.size == len(old) and row.key == f"rec-{old[0]}"
    # the same incidents judged at their own time would have opened a problem: only the present decides
    then = T0 + timedelta(days=3 - 400, hours=1)
    assert len(run_scan(db_session=db, mode="full", config=ScanConfig(as_of=then)).problems_opened) == 1


def test_the_cap_opens_the_best_groups_and_queues_the_rest_ranked(db, receiver):
    critical = recurring(db, "payments", impact="high", urgency="high")
    recurring(db, "wiki", impact="low", urgency="low")
    busy = recurring(db, "orders", count=6)
    recurring(db, "mail")
    recurring(db, "archive-2019", days_ago=300)  # history: neither opened nor queued
    config = ScanConfig(open_max=2)
    result = run_scan(db_session=db, mode="full", config=config)
    db.commit()
    assert len(result.problems_opened) == 2 and problem_count(db) == 2
    opened = {db.get(Problem, p).group_key for p in result.problems_opened}
    # the critical one first, then the one that recurred most
    assert opened == {f"rec-{critical[0]}", f"rec-{busy[0]}"}
    waiting = ranked_groups(db, waiting_only=True)
    assert [w.summary.split(" on ")[-1] for w in waiting] == ["mail", "wiki"]
    assert result.groups_queued == [db.scalar(select(RecurrenceGroup.id).where(RecurrenceGroup.key == w.key)) for w in waiting]
    assert sorted(result.groups_newly_queued) == sorted(result.groups_queued)
    statuses = {r.summary.split(" on ")[-1]: r.status for r in ranked_groups(db)}
    # a group is summed up by its message template: the year in the title is a variable part
    assert statuses == {"payments": "problem", "orders": "problem", "mail": "waiting", "wiki": "waiting", "archive-<*>": "history"}

    # the KPI report counts the queue
    from problemflow.tasks.reporting.kpi.problems import problem_flow
    from problemflow.tasks.reporting.kpi.schemas import Period, Scope

    period = Period(start=T0 - timedelta(days=30), end=T0 + timedelta(days=30))
    assert problem_flow(db_session=db, period=period, scope=Scope()).waiting_groups == 2

    # one digest for the scan, naming what it opened and what waits
    assert send_digest(result, db.get_bind().url.render_as_string(hide_password=False))
    [message] = receiver.bodies
    assert message["title"] == "Recurrence scan: 2 problem(s) opened, 2 group(s) waiting"
    assert "payments" in message["message"] and "mail" in message["message"] and "--group" in message["message"]

    # while both slots are held, later scans open nothing and queue nothing twice
    again = run_scan(db_session=db, config=config)
    assert again.problems_opened == [] and again.groups_newly_queued == [] and len(again.groups_queued) == 2
    assert not send_digest(again, db.get_bind().url.render_as_string(hide_password=False))

    # a resolved problem frees its slot: the next scan, with nothing new, opens the best waiting group
    first = db.get(Problem, result.problems_opened[0])
    for state in (ProblemState.assessed, ProblemState.root_cause_analysis, ProblemState.fix_in_progress, ProblemState.resolved):
        problem_service.transition(db_session=db, problem=first, to_state=state, actor="test")
    drained = run_scan(db_session=db, config=config)
    assert drained.incidents_new == 0 and len(drained.problems_opened) == 1
    assert db.get(Problem, drained.problems_opened[0]).statement.endswith("mail")
    assert [w.summary.split(" on ")[-1] for w in ranked_groups(db, waiting_only=True)] == ["wiki"]


def test_a_queued_group_whose_recurrence_ended_leaves_the_queue(db):
    recurring(db, "payments", impact="high", urgency="high")
    recurring(db, "mail")
    run_scan(db_session=db, mode="full", config=ScanConfig(open_max=1))
    assert len(ranked_groups(db, waiting_only=True)) == 1
    later = T0 + timedelta(days=3 + 30)
    result = run_scan(db_session=db, mode="full", config=ScanConfig(open_max=1, as_of=later))
    assert result.groups_queued == [] and ranked_groups(db, waiting_only=True) == []


def test_pending_groups_are_listed_and_opened_on_purpose_from_the_cli(cli):
    from problemflow.models.db import session_scope

    with session_scope(cli.env["PROBLEMFLOW_DATABASE_URL"]) as db:
        recurring(db, "payments", impact="high", urgency="high")
        recurring(db, "mail")
        history = recurring(db, "db-2016", days_ago=400)
    scanned = cli.json("scan", "--full", "--open-max", "1")
    assert len(scanned["problems_opened"]) == 1 and len(scanned["groups_queued"]) == 1
    [pending] = cli.json("scan", "--pending")
    assert pending["status"] == "waiting" and pending["summary"].endswith("mail")
    table = cli("scan", "--groups").stdout
    assert "history" in table and "waiting" in table and "problem" in table
    opened = cli.json("problem", "open", "--group", pending["key"])
    assert opened["opened"] is True and opened["statement"].endswith("mail")
    assert cli.json("scan", "--pending") == []
    # history too can be opened on purpose, once
    key = f"rec-{history[0]}"
    assert cli.json("problem", "open", "--group", key)["opened"] is True
    assert "already has" in cli("problem", "open", "--group", key).stdout
    missing = cli("problem", "open", "--group", "rec-nope", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: recurrence group rec-nope not found"
