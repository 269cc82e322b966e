"""Outside text reaches terminals and spreadsheets as text: escape sequences shown, never
run; Rich markup shown as typed; formulas shown as typed, never calculated."""

from __future__ import annotations

import json

from tests.hostile.checks import csv_safe

ESCAPES = "\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\u202e"
TITLE = f"Disk full {ESCAPES} [link=http://evil.example]here[/link] [x]"
FORMULA = '=HYPERLINK("http://evil.example/?x","click")'


def test_titles_with_escape_sequences_and_markup_print_as_text(cli):
    opened = cli.json("incident", "open", "--title", TITLE, "--service", FORMULA, "--category", "+1+1")
    for args in (("incident", "list"), ("incident", "show", opened["number"])):
        out = cli(*args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, args
        assert "\\x1b[2J" in out and "[link=http://evil.example]here[/link]" in out.replace("\n", ""), out
        assert "[x]" in out
    raw = cli("incident", "list", "--json").stdout
    assert "\x1b" not in raw and "\u202e" not in raw
    [listed] = json.loads(raw)
    assert listed["title"] == TITLE.strip()  # the data itself is kept whole for machines


def test_kpi_csv_cells_are_never_formulas(cli, tmp_path):
    from datetime import date, timedelta

    for n in range(2):  # two incidents of the service: it gets a time between failures
        cli("incident", "open", "--title", f"Checkout down {n}", "--service", FORMULA, "--category", "@SUM(1+1)")
    today = date.today()
    out = tmp_path / "report"
    cli("report", "kpi", "--from", str(today - timedelta(days=1)), "--to", str(today), "--out", str(out))
    [path] = out.glob("*.csv")
    cells = csv_safe(path.read_text(encoding="utf-8"), "KPI CSV")
    assert "'@SUM(1+1)" in cells, "the category is reported, as text"
