"""An incident's message template through the command: shown, counted, and written by scan --out."""

from __future__ import annotations

import csv


def test_incident_show_counts_how_often_its_message_recurred(cli):
    for host in ("db-01", "db-07", "db-12"):
        cli("incident", "open", "--title", f"Replication lag 42s on {host}", "--service", "orders")
    cli("incident", "open", "--title", "Printer jammed", "--service", "office")
    shown = cli.json("incident", "show", "INC0000003")
    assert shown["template"] == "Replication lag <*> on db-<*>"
    assert shown["message_count"] == 3 and shown["message_first_seen"]
    assert "this message recurred 3 times since" in cli("incident", "show", "3").stdout
    lone = cli.json("incident", "show", "INC0000004")
    assert lone["message_count"] == 1 and "recurred" not in cli("incident", "show", "4").stdout


def test_scan_out_names_each_incidents_template_and_external_ref(cli, tmp_path):
    for host in ("web-1", "web-2", "web-3"):
        cli("incident", "open", "--title", f"=cmd|' /C calc'!A0 disk 91% full on {host}", "--service", "web")
    out = tmp_path / "groups.csv"
    cli("scan", "--full", "--out", str(out))
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["incident", "external_ref", "group", "template", "reason", "score"]
    assert [r["incident"] for r in rows] == ["INC0000001", "INC0000002", "INC0000003"]
    assert {r["group"] for r in rows} == {"rec-1"}
    # outside text never starts a formula in a spreadsheet
    assert all(r["template"].startswith("'=") for r in rows)
    assert rows[1]["reason"].startswith("same message")
