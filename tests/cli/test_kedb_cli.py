"""``problemflow kedb import | add | search --json``: published known errors, once each, found at once."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from problemflow.cli import app
from problemflow.models.settings import get_settings

KEDB_CSV = (
    "title,symptoms,root_cause,workaround,service,category,keywords,labels\n"
    "Orders database disk fills with WAL files,disk full on orders-db,archive_command fails silently,"
    'delete WAL segments already backed up,orders,database,"disk full; WAL",'
    '"{""team"": ""dba""}"\n'
    "TLS certificate expired on the gateway,handshake failures,renewal job disabled,renew by hand,gateway,"
    "security,tls,\n"
)
TITLE = "Orders database disk fills with WAL files"


def test_import_publishes_once_and_a_second_import_creates_nothing(cli, tmp_path):
    path = tmp_path / "kedb.csv"
    path.write_text(KEDB_CSV)
    first = cli.json("kedb", "import", str(path))
    assert (first["rows"], first["imported"], first["already_present"], first["bad"]) == (2, 2, 0, 0)
    listed = cli.json("kedb", "list")
    assert {k["state"] for k in listed} == {"published"}
    orders = next(k for k in listed if k["title"] == TITLE)
    assert orders["workaround"] == "delete WAL segments already backed up"
    assert orders["root_cause"] == "archive_command fails silently"
    assert orders["signature"]["services"] == ["orders"]
    assert orders["signature"]["keywords"] == ["disk full", "WAL"]
    assert orders["signature"]["labels"] == {"team": "dba"}

    again = cli("kedb", "import", str(path))
    assert again.stdout.strip() == f"{path}: 2 rows read: 0 known errors imported, 2 already present, 0 bad"
    assert len(cli.json("kedb", "list")) == 2


def test_jsonl_import_bad_rows_refuse_everything_unless_skip_bad(cli, tmp_path):
    path = tmp_path / "kedb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"title": "Search index stale", "workaround": "reindex", "keywords": ["stale index", "search"],
         "labels": {"job": "indexer", "shards": 4}, "service": "search"},
        {"title": "Nothing known yet", "symptoms": "it is slow"},
        {"workaround": "no title"},
    ]) + "\n")
    refused = cli("kedb", "import", str(path), check=False)
    assert refused.returncode == 2
    assert "line 2: root_cause and workaround are both empty" in refused.stderr
    assert "line 3: title: empty" in refused.stderr
    assert cli.json("kedb", "list") == []

    kept = cli.json("kedb", "import", str(path), "--skip-bad")
    assert (kept["imported"], kept["bad"]) == (1, 2)
    (stale,) = cli.json("kedb", "list")
    assert stale["signature"]["labels"] == {"job": "indexer", "shards": "4"}
    assert stale["signature"]["keywords"] == ["stale index", "search"]


def test_add_creates_one_published_known_error_and_a_duplicate_says_so(cli):
    args = ("kedb", "add", "--title", "Printer queue jams", "--root-cause", "spooler leaks handles",
            "--workaround", "restart the spooler", "--service", "Office", "--keyword", "printer queue",
            "--label", "site=hq")
    created = cli.json(*args)
    assert created["created"] is True and created["state"] == "published"
    assert created["signature"]["keywords"] == ["printer queue"] and created["signature"]["labels"] == {"site": "hq"}
    again = cli("kedb", "add", "--title", "Printer queue jams", "--workaround", "other", "--service", "office")
    assert again.returncode == 0
    assert again.stdout.strip() == f"{created['number']} already exists (published): Printer queue jams; nothing added"
    other_service = cli.json("kedb", "add", "--title", "Printer queue jams", "--workaround", "x", "--service", "lab")
    assert other_service["created"] is True and other_service["number"] != created["number"]
    assert len(cli.json("kedb", "list")) == 2

    nothing = cli("kedb", "add", "--title", "Unexplained", check=False)
    assert nothing.returncode == 2 and "--root-cause or --workaround" in nothing.stderr


def _attach_is_the_threshold(matches: list[dict]) -> None:
    threshold = get_settings().kedb_attach_score
    for match in matches:
        assert {"number", "title", "score", "signals", "attach"} <= set(match)
        assert isinstance(match["attach"], bool)
        assert match["attach"] == (match["score"] >= threshold)


def test_search_json_says_whether_response_would_attach(cli, tmp_path):
    path = tmp_path / "kedb.csv"
    path.write_text(KEDB_CSV)
    cli("kedb", "import", str(path))
    exact = cli.json("kedb", "search", TITLE, "--service", "orders")
    _attach_is_the_threshold(exact)
    assert exact[0]["title"] == TITLE and exact[0]["attach"] is True
    unrelated = cli.json("kedb", "search", "coffee machine out of beans", "--service", "orders")
    _attach_is_the_threshold(unrelated)
    assert unrelated and unrelated[0]["title"] == TITLE and unrelated[0]["attach"] is False


def test_imported_known_error_is_found_in_the_same_process(clean_db, tmp_path):
    runner = CliRunner()
    before = runner.invoke(app, ["kedb", "search", TITLE, "--json"])  # builds this process's index
    assert before.exit_code == 0 and json.loads(before.stdout) == []
    path = tmp_path / "kedb.csv"
    path.write_text(KEDB_CSV)
    imported = runner.invoke(app, ["kedb", "import", str(path), "--json"])
    assert imported.exit_code == 0, imported.output
    after = runner.invoke(app, ["kedb", "search", TITLE, "--json"])
    matches = json.loads(after.stdout)
    _attach_is_the_threshold(matches)
    assert matches[0]["title"] == TITLE
