"""The ``problemflow`` command through its installed entry point."""

from __future__ import annotations


def test_incident_open_then_list_json_round_trips(cli):
    opened = cli.json(
        "incident", "open", "--title", "Checkout returns 502", "--description", "since 09:10",
        "--impact", "high", "--urgency", "medium", "--service", "shop", "--category", "Network",
        "--owner", "ana", "--group", "web-ops",
    )
    listed = cli.json("incident", "list")
    assert isinstance(listed, list) and len(listed) == 1
    row = listed[0]
    assert row["number"] == opened["number"] == "INC0000001"
    assert (row["title"], row["service"], row["owner"], row["assignment_group"]) == (
        "Checkout returns 502", "shop", "ana", "web-ops",
    )
    assert row["priority"] == "2-high" and row["state"] == "new"
    assert row["source"] == "service_desk"


def test_incident_list_limit_and_table(cli):
    for n in range(3):
        cli("incident", "open", "--title", f"Alert {n}")
    assert [r["title"] for r in cli.json("incident", "list", "--limit", "2")] == ["Alert 2", "Alert 1"]
    table = cli("incident", "list").stdout
    assert "INC0000003" in table and "Alert 0" in table


def test_incident_show_text_and_json(cli):
    cli("incident", "open", "--title", "VPN drops")
    assert cli.json("incident", "show", "INC0000001")["title"] == "VPN drops"
    assert "VPN drops" in cli("incident", "show", "1").stdout


def test_bad_arguments_give_one_line_and_nonzero_exit(cli):
    result = cli("incident", "open", "--title", "x", "--impact", "huge", check=False)
    assert result.returncode == 2
    assert "--impact" in result.stderr and "Traceback" not in result.stderr

    result = cli("incident", "open", "--title", "   ", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: title: Value error, title must not be blank"

    result = cli("incident", "show", "INC0000042", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: incident INC0000042 not found"

    result = cli("incident", "list", "--limit", "0", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_problem_open_links_incidents_and_shows_them(cli):
    cli("incident", "open", "--title", "Disk full on db1")
    cli("incident", "open", "--title", "Disk full on db1 again")
    problem = cli.json(
        "problem", "open", "--statement", "Database disks fill up",
        "--incident", "INC0000001", "--incident", "2", "--impact", "high", "--urgency", "high",
    )
    assert problem["number"] == "PRB0000001" and problem["priority"] == "1-critical"
    shown = cli.json("problem", "show", "PRB0000001")
    assert [l["incident_id"] for l in shown["incidents"]] == [1, 2]
    assert cli.json("problem", "list")[0]["statement"] == "Database disks fill up"
    assert "Linked incidents" in cli("problem", "show", "1").stdout


def test_problem_open_with_missing_incident_fails_and_stores_nothing(cli):
    result = cli("problem", "open", "--statement", "x", "--incident", "INC0000077", check=False)
    assert result.returncode == 1 and "incident INC0000077 not found" in result.stderr
    assert cli.json("problem", "list") == []


def test_kedb_list_and_show(cli, clean_db):
    from problemflow.models.db import session_scope
    from problemflow.models.kedb import KnownErrorCreate
    from problemflow.models.services import kedb

    with session_scope(clean_db) as session:
        kedb.create(db_session=session, known_error_in=KnownErrorCreate(title="TLS cert expired", workaround="renew"))
    listed = cli.json("kedb", "list")
    assert [k["number"] for k in listed] == ["KE0000001"]
    assert cli.json("kedb", "show", "KE0000001")["workaround"] == "renew"
    assert cli("kedb", "show", "KE9", check=False).returncode == 1


def test_db_upgrade_reports_revision(cli):
    result = cli("db", "upgrade")
    assert "is at" in result.stdout


def test_unreachable_database_is_one_line(cli):
    cli.env["PROBLEMFLOW_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = cli("incident", "list", check=False)
    assert result.returncode == 3
    assert result.stderr.startswith("error: the database cannot be reached")
    assert "Traceback" not in result.stderr


def test_actor_is_one_line_of_at_most_120_characters(cli, clean_db):
    from sqlalchemy import select

    from problemflow.models.audit import AuditEvent
    from problemflow.models.db import session_scope

    for bad, why in (("x" * 121, "at most 120 characters"), ("ana\x1b[2J", "control characters"),
                     ("   ", "at least 1 character")):
        result = cli("incident", "open", "--title", "Disk full", "--actor", bad, check=False)
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and "--actor" in line and why in line and "\x1b" not in line, line
    assert cli.json("incident", "list") == []  # nothing was stored for a refused actor

    cli("incident", "open", "--title", "Disk full", "--actor", "  ana@service-desk  ")
    with session_scope(clean_db) as db_session:
        assert db_session.scalars(select(AuditEvent.actor)).all() == ["ana@service-desk"]
