"""Notifications quote outside text: each channel gets it as text, escaped for its own format."""

from __future__ import annotations

from problemflow.tasks.common.notify import BODY_MAX, TITLE_MAX, send

HOSTILE = "Disk full <script>alert(1)</script> [click](javascript:alert(1)) **now** \x1b[2J\x1b]8;;http://x\x07"


def test_each_channel_gets_outside_text_escaped_for_its_format(receiver):
    base = receiver.url
    # the same local receiver as three channels: plain text, Markdown and HTML destinations
    urls = [base, f"{base}?format=markdown", f"{base}?format=html"]
    assert send(f"[P1] INC0001: {HOSTILE}", f"Workaround: {HOSTILE}", urls=urls) == 3
    messages = [p["message"] for p in receiver.bodies]  # channels are sent to in no fixed order
    html = [m for m in messages if "&lt;script&gt;" in m]
    markdown = [m for m in messages if "\\[click\\]" in m]
    text = [m for m in messages if "<script>" in m and "[click](javascript:" in m]
    assert len(html) == len(markdown) == len(text) == 1, messages
    assert "<script>" not in html[0]
    assert "\\*\\*now\\*\\*" in markdown[0] and "](javascript:" not in markdown[0]  # no live link, no emphasis
    for message in messages:
        assert "\x1b" not in message and "\x07" not in message  # no escape sequence reaches a terminal or a log
        assert "x1b" in message  # shown instead, as \x1b


def test_long_text_is_cut_to_what_a_notification_carries(receiver):
    assert send("t" * 10_000, "b" * 100_000, urls=[receiver.url]) == 1
    posted = receiver.bodies[0]
    assert len(posted["title"]) == TITLE_MAX and posted["title"].endswith("…")
    assert len(posted["message"]) == BODY_MAX
