"""Message templates: the variable parts of a message are masked, its words kept."""

from __future__ import annotations

import pytest

from problemflow.models.text import template_of


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("PacketResponder 1 for block blk_-6952295868487656571 terminating",
         "PacketResponder <*> for block blk_<*> terminating"),
        ("PacketResponder 2 for block blk_38865049064139660 terminating",
         "PacketResponder <*> for block blk_<*> terminating"),
        ("generating core.1234", "generating core.<*>"),
        ("Received connection request /10.10.34.11:45307", "Received connection request <*>"),
        ("instance 6f0bb8b5-92d6-4d89-b5a1-d1e5f8a0a4d3 spawned in 21.3 seconds", "instance <*> spawned in <*> seconds"),
        ("mail to ops@example.com bounced", "mail to <*> bounced"),
        ("cannot open /var/log/app/current.log", "cannot open <*>"),
        ("connection from 61.74.96.178 (dsl-61.example.net) at Sun Jul 10 03:55:21 2005",
         "connection from <*> (<*>) at <*>"),
        ("retrying 'orders' in 0x7f3a9b2c", "retrying <*> in <*>"),
        ("BLOCK* ask 10.250.14.224:50010 to delete blk_1 blk_2 blk_3", "BLOCK* ask <*> to delete blk_<*>"),
        ("Disk full on web-03 at 2026-11-27T10:15:00Z", "Disk full on web-<*> at <*>"),
        ("Payment API errors", "Payment API errors"),
    ],
)
def test_variable_parts_are_masked(message, template):
    assert template_of(message) == template


def test_only_the_first_line_counts_and_control_characters_go():
    assert template_of("Disk full\x1b[2J on db1\nstack trace line 1") == "Disk full [<*> on <*>"
    assert template_of("") is None and template_of(None) is None


def test_a_template_is_bounded():
    long = " ".join("q" * (i % 9 + 1) for i in range(1000))
    assert len(template_of(long)) == 500
