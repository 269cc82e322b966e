"""Hostile values in through every door, out through every writer, never live.

Doors: the HTTP intake (generic JSON and the Alertmanager webhook, on a real server), the
service-desk form (the open-incident flow's parameters, then its steps) and the
ServiceNow import. Writers: the database, the CLI (tables, records, JSON), problem
documents and gate briefs (Markdown and HTML: files and Prefect artifacts), the incident
response summary (an artifact), the board and the KPI report (HTML, Markdown, CSV), and
``scan --out``. Documents are rendered by their functions on the real database; one path
goes all the way from the intake's socket to the CLI and a report.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from problemflow.models.db import session_scope
from problemflow.models.incident import Incident
from problemflow.models.problem import Problem
from tests.hostile.checks import (
    FORMULA, FORMULAS, JINJA, LINKS, MARKUP, MEGABYTE, NUL, TEXT, TITLE, TRAVERSAL, csv_safe, html_safe,
    jinja_shown, markdown_safe, markup_shown, terminal_safe,
)
from tests.intake.conftest import TOKEN, alertmanager_payload, intake_settings, serve_intake


class InProcessCli:
    """``problemflow`` run through its entry point in this process (as the command-walking
    test does): the same code and output as the installed command, without three seconds of
    start-up per call. The intake test keeps the real command, in its own process."""

    def __init__(self, capsys, monkeypatch):
        self.capsys, self.monkeypatch = capsys, monkeypatch
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        monkeypatch.delenv("PROBLEMFLOW_NOTIFY_URLS", raising=False)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        from problemflow.cli import main

        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "argv", ["problemflow", *args])
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code
        out, err = self.capsys.readouterr()
        if check and code != 0:
            raise AssertionError(f"problemflow {' '.join(args)} failed: {err}")
        return subprocess.CompletedProcess(args, code, out, err)

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def quick_cli(clean_db, capsys, monkeypatch) -> InProcessCli:
    return InProcessCli(capsys, monkeypatch)


def _stored_text(db_url: str) -> list[str]:
    """Every text of every incident and problem, labels included, as stored."""
    with session_scope(db_url) as db:
        texts = [json.dumps([i.title, i.description, i.service, i.category, i.subcategory, i.assignment_group,
                             i.labels], ensure_ascii=False) for i in db.scalars(select(Incident))]
        texts += [json.dumps([p.statement, p.description], ensure_ascii=False) for p in db.scalars(select(Problem))]
    return texts


def _no_nul_stored(db_url: str) -> None:
    stored = _stored_text(db_url)
    assert stored and not [t for t in stored if "\x00" in t], "NUL stored"


def _report(cli, out: Path) -> dict[str, str]:
    """``report kpi`` over yesterday and today; its three files by suffix."""
    today = date.today()
    cli("report", "kpi", "--from", str(today - timedelta(days=1)), "--to", str(today), "--out", str(out))
    return {path.suffix: path.read_text(encoding="utf-8") for path in out.iterdir()}


def _check_report(files: dict[str, str], where: str) -> list[str]:
    cells = csv_safe(files[".csv"], f"{where} KPI CSV")
    markdown_safe(files[".md"], f"{where} KPI Markdown")
    html_safe(files[".html"], f"{where} KPI HTML")
    return cells


def _open_problem(cli, numbers: list[str]) -> str:
    # (a command line cannot carry NUL: the OS ends an argument there)
    args = ["problem", "open", "--statement", TITLE.replace("\x00", ""), "--description", TEXT.replace("\x00", ""),
            "--owner", MARKUP]
    for number in numbers:
        args += ["--incident", number]
    return cli.json(*args)["number"]


def _check_problem_outputs(cli, number: str, where: str) -> None:
    """The problem through the CLI, its documents and gate brief, and the board."""
    from problemflow.tasks.problem.brief import gate_brief
    from problemflow.tasks.problem.dossier import render_documents
    from problemflow.tasks.reporting.board import build_board, render_board_html, render_board_markdown

    shown = cli("problem", "show", number).stdout
    terminal_safe(shown, f"{where} problem show")
    markup_shown(shown, f"{where} problem show")
    with session_scope() as db:
        problem_id = db.scalar(select(Problem.id).where(Problem.statement == TITLE.replace("\x00", "")))
        documents = render_documents(db_session=db, problem_id=problem_id, names=["kickoff", "incident-log"])
        brief = gate_brief(db_session=db, problem_id=problem_id, gate="root-cause")
        board = build_board(db_session=db)
    for doc in documents:
        html = markdown_safe(doc.markdown, f"{where} {doc.name} Markdown (file and artifact)")
        jinja_shown(html, f"{where} {doc.name} Markdown")
        html_safe(doc.html, f"{where} {doc.name} HTML")
        jinja_shown(doc.html, f"{where} {doc.name} HTML")
    markdown_safe(brief, f"{where} root-cause gate brief")
    html_safe(render_board_html(board), f"{where} board HTML")
    markdown_safe(render_board_markdown(board), f"{where} board Markdown")
    board_out = cli("board").stdout
    terminal_safe(board_out, f"{where} board")


def test_alerts_through_the_intake_end_as_text_everywhere(cli, clean_db, tmp_path):
    generic = {"alerts": [
        {"title": TITLE, "service": FORMULA, "description": TEXT, "severity": "critical",
         "labels": {"alertname": "=1+1", "team": MARKUP, "instance": f"db1{NUL}", "job": LINKS[0]}},
        {"title": f"{JINJA[0]} second", "service": FORMULA, "labels": {"alertname": "@SUM(1+1)", "category": LINKS[1]}},
    ]}
    webhook = alertmanager_payload({
        "fingerprint": "f00d",
        "labels": {"alertname": "+cmd|' /C calc'!A0", "service": "-2+3", "instance": f"{ESC_LABEL}"},
        "annotations": {"summary": TITLE, "description": MEGABYTE + NUL},
    })
    with serve_intake(intake_settings(clean_db)) as url:
        import httpx

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
            for path, body in (("/v1/alerts/generic", generic), ("/v1/alerts/alertmanager", webhook)):
                answer = client.post(path, json=body)
                assert answer.status_code == 200, answer.text
            too_big = client.post("/v1/alerts/generic", json={"alerts": [{"title": "x", "description": MEGABYTE}]})
            assert too_big.status_code in (413, 422)
    _no_nul_stored(clean_db)

    listed = cli("incident", "list").stdout
    terminal_safe(listed, "incident list")
    records = cli.json("incident", "list")
    assert len(records) == 3 and any(r["service"] == FORMULA for r in records)
    numbers = [r["number"] for r in records]
    for number in numbers:
        shown = cli("incident", "show", number).stdout
        terminal_safe(shown, f"incident show {number}")
    markup_shown(cli("incident", "show", next(r["number"] for r in records if r["title"] == TITLE.replace(
        "\x00", ""))).stdout, "incident show")
    raw_json = cli("incident", "list", "--json").stdout
    terminal_safe(raw_json, "incident list --json")

    cells = _check_report(_report(cli, tmp_path / "report"), "intake")
    assert f"'{FORMULA}" in cells, "the service is in the report, as text"

    groups = tmp_path / "groups.csv"
    cli("scan", "--full", "--out", str(groups))
    csv_safe(groups.read_text(encoding="utf-8"), "scan --out")
    terminal_safe(cli("scan", "--groups").stdout, "scan --groups")

    _check_problem_outputs(cli, _open_problem(cli, numbers), "intake")


ESC_LABEL = "\x1b]52;c;ZXZpbA==\x07host"


def test_the_service_desk_form_ends_as_text_everywhere(quick_cli, clean_db, tmp_path):
    cli = quick_cli
    from pydantic import ValidationError

    from problemflow.flows.incidents import OpenIncidentForm
    from problemflow.tasks.incident import respond, triage
    from problemflow.tasks.incident.identify import record
    from problemflow.tasks.incident.summary import summarize

    form_in = {
        "title": TITLE, "description": TEXT, "service": FORMULA, "configuration_item": ESC_LABEL,
        "category": LINKS[1], "subcategory": JINJA[1], "owner": MARKUP, "assignment_group": "@SUM(1+1)",
        "labels": {"severity": "critical", "note": LINKS[4], "path": TRAVERSAL}, "external_ref": f"SD-{NUL}",
    }
    with pytest.raises(ValidationError):  # the form's own bounds hold: no megabyte titles
        OpenIncidentForm.model_validate({**form_in, "title": MEGABYTE})
    form = OpenIncidentForm.model_validate(form_in)
    with session_scope() as db:
        incident = record(db_session=db, incident_in=triage(form.to_create()), key="open-incident-hostile")
        incident_id = incident.id
    with session_scope() as db:
        respond(db_session=db, incident_id=incident_id)
    with session_scope() as db:
        summary = summarize(db_session=db, incident_id=incident_id)
    _no_nul_stored(clean_db)
    html = markdown_safe(summary.markdown, "response summary artifact")
    jinja_shown(html, "response summary artifact")

    [record_json] = cli.json("incident", "list")
    shown = cli("incident", "show", record_json["number"]).stdout
    terminal_safe(shown, "incident show")
    markup_shown(shown, "incident show")
    cli("incident", "open", "--title", "second " + TITLE.replace("\x00", ""), "--service", FORMULA,
        "--category", LINKS[1], "--group", "@SUM(1+1)")
    cells = _check_report(_report(cli, tmp_path / "report"), "service desk")
    assert f"'{FORMULA}" in cells, "the service is in the report, as text"
    _check_problem_outputs(cli, _open_problem(cli, [record_json["number"]]), "service desk")


def test_a_servicenow_export_ends_as_text_everywhere(quick_cli, clean_db, tmp_path):
    cli = quick_cli
    from tests.tasks.test_servicenow import HEADER, event

    today = date.today()
    opened = f"{today.day}/{today.month}/{today.year} 01:00"
    rows = []
    for n, formula in enumerate(FORMULAS):
        number = f"INC{n + 1:07d}"
        rows.append(event(number, "New", 0, opened, opened_at=opened, category=formula,
                          subcategory=LINKS[n % len(LINKS)][:120], u_symptom=f"{JINJA[0]} {ESC_LABEL}",
                          assignment_group=f"@team{NUL}", cmdb_ci=TRAVERSAL, caller_id=MARKUP,
                          resolved_at="?", closed_at="?"))
    buffer = io.StringIO()  # every field quoted, as ServiceNow writes them: a CR inside one is data
    writer = csv.DictWriter(buffer, fieldnames=HEADER, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(buffer.getvalue().encode()))
    done = cli("import", "servicenow", str(path), "--quiet")
    assert f"{len(rows)} created" in done.stdout, done.stdout + done.stderr
    _no_nul_stored(clean_db)
    listed = cli("incident", "list").stdout
    terminal_safe(listed, "incident list")
    numbers = [r["number"] for r in cli.json("incident", "list")]
    shown = cli("incident", "show", numbers[0]).stdout
    terminal_safe(shown, "incident show")
    markup_shown(shown, "incident show")

    cells = _check_report(_report(cli, tmp_path / "report"), "import")
    # (the import collapses white space, so the tab and CR prefixes are gone before the CSV)
    assert "'=1+1" in cells and f"'{FORMULA}" in cells and "'@SUM(1+1)" in cells, cells
    groups = tmp_path / "groups.csv"
    cli("scan", "--full", "--out", str(groups))
    csv_safe(groups.read_text(encoding="utf-8"), "scan --out")
    terminal_safe(cli("scan", "--groups").stdout, "scan --groups")
    _check_problem_outputs(cli, _open_problem(cli, numbers[:3]), "import")
