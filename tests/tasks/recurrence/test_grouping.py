"""Grouping on small crafted cases, through ``run_scan`` on the real database."""

from __future__ import annotations

import random

from sqlalchemy import select

from problemflow.models.recurrence import RecurrenceMember
from problemflow.tasks.recurrence import ScanConfig, run_scan

from .conftest import DAY, add, groups


def test_a_burst_of_one_alert_groups_with_its_reason(db):
    ids = [
        add(db, m, f"High latency on checkout-{n}", fingerprint="ab12cd", service="checkout",
            labels={"alertname": "HighLatency", "instance": f"checkout-{n}"})
        for m, n in [(0, 1), (2, 2), (3, 1), (9, 3), (14, 2)]
    ]
    add(db, 5, "Printer out of paper on floor 3", category="office", service="printing")
    result = run_scan(db_session=db, mode="full")
    assert groups(db) == {f"rec-{ids[0]}": set(ids)}
    member = db.get(RecurrenceMember, ids[1])
    assert member.linked_to_id in ids and member.algorithm_version == result.algorithm_version
    assert "fingerprint" in member.reason and member.reason.startswith("same alert")


def test_a_message_recurs_whatever_its_variable_parts(db):
    lines = [
        "Receiving block blk_-6952295868487656571 src: /10.251.91.84:48340 dest: /10.251.91.84:50010",
        "Receiving block blk_7128370237687728475 src: /10.251.214.67:59024 dest: /10.251.214.67:50010",
        "Receiving block blk_-3544583377289625738 src: /10.250.19.102:39325 dest: /10.250.19.102:50010",
    ]
    same = [add(db, d * DAY * 40, line, service="dfs.DataNode") for d, line in enumerate(lines)]
    users = [add(db, d * 7, f"session opened for user {name} by (uid=0)", service="sshd")
             for d, name in enumerate(["cyrus", "news", "test", "root", "guest", "admin"])]
    closed = add(db, 60, "session closed for user cyrus", service="sshd")
    run_scan(db_session=db, mode="full")
    assert sorted(groups(db).values(), key=min) == [set(same), set(users)]
    assert closed not in set(users)
    reasons = {db.get(RecurrenceMember, i).reason for i in same[1:]}
    assert all(r.startswith("same message, 40.0 days apart") for r in reasons)


def test_the_same_symptom_on_two_services_merges_unless_told_to_split(db):
    web = [add(db, d * DAY, "Disk full on /var", service="web", symptom="disk full", category="storage") for d in range(3)]
    mail = [add(db, d * DAY + 300, "Disk full on /var", service="mail", symptom="disk full", category="storage") for d in range(3)]
    run_scan(db_session=db, mode="full")
    assert list(groups(db).values()) == [set(web + mail)]
    run_scan(db_session=db, mode="full", config=ScanConfig(split_by_service=True))
    assert sorted(groups(db).values(), key=min) == [set(web), set(mail)]
    reasons = {m.reason for m in db.scalars(select(RecurrenceMember))}
    assert reasons - {"first incident of the group"}
    assert all(r.startswith("same message") and "service" in r for r in reasons - {"first incident of the group"})


def test_tickets_worded_differently_group_and_stars_do_not_chain(db):
    vpn = [
        add(db, 0, "VPN tunnel down", service="vpn", description="The office VPN tunnel dropped for all users"),
        add(db, 5, "VPN tunnel is down", service="vpn", description="The office VPN tunnel dropped for all users again"),
        add(db, 9, "VPN tunnel down for all users", service="vpn", description="The office VPN tunnel dropped"),
    ]
    other = add(db, 7, "Printer jammed", service="print", description="The printer on floor two is jammed")
    run_scan(db_session=db, mode="full")
    assert list(groups(db).values()) == [set(vpn)]
    reasons = {db.get(RecurrenceMember, i).reason for i in vpn}
    assert any(r.startswith("similar message (text 0.") for r in reasons)
    assert other not in set(vpn)


def test_noise_does_not_group(db):
    rng = random.Random(7)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
    titles = []
    while len(titles) < 60:  # different messages: the same words in the same order would be one message
        title = " ".join(rng.sample(words, 3))
        if title not in titles:
            titles.append(title)
    for n, title in enumerate(titles):
        add(
            db, rng.uniform(0, 30 * DAY), f"{title} {n}",
            category=f"cat-{n}", service=f"svc-{n}", assignment_group=f"team-{n % 7}",
        )
    result = run_scan(db_session=db, mode="full")
    assert groups(db) == {} and result.problems_opened == []


def test_far_apart_incidents_that_share_only_a_category_do_not_group(db):
    for d, title in enumerate(["Password reset", "New laptop request", "Mailbox quota raise", "Badge lost",
                                "Monitor flickers"]):
        add(db, d * DAY, title, category="access", assignment_group="desk")
    run_scan(db_session=db, mode="full")
    assert groups(db) == {}


def test_incremental_scans_build_the_same_groups_as_a_full_scan(db):
    first = [add(db, m, "Payment API 502 errors", service="payments", fingerprint="fp-pay") for m in (0, 4)]
    said = "Users in the office cannot reach the VPN"
    other = [add(db, 600 + m, "VPN tunnel down", service="vpn", category="network", description=said) for m in (0, 3)]
    assert run_scan(db_session=db, mode="incremental").mode == "full"  # first scan ever
    later = [add(db, DAY + m, "Payment API 502 errors", service="payments", fingerprint="fp-pay") for m in (0, 1)]
    bridge = add(db, 610, "VPN tunnel down again", service="vpn", category="network", description=said)
    lone = add(db, 3 * DAY, "Badge reader broken", category="facilities")
    result = run_scan(db_session=db, mode="incremental")
    assert result.mode == "incremental" and result.incidents_new == 4
    assert result.incidents_considered == 8  # all of them: every new one is within reach of the old
    incremental = groups(db)
    assert incremental == {f"rec-{first[0]}": set(first + later), f"rec-{other[0]}": set(other + [bridge])}
    assert lone not in set().union(*incremental.values())
    again = run_scan(db_session=db, mode="incremental")
    assert again.incidents_new == 0 and groups(db) == incremental
    run_scan(db_session=db, mode="full")
    assert groups(db) == incremental


def test_a_new_incident_that_bridges_two_groups_merges_them(db):
    fields = dict(category="database", subcategory="replication", assignment_group="dba")
    left = [add(db, m, "Replica lag on orders db", **fields) for m in (0, 1)]
    right = [add(db, 50 + m, "Replica lag on orders db", **fields) for m in (0, 1)]
    config = ScanConfig(message_window_days=30 / DAY)  # the same message 30 minutes apart starts anew
    run_scan(db_session=db, mode="full", config=config)
    assert groups(db) == {f"rec-{left[0]}": set(left), f"rec-{right[0]}": set(right)}
    bridge = add(db, 25, "Replica lag on orders db", **fields)
    run_scan(db_session=db, mode="incremental", config=config)
    assert groups(db) == {f"rec-{left[0]}": set(left + right + [bridge])}
    run_scan(db_session=db, mode="full", config=config)
    assert groups(db) == {f"rec-{left[0]}": set(left + right + [bridge])}


def test_scanning_an_empty_database_records_the_run(db):
    from problemflow.models.recurrence import ScanRun

    first = run_scan(db_session=db)
    second = run_scan(db_session=db)
    assert (first.mode, first.incidents_new, second.mode, second.incidents_new) == ("full", 0, "incremental", 0)
    runs = db.scalars(select(ScanRun).order_by(ScanRun.id)).all()
    assert [(r.mode, r.status, r.watermark) for r in runs] == [("full", "finished", 0), ("incremental", "finished", 0)]
    assert all(r.finished_at is not None and r.duration_seconds is not None for r in runs)


def test_a_failed_scan_keeps_nothing_but_a_failed_run(db, monkeypatch):
    import pytest

    import problemflow.tasks.recurrence as recurrence
    from problemflow.models.recurrence import RecurrenceGroup, ScanRun
    from problemflow.tasks.recurrence.run import scan

    for m in (0, 1, 2):
        add(db, m, "Login page 500", service="sso", fingerprint=f"fp-{m}", category="auth", assignment_group="iam")
    db.commit()

    def broken(*args, **kwargs):
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr(recurrence, "write_full", broken)
    with pytest.raises(RuntimeError):
        scan("full")
    db.expire_all()
    runs = db.scalars(select(ScanRun)).all()
    assert [(r.status, r.error) for r in runs] == [("failed", "RuntimeError: disk I/O error")]
    assert db.scalars(select(RecurrenceGroup)).all() == []
    monkeypatch.undo()
    assert scan("incremental").mode == "full"  # a failed run sets no watermark


def test_an_incremental_scan_finds_a_message_last_seen_months_ago(db):
    old = [add(db, m, "Certificate for api.example.com expires in 3 days", service="edge") for m in (0, 2)]
    run_scan(db_session=db, mode="full")
    later = add(db, 120 * DAY, "Certificate for api.example.com expires in 5 days", service="edge")
    result = run_scan(db_session=db, mode="incremental")
    assert result.incidents_considered == 2  # the new one and the latest earlier one with its message
    assert groups(db) == {f"rec-{old[0]}": set(old + [later])}
    reason = db.get(RecurrenceMember, later).reason
    assert reason.startswith("same message, 120.0 days apart"), reason


def test_a_title_with_no_word_left_is_not_a_message(db):
    bare = [add(db, m, f"10.0.0.{m}") for m in (1, 2, 3)]
    run_scan(db_session=db, mode="full")
    assert not set(bare) & set().union(*groups(db).values())


def test_the_service_split_is_a_setting(db, monkeypatch):
    from problemflow.models.settings import get_settings

    web = [add(db, d, "Disk full on /var", service="web") for d in range(2)]
    mail = [add(db, d + 5, "Disk full on /var", service="mail") for d in range(2)]
    monkeypatch.setenv("PROBLEMFLOW_RECURRENCE_SPLIT_BY_SERVICE", "true")
    get_settings.cache_clear()
    try:
        run_scan(db_session=db, mode="full", config=ScanConfig.from_settings())
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert sorted(groups(db).values(), key=min) == [set(web), set(mail)]
