"""Closure: resolution kept, refused while dependencies are open, repeatable."""

from __future__ import annotations

import pytest

from problemflow.models.enums import IncidentState
from problemflow.models.errors import OpenDependencies
from problemflow.models.incident import IncidentCreate
from problemflow.models.services import incidents
from problemflow.tasks.incident import close


def test_close_waits_for_dependencies_and_records_the_resolution(db_session):
    network = incidents.create(db_session=db_session, incident_in=IncidentCreate(title="Core switch down"))
    storage = incidents.create(db_session=db_session, incident_in=IncidentCreate(title="SAN path lost"))
    app = incidents.create(db_session=db_session, incident_in=IncidentCreate(
        title="Orders app down", depends_on=[network.id, storage.id]))
    db_session.commit()

    with pytest.raises(OpenDependencies) as refused:
        close(db_session=db_session, incident_id=app.id, code="workaround_applied", notes="restarted")
    assert str(refused.value) == (
        f"incident {app.number} cannot close: it depends on open {network.number}, {storage.number}")
    db_session.rollback()

    close(db_session=db_session, incident_id=network.number, code="fix_applied", notes="replaced PSU")
    close(db_session=db_session, incident_id=storage.id, code="fix_applied")
    outcome = close(db_session=db_session, incident_id=app.id, code="workaround_applied",
                    notes="restarted the app after the network came back")
    db_session.commit()
    assert outcome.state == IncidentState.closed and not outcome.already_closed
    db_session.refresh(app)
    assert app.resolution_code == "workaround_applied"
    assert app.resolution_notes == "restarted the app after the network came back"
    assert app.resolved_at is not None and app.closed_at is not None

    again = close(db_session=db_session, incident_id=app.id, code="workaround_applied")
    assert again.already_closed and again.code == "workaround_applied"


def test_recurring_incidents_are_flagged_for_problem_management(db_session):
    incident = incidents.create(db_session=db_session, incident_in=IncidentCreate(title="VPN drops"))
    incidents.add_occurrence(db_session=db_session, incident=incident)
    outcome = close(db_session=db_session, incident_id=incident.id, code="workaround_applied")
    assert outcome.recurring
