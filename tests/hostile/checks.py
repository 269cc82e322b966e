"""Hostile values, and the checks that each place they end up shows them as inert text.

Each check fails with what it found and where: a live formula in a CSV cell, a raw
control character in terminal output, a link or raw HTML that a Markdown renderer
would make live, Jinja syntax that was run, an HTML document that lets a tag through.
"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

FORMULA = '=HYPERLINK("http://evil.example/?x","click")'
FORMULAS = ("=1+1", FORMULA, "+1+1", "-1+1", "@SUM(1+1)", "\t=1+1", "\r=1+1")
ESCAPES = "\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\x9b31m\u202e"
MARKUP = "[link=http://evil.example]here[/link] [x]"
LINKS = ("[js](javascript:alert(1))", "[data](data:text/html;base64,PHNjcmlwdD4=)", "![img](javascript:alert(2))",
         "<javascript:alert(3)>", "<a href=\"javascript:alert(4)\">a</a>", "<script>alert(5)</script>",
         "<img src=x onerror=alert(6)>")
JINJA = ("{{ 7*7 }}", "{% for x in range(3) %}LOOP{% endfor %}")
NUL = "nul\x00here"
TRAVERSAL = "../../etc/x"
MEGABYTE = "M" * 1_000_000

# one line holding a bit of everything, short enough for a title (500 characters)
TITLE = f"Disk full {ESCAPES} {MARKUP} {LINKS[0]} {LINKS[3]} {LINKS[5]} {JINJA[0]} {JINJA[1]} {NUL} {TRAVERSAL}"
assert len(TITLE) <= 500
# a long text with every hostile value, each on its own line (Markdown blocks start there)
TEXT = "\n".join(["# heading", "> quote", "- item", "1. item", *FORMULAS, ESCAPES, MARKUP, *LINKS, *JINJA, NUL,
                  TRAVERSAL])

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str, where: str) -> None:
    """Nothing a terminal acts on: no escape, control, C1 or bidirectional character."""
    found = _CONTROL.findall(text.replace("\n", "").replace("\t", ""))
    assert not found, f"{where}: raw {sorted(set(found))!r} in {text[:300]!r}"


def markup_shown(text: str, where: str) -> None:
    """Rich markup appears as typed: the tags are there, not turned into style or links."""
    flat = re.sub(r"\s*[│┃|]\s*", "", text.replace("\n", ""))
    assert "[link=http://evil.example]" in flat and "[/link]" in flat and "[x]" in flat, f"{where}: {text[:2000]!r}"


def csv_safe(data: str, where: str) -> list[str]:
    """No cell a spreadsheet would take as a formula (OWASP: = + - @ tab CR at the start);
    a cell starting with - must be a number. Returns the cells."""
    cells = [cell for row in csv.reader(io.StringIO(data)) for cell in row]
    live = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]
    assert not live, f"{where}: live formulas {live[:5]!r}"
    assert "\x00" not in data, f"{where}: NUL"
    return cells


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


SAFE_SCHEMES = ("http://", "https://", "mailto:", "#")


def html_safe(html: str, where: str, allowed_tags: set[str] | None = None) -> None:
    """No script, no event handler, no link or source but http(s)/mailto, no tag from the
    values (``allowed_tags``: the document's own tags, when known), Jinja never run."""
    for tag, attrs in _tags(html):
        assert tag not in ("script", "iframe", "object", "embed") or not attrs.get("src", "").startswith(
            ("javascript", "data")), f"{where}: {tag} {attrs}"
        assert not [k for k in attrs if k.startswith("on")], f"{where}: event handler on {tag}: {attrs}"
        for key in ("href", "src"):
            value = (attrs.get(key) or "").strip().lower()
            if value:
                assert value.startswith(SAFE_SCHEMES) or not re.match(r"^[a-z][a-z0-9+.-]*:", value), \
                    f"{where}: {tag} {key}={value!r}"
        if allowed_tags is not None:
            assert tag in allowed_tags, f"{where}: <{tag}> came from the values"
    assert "alert(5)</script>" not in html and "onerror=alert" not in html.replace("&lt;img src=x onerror=alert", ""), \
        f"{where}: raw HTML from the values"
    jinja_not_run(html, where)


def jinja_not_run(text: str, where: str) -> None:
    assert "LOOPLOOPLOOP" not in text, f"{where}: a Jinja loop from the values was run"


def markdown_safe(markdown: str, where: str) -> str:
    """Rendered by a CommonMark renderer that passes raw HTML through (as a permissive UI
    would): no link or image but http(s)/mailto, no HTML tag from the values. Returns the HTML."""
    renderer = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    renderer.validateLink = lambda url: True  # markdown-it drops javascript: links itself; a UI may not
    html = renderer.render(markdown)
    for tag, attrs in _tags(html):
        assert tag not in ("script", "img", "iframe"), f"{where}: <{tag} {attrs}> from the values"
        href = (attrs.get("href") or "").strip().lower()
        assert not href or href.startswith(SAFE_SCHEMES), f"{where}: link to {href!r}"
        assert not (tag == "a" and "javascript" in str(attrs).lower()), f"{where}: {attrs}"
    jinja_not_run(html, where)
    assert "\x00" not in markdown, f"{where}: NUL"
    return html


def jinja_shown(text: str, where: str) -> None:
    """The Jinja syntax from the values is there as text."""
    assert "7*7" in text.replace("\\*", "*") and "{%" in text, f"{where}: Jinja syntax lost"
