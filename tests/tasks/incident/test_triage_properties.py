"""Triage on arbitrary input: never fails, keeps what was given, stays valid."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from problemflow.models.enums import IncidentSource, Level
from problemflow.models.incident import IncidentCreate
from problemflow.tasks.incident import triage

LABEL_KEYS = st.sampled_from(["alertname", "severity", "service", "job", "instance", "team", "owner",
                              "environment", "env", "pod", "x"])
TEXT = st.text(min_size=1, max_size=300).filter(lambda s: s.strip())


@settings(max_examples=150, deadline=None)
@given(
    title=TEXT,
    description=st.text(max_size=500),
    labels=st.dictionaries(LABEL_KEYS, st.text(max_size=400), max_size=8),
    source=st.sampled_from(list(IncidentSource)),
    category=st.none() | st.text(min_size=1, max_size=50),
    owner=st.none() | st.text(min_size=1, max_size=50),
    impact=st.none() | st.sampled_from(list(Level)),
)
def test_triage_never_fails_and_keeps_given_values(title, description, labels, source, category, owner, impact):
    data = {"title": title, "description": description, "labels": labels, "source": source,
            "category": category, "owner": owner}
    if impact is not None:
        data["impact"] = impact
    incident_in = IncidentCreate(**data)
    result = triage(incident_in)
    # still a valid incident (steps copy without validating, so check it here)
    again = IncidentCreate.model_validate(result.model_dump())
    assert again.model_dump() == result.model_dump()
    if category is not None:
        assert result.category == category
    if owner is not None:
        assert result.owner == owner
    if impact is not None:
        assert result.impact == impact
    assert (result.title, result.description, result.labels) == (
        incident_in.title, incident_in.description, incident_in.labels)
