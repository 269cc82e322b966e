"""Rules files: validation messages name the rule and field; edits are picked up."""

from __future__ import annotations

import os

import pytest

from problemflow.models.incident import IncidentCreate
from problemflow.tasks.incident import triage
from problemflow.tasks.incident.rules import Rules, RulesError, get_rules


def test_unknown_field_names_the_rule_and_field():
    with pytest.raises(RulesError) as caught:
        Rules.from_toml(
            '[[category]]\nname = "ok"\ncategory = "A"\n'
            '[[category]]\nname = "disk"\ncategory = "B"\nwhen.keyword = ["disk"]\n',
            "rules.toml",
        )
    message = str(caught.value)
    assert message.startswith("rules.toml: ")
    assert "rule 'disk' ([[category]] #2) field when.keyword" in message
    assert "Extra inputs are not permitted" in message


def test_bad_regex_and_bad_level_are_explained():
    with pytest.raises(RulesError) as caught:
        Rules.from_toml('[[priority]]\nname = "p"\nimpact = "huge"\nwhen.labels = { env = "(" }\n')
    message = str(caught.value)
    assert "rule 'p' ([[priority]] #1) field impact" in message
    assert "'high', 'medium' or 'low'" in message
    assert "label 'env': bad regular expression '('" in message


def test_missing_required_value_and_bad_toml():
    with pytest.raises(RulesError, match=r"rule 'x' \(\[\[category\]\] #1\) field category: Field required"):
        Rules.from_toml('[[category]]\nname = "x"\n')
    with pytest.raises(RulesError, match="not valid TOML"):
        Rules.from_toml("[[category]\nname=")
    with pytest.raises(RulesError, match="severity 'loud' field urgency: Field required"):
        Rules.from_toml('[severity]\nloud = { impact = "high" }\n')


def test_rules_file_from_settings_is_reloaded_and_bad_edits_keep_the_last_good(tmp_path, monkeypatch):
    from problemflow.models.settings import get_settings

    path = tmp_path / "rules.toml"
    path.write_text('[[category]]\nname = "a"\nwhen.keywords = ["gizmo"]\ncategory = "Gizmos"\n')
    monkeypatch.setenv("PROBLEMFLOW_RULES_FILE", str(path))
    get_settings.cache_clear()
    try:
        assert triage(IncidentCreate(title="gizmo broke")).category == "Gizmos"
        path.write_text('[[category]]\nname = "a"\nwhen.keywords = ["gizmo"]\ncategory = "Widgets"\n')
        os.utime(path, ns=(1, 2_000_000_000_000_000_000))
        assert triage(IncidentCreate(title="gizmo broke")).category == "Widgets"
        path.write_text('[[category]]\nname = "a"\ncolour = "red"\n')
        os.utime(path, ns=(1, 3_000_000_000_000_000_000))
        assert triage(IncidentCreate(title="gizmo broke")).category == "Widgets"
        missing = tmp_path / "missing.toml"
        with pytest.raises(RulesError, match="cannot be read"):
            get_rules(missing)
    finally:
        get_settings.cache_clear()
