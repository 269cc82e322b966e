from __future__ import annotations

from datetime import timedelta

import pytest

from problemflow.models.base import utcnow
from problemflow.models.enums import IncidentSource, Level
from problemflow.models.incident import IncidentCreate
from problemflow.models.problem import ProblemCreate
from problemflow.models.services import incidents, problems

# the same alert seen by several monitors: one open incident per source and fingerprint
SOURCES = [IncidentSource.alertmanager, IncidentSource.grafana, IncidentSource.pagerduty, IncidentSource.generic,
           IncidentSource.service_desk, IncidentSource.api, IncidentSource.servicenow]


def make_problem(db_session, *, count: int = 3, statement: str = "Checkout times out under load",
                 impact: Level = Level.medium) -> int:
    """A problem linked to ``count`` similar incidents an hour apart."""
    start = utcnow() - timedelta(hours=count + 1)
    ids = []
    for n in range(count):
        incident = incidents.create(db_session=db_session, incident_in=IncidentCreate(
            title=f"Checkout API timeout on pod {n}", service="checkout", category="Application",
            subcategory="Timeout", symptom="HTTP 504", fingerprint="fp-checkout-timeout",
            source=SOURCES[n % len(SOURCES)],
            labels={"alertname": "CheckoutTimeout", "severity": "warning", "instance": f"10.0.0.{n}"},
            impact=impact, urgency=Level.medium, opened_at=start + timedelta(hours=n),
        ))
        ids.append(incident.id)
    problem = problems.create(db_session=db_session, problem_in=ProblemCreate(
        statement=statement, incident_ids=ids, owner="alice", assignment_group="payments"))
    db_session.commit()
    return problem.id


@pytest.fixture
def problem_id(db_session) -> int:
    return make_problem(db_session)
