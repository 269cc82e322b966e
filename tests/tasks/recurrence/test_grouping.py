"""Grouping on small crafted cases, through ``run_scan`` on the real database."""

from __future__ import annotations

import random

from sqlalchemy import select

from problemflow.models.recurrence import RecurrenceMember
from problemflow.tasks.recurrence import run_scan

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
    assert "fingerprint" in member.reason and member.reason.startswith("burst")


def test_the_same_symptom_on_two_services_does_not_merge(db):
    web = [add(db, d * DAY, "Disk full on /var", service="web", symptom="disk full", category="storage") for d in range(3)]
    mail = [add(db, d * DAY + 300, "Disk full on /var", service="mail", symptom="disk full", category="storage") for d in range(3)]
    run_scan(db_session=db, mode="full")
    assert sorted(groups(db).values(), key=min) == [set(web), set(mail)]
    reasons = {m.reason for m in db.scalars(select(RecurrenceMember))}
    assert all(r.startswith("recurrence") and "service" in r for r in reasons)


def test_noise_does_not_group(db):
    rng = random.Random(7)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
    for n in range(60):
        add(
            db, rng.uniform(0, 30 * DAY), " ".join(rng.sample(words, 3)) + f" {n}",
            category=f"cat-{n}", service=f"svc-{n}", assignment_group=f"team-{n % 7}",
        )
    result = run_scan(db_session=db, mode="full")
    assert groups(db) == {} and result.problems_opened == []


def test_far_apart_incidents_that_share_only_a_category_do_not_group(db):
    for d in range(5):
        add(db, d * DAY, f"Password reset for user {d}", category="access", assignment_group="desk")
    run_scan(db_session=db, mode="full")
    assert groups(db) == {}


def test_incremental_scans_build_the_same_groups_as_a_full_scan(db):
    first = [add(db, m, "Payment API 502 errors", service="payments", fingerprint="fp-pay") for m in (0, 4)]
    other = [add(db, 600 + m, "VPN tunnel down", service="vpn", category="network") for m in (0, 3)]
    assert run_scan(db_session=db, mode="incremental").mode == "full"  # first scan ever
    later = [add(db, DAY + m, "Payment API 502 errors", service="payments", fingerprint="fp-pay") for m in (0, 1)]
    bridge = add(db, 610, "VPN tunnel down again", service="vpn", category="network")
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
    run_scan(db_session=db, mode="full")
    assert groups(db) == {f"rec-{left[0]}": set(left), f"rec-{right[0]}": set(right)}
    bridge = add(db, 25, "Replica lag on orders db", **fields)
    run_scan(db_session=db, mode="incremental")
    assert groups(db) == {f"rec-{left[0]}": set(left + right + [bridge])}
    run_scan(db_session=db, mode="full")
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
