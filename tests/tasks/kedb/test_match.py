"""KEDB matching: ranking, the signals reported, eligibility and index freshness."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from problemflow.models.base import utcnow
from problemflow.models.enums import KnownErrorState
from problemflow.models.incident import IncidentCreate
from problemflow.models.kedb import KnownErrorCreate, Signature
from problemflow.models.services import incidents, kedb
from problemflow.tasks.kedb.match import match_incident, search, search_brute_force


def known_error(db_session, title, state=KnownErrorState.published, symptoms="", **signature):
    record = kedb.create(
        db_session=db_session,
        known_error_in=KnownErrorCreate(title=title, symptoms=symptoms, signature=Signature(**signature)),
    )
    if state != KnownErrorState.draft:
        kedb.transition(db_session=db_session, known_error=record, to_state=KnownErrorState.published)
    if state in (KnownErrorState.fixed, KnownErrorState.retired):
        kedb.transition(db_session=db_session, known_error=record, to_state=state)
    db_session.commit()
    return record


@pytest.fixture
def crafted(db_session):
    """A small KEDB where, for each query, one known error is the right answer."""
    return {
        "disk": known_error(
            db_session, "Log partition fills up on database hosts",
            symptoms="The /var/log filesystem reaches 100% and postgres stops writing",
            labels={"alertname": "NodeFilesystemAlmostOutOfSpace", "job": "node"},
            services=["orders-db"], category="Infrastructure", subcategory="Storage",
            keywords=["log partition", "/var/log", "logrotate"],
        ),
        "disk_other": known_error(
            db_session, "Disk fills with core dumps on build agents",
            symptoms="Disk full on CI build agents after crashing test runs",
            labels={"alertname": "NodeFilesystemAlmostOutOfSpace", "job": "ci"},
            services=["ci"], category="Infrastructure", subcategory="Storage",
            keywords=["core dump", "build agent"],
        ),
        "cert": known_error(
            db_session, "Ingress certificate not renewed by cert-manager",
            symptoms="Browsers show certificate expired for shop.example.com",
            fingerprints=["fp-cert-1"], category="Security", keywords=["cert-manager", "certificate expired"],
        ),
        "replication": known_error(
            db_session, "Replica lags after nightly vacuum",
            symptoms="Replication lag grows to minutes during the vacuum window",
            labels={"alertname": "PostgresqlReplicationLag"}, keywords=["replication lag", "vacuum"],
        ),
        "retired": known_error(
            db_session, "Log partition fills up on database hosts (old)",
            state=KnownErrorState.retired,
            symptoms="The /var/log filesystem reaches 100% and postgres stops writing",
            labels={"alertname": "NodeFilesystemAlmostOutOfSpace", "job": "node"},
            services=["orders-db"], keywords=["log partition", "/var/log"],
        ),
        "draft": known_error(
            db_session, "Certificate expired again", state=KnownErrorState.draft,
            fingerprints=["fp-cert-1"], keywords=["certificate expired"],
        ),
        "fixed": known_error(
            db_session, "Checkout returns 502 when the payment gateway times out",
            state=KnownErrorState.fixed, symptoms="HTTP 502 on checkout during gateway slowness",
            services=["shop"], keywords=["502", "payment gateway"],
        ),
    }


def test_the_right_known_error_comes_first(db_session, crafted):
    found = search(
        db_session=db_session,
        text="Disk almost full on orders-db-1: /var/log at 97%",
        labels={"alertname": "NodeFilesystemAlmostOutOfSpace", "job": "node", "severity": "critical"},
        service="orders-db",
    )
    assert found[0].known_error_id == crafted["disk"].id
    assert set(found[0].signals) >= {"labels", "service", "keywords", "text"}
    assert found[0].score > 0.8
    # same alert name but another job and service: counted as evidence against
    other = next(m for m in found if m.known_error_id == crafted["disk_other"].id)
    assert other.score < found[0].score / 2


def test_fingerprint_alone_is_enough(db_session, crafted):
    found = search(db_session=db_session, fingerprint="fp-cert-1")
    assert [m.known_error_id for m in found] == [crafted["cert"].id]
    assert found[0].signals == {"fingerprint": 0.95} and found[0].number == f"KE{crafted['cert'].id:07d}"


def test_text_only_finds_by_similarity(db_session, crafted):
    found = search(db_session=db_session, text="replication lag on the replica after vacuum")
    assert found[0].known_error_id == crafted["replication"].id
    assert "keywords" in found[0].signals and "text" in found[0].signals


def test_retired_and_draft_never_match_and_fixed_is_flagged(db_session, crafted):
    everything = search(
        db_session=db_session, text="log partition /var/log certificate expired 502 payment gateway",
        fingerprint="fp-cert-1", top=50,
    )
    ids = {m.known_error_id for m in everything}
    assert crafted["retired"].id not in ids and crafted["draft"].id not in ids
    fixed = next(m for m in everything if m.known_error_id == crafted["fixed"].id)
    assert fixed.fixed and fixed.state == KnownErrorState.fixed


def test_nothing_relevant_returns_nothing(db_session, crafted):
    assert search(db_session=db_session, text="printer toner") == []
    assert search(db_session=db_session) == []
    with pytest.raises(ValueError, match="top must be at least 1"):
        search(db_session=db_session, text="x", top=0)


def test_index_follows_kedb_changes(db_session, crafted):
    query = {"text": "Ingress certificate not renewed by cert-manager"}
    assert search(db_session=db_session, **query)[0].known_error_id == crafted["cert"].id
    kedb.transition(db_session=db_session, known_error=crafted["cert"], to_state=KnownErrorState.retired)
    db_session.commit()
    assert crafted["cert"].id not in {m.known_error_id for m in search(db_session=db_session, **query)}
    new = known_error(db_session, "Wildcard certificate missing from the load balancer",
                      keywords=["wildcard certificate"])
    assert search(db_session=db_session, text="wildcard certificate")[0].known_error_id == new.id
    new.valid_until = utcnow() - timedelta(days=1)
    db_session.commit()
    assert new.id not in {m.known_error_id for m in search(db_session=db_session, text="wildcard certificate")}


def test_hit_counters_do_not_rebuild_the_index(db_session, crafted):
    from problemflow.tasks.kedb.index import get_index

    first = get_index(db_session)
    incident = incidents.create(db_session=db_session, incident_in=IncidentCreate(title="x"))
    kedb.link_incident(db_session=db_session, known_error=crafted["cert"], incident_id=incident.id, score=0.9)
    db_session.commit()
    assert get_index(db_session) is first


def test_match_incident_uses_everything_known_about_it(db_session, crafted):
    incident = incidents.create(
        db_session=db_session,
        incident_in=IncidentCreate(
            title="Replication lag high", labels={"alertname": "PostgresqlReplicationLag"},
            source="alertmanager",
        ),
    )
    db_session.commit()
    found = match_incident(db_session=db_session, incident_id=incident.number, top=1)
    assert [m.known_error_id for m in found] == [crafted["replication"].id]


def test_index_and_brute_force_agree(db_session):
    rng = random.Random(7)
    vocabulary = ("disk full memory leak cpu spike certificate expired replication lag timeout "
                  "dns failure backup missed pod crash queue backlog").split()
    services = ["shop", "orders-db", "search", "mail", "vpn"]
    for n in range(60):
        known_error(
            db_session, " ".join(rng.sample(vocabulary, 4)) + f" #{n}",
            symptoms=" ".join(rng.sample(vocabulary, 6)),
            labels={"alertname": rng.choice(["A", "B", "C"]), "job": rng.choice(["x", "y"])},
            services=rng.sample(services, rng.randint(0, 2)),
            category=rng.choice([None, "Infrastructure", "Application"]),
            keywords=[" ".join(rng.sample(vocabulary, 2)) for _ in range(rng.randint(0, 3))],
            fingerprints=[f"fp-{n}"] if n % 7 == 0 else [],
            state=rng.choice([KnownErrorState.published, KnownErrorState.fixed]),
        )
    for _ in range(25):
        query = {
            "text": " ".join(rng.sample(vocabulary, 5)),
            "labels": {"alertname": rng.choice(["A", "B", "C"]), "job": rng.choice(["x", "y", "z"])},
            "service": rng.choice(services + [None]),
            "category": rng.choice([None, "infrastructure"]),
            "fingerprint": rng.choice([None, "fp-14"]),
        }
        fast = search(db_session=db_session, top=8, **query)
        slow = search_brute_force(db_session=db_session, top=8, **query)
        assert [m.score for m in fast] == pytest.approx([m.score for m in slow], abs=1e-3)
        assert [m.known_error_id for m in fast][:3] == [m.known_error_id for m in slow][:3]
