"""``problemflow incident open/close`` and ``problemflow kedb search`` through the installed command."""

from __future__ import annotations

import json

from problemflow.models.db import session_scope
from problemflow.models.enums import KnownErrorState
from problemflow.models.kedb import KnownErrorCreate, Signature
from problemflow.models.services import kedb


def seed_kedb(url: str) -> None:
    with session_scope(url) as db_session:
        for title, workaround, signature, state in [
            ("Log partition fills up on database hosts", "Run logrotate -f and compress old logs",
             Signature(labels={"alertname": "NodeFilesystemAlmostOutOfSpace"}, services=["orders-db"],
                       keywords=["log partition", "/var/log"]), KnownErrorState.published),
            ("VPN drops every hour for remote staff", "Reconnect with the backup profile",
             Signature(keywords=["vpn drops", "vpn disconnects"], category="Network"), KnownErrorState.published),
            ("VPN drops when the old client is used", "",
             Signature(keywords=["vpn drops"]), KnownErrorState.retired),
        ]:
            record = kedb.create(db_session=db_session, known_error_in=KnownErrorCreate(
                title=title, workaround=workaround, signature=signature))
            kedb.transition(db_session=db_session, known_error=record, to_state=KnownErrorState.published)
            if state == KnownErrorState.retired:
                kedb.transition(db_session=db_session, known_error=record, to_state=state)


def test_kedb_search_json_and_table(cli, clean_db):
    seed_kedb(clean_db)
    found = cli.json("kedb", "search", "disk full in /var/log on orders-db-1",
                     "--label", "alertname=NodeFilesystemAlmostOutOfSpace", "--service", "orders-db")
    assert found[0]["number"] == "KE0000001"
    assert set(found[0]["signals"]) >= {"labels", "service", "keywords"}
    assert all(m["number"] != "KE0000003" for m in cli.json("kedb", "search", "vpn drops"))
    table = cli("kedb", "search", "vpn drops all the time", "--top", "1").stdout
    assert "KE0000002" in table and "keywords" in table and "KE0000001" not in table
    assert cli("kedb", "search", "printer toner").stdout.strip() == "no known error matches"


def test_kedb_search_bad_label_is_one_line(cli, clean_db):
    result = cli("kedb", "search", "x", "--label", "novalue", check=False)
    assert result.returncode == 2 and "'novalue' is not key=value" in result.stderr
    assert "Traceback" not in result.stderr


def test_incident_open_runs_the_steps(cli, clean_db):
    seed_kedb(clean_db)
    opened = cli.json("incident", "open", "--title", "VPN drops for remote staff since this morning",
                      "--label", "severity=critical")
    assert (opened["category"], opened["subcategory"], opened["assignment_group"]) == (
        "Network", "Connectivity", "network")
    assert opened["priority"] == "1-critical"
    response = opened["response"]
    assert response["known_error"]["number"] == "KE0000002" and response["escalated"]
    assert response["workaround"] == "Reconnect with the backup profile"
    assert opened["known_error_id"] == 2 and opened["responded_at"]

    text = cli("incident", "open", "--title", "Printer jam", "--impact", "low").stdout
    assert text.startswith("opened INC0000002 priority 4-low")
    shown = cli.json("incident", "show", "INC0000002")
    assert shown["responded_at"] and shown["known_error_id"] is None


def test_incident_close_refuses_open_dependencies(cli, clean_db):
    cli("incident", "open", "--title", "Switch down")
    from problemflow.models.incident import IncidentCreate
    from problemflow.models.services import incidents

    with session_scope(clean_db) as db_session:
        incidents.create(db_session=db_session, incident_in=IncidentCreate(title="App down", depends_on=[1]))
    refused = cli("incident", "close", "INC0000002", "--code", "fix_applied", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: incident INC0000002 cannot close: it depends on open INC0000001"
    cli("incident", "close", "INC0000001", "--code", "fix_applied", "--notes", "new PSU")
    closed = cli.json("incident", "close", "INC0000002", "--code", "workaround_applied")
    assert closed["state"] == "closed" and closed["code"] == "workaround_applied"
    assert json.loads(cli("incident", "show", "1", "--json").stdout)["resolution_notes"] == "new PSU"


def test_incident_triage_explains_the_rules_and_checks_a_rules_file(cli, tmp_path):
    explained = cli.json(
        "incident", "triage", "--title", "Disk almost full", "--label", "alertname=NodeFilesystemAlmostOutOfSpace",
        "--label", "severity=critical", "--label", "environment=staging", "--label", "team=storage")
    assert (explained["route"], explained["category_rule"], explained["priority_rule"]) == (
        "team label", "disk space", "non-production")
    assert explained["priority"] == "3-moderate" and explained["result"]["assignment_group"] == "storage"
    assert cli.json("incident", "list") == []  # nothing stored

    bad = tmp_path / "rules.toml"
    bad.write_text('[[category]]\nname = "x"\ncategory = "A"\ncolour = 1\n')
    result = cli("incident", "triage", "--title", "x", "--rules", str(bad), check=False)
    assert result.returncode == 1
    assert "rule 'x' ([[category]] #1) field colour: Extra inputs are not permitted" in " ".join(result.stderr.split())
