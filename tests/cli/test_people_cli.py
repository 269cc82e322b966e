"""``problemflow people``, run as a person runs it."""

from __future__ import annotations

import json

import pyotp


def test_people_are_added_enrolled_listed_and_disabled(cli):
    added = cli.json("people", "add", "mia", "--role", "problem_manager", "--display-name", "Mia Chen")
    assert added == {"name": "mia", "display_name": "Mia Chen", "roles": ["problem_manager"], "notify_urls": [],
                     "enabled": True, "enrolled_at": None}
    enrolled = cli("people", "enroll", "mia").stdout
    uri = next(line for line in enrolled.splitlines() if line.startswith("otpauth://"))
    totp = pyotp.parse_uri(uri)
    assert totp.name == "mia" and totp.issuer == "problemflow" and len(totp.secret) >= 32
    assert "█" in enrolled  # the QR code, drawn for an authenticator app
    shown = cli("people", "show", "mia", "--json").stdout
    assert totp.secret not in shown and json.loads(shown)["enrolled_at"]
    assert totp.secret not in cli("people", "list").stdout
    cli("people", "disable", "mia")
    assert cli.json("people", "list") [0]["enabled"] is False


def test_people_commands_refuse_bad_input_in_one_line(cli):
    cases = {
        ("people", "add", "Mia Chen"): 2,             # not a user name
        ("people", "add", "eve", "--role", "root"): 2,  # no such role
        ("people", "add", "eve", "--notify", "not a url"): 2,
        ("people", "show", "nobody"): 1,
        ("people", "enroll", "nobody"): 1,
        ("people", "disable", "nobody"): 1,
    }
    cli("people", "add", "bob", "--role", "change_approver")
    cases[("people", "add", "bob")] = 1  # exists already
    for args, code in cases.items():
        done = cli(*args, check=False)
        assert done.returncode == code, (args, done.returncode, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 or "Usage" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)


def test_roles_setting_seeds_people_who_still_need_to_enrol(cli):
    cli.env["PROBLEMFLOW_ROLES"] = json.dumps({"problem_manager": ["ann"], "change_approver": ["cab"]})
    listed = {p["name"]: (p["roles"], p["enrolled_at"]) for p in cli.json("people", "list")}
    assert listed == {"ann": (["problem_manager"], None), "cab": (["change_approver"], None)}
