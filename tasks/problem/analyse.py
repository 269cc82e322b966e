"""Step 2, analyse: gather the evidence for the root cause, within the team's WIP limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from prefect import task
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from problemflow.models.enums import ProblemState
from problemflow.models.incident import Incident
from problemflow.models.problem import RootCauseAnalysis, RootCauseIn, RootCauseRead
from problemflow.models.services import audit, problems
from problemflow.tasks.problem.common import ACTOR, STEP_OPTIONS, run_step
from problemflow.tasks.problem.wip import wip_slot

RELATED_WINDOW_DAYS = 30
RELATED_LIMIT = 50


class RelatedIncident(BaseModel):
    number: str
    title: str
    service: Optional[str] = None
    opened_at: datetime
    state: str
    shared: list[str]


class TimelineEntry(BaseModel):
    at: datetime
    what: str
    record: str


class Evidence(BaseModel):
    """What the analyst starts from: the timeline and incidents that look related."""

    problem_id: int
    timeline: list[TimelineEntry]
    related: list[RelatedIncident]


def _timeline(linked: list[Incident]) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for incident in linked:
        for at, what in (
            (incident.opened_at, "opened"),
            (incident.acknowledged_at, "acknowledged"),
            (incident.last_occurrence_at if incident.occurrence_count > 1 else None,
             f"last of {incident.occurrence_count} occurrences"),
            (incident.resolved_at, "resolved"),
        ):
            if at is not None:
                entries.append(TimelineEntry(at=at, what=f"{what}: {incident.title}", record=incident.number))
    return sorted(entries, key=lambda e: (e.at, e.record))


def _related(db_session: Session, linked: list[Incident]) -> list[RelatedIncident]:
    """Incidents not linked to the problem that share a fingerprint, or a service
    and category, with a linked one inside the window."""
    if not linked:
        return []
    since = min(i.opened_at for i in linked) - timedelta(days=RELATED_WINDOW_DAYS)
    fingerprints = {i.fingerprint for i in linked if i.fingerprint}
    pairs = {(i.service, i.category) for i in linked if i.service and i.category}
    conditions = []
    if fingerprints:
        conditions.append(Incident.fingerprint.in_(fingerprints))
    if pairs:
        conditions.append(Incident.service.in_({s for s, _ in pairs}))
    if not conditions:
        return []
    stmt = (
        select(Incident)
        .where(Incident.opened_at >= since, Incident.id.not_in([i.id for i in linked]), or_(*conditions))
        .order_by(Incident.opened_at)
        .limit(RELATED_LIMIT * 4)
    )
    related = []
    for incident in db_session.scalars(stmt):
        shared = []
        if incident.fingerprint and incident.fingerprint in fingerprints:
            shared.append("fingerprint")
        if (incident.service, incident.category) in pairs:
            shared.append("service and category")
        if shared:
            related.append(RelatedIncident(
                number=incident.number, title=incident.title, service=incident.service,
                opened_at=incident.opened_at, state=str(incident.state), shared=shared,
            ))
    return related[:RELATED_LIMIT]


def analyse(*, db_session: Session, problem_id: int, actor: str = ACTOR) -> Evidence:
    """Gather the timeline and related incidents onto the root-cause analysis and
    move the problem into root-cause analysis."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    linked = problems.linked_incidents(db_session=db_session, problem=problem)
    evidence = Evidence(problem_id=problem.id, timeline=_timeline(linked), related=_related(db_session, linked))
    analysis = problem.analysis
    if analysis is None:
        analysis = RootCauseAnalysis(problem=problem, root_cause="")
        db_session.add(analysis)
    stored = evidence.model_dump(mode="json", exclude={"problem_id"})
    if analysis.evidence != stored:
        analysis.evidence = stored
        audit.record(
            db_session=db_session, actor=actor, action="evidence", record_type=problems.RECORD,
            record_id=problem.id,
            detail={"timeline": len(evidence.timeline), "related": len(evidence.related)},
        )
    problems.advance_to(
        db_session=db_session, problem=problem, to_state=ProblemState.root_cause_analysis, actor=actor
    )
    return evidence


def team_of(*, db_session: Session, problem_id: int) -> Optional[str]:
    return problems.get_or_raise(db_session=db_session, problem_id=problem_id).assignment_group


@task(name="analyse", **STEP_OPTIONS)
def analyse_task(problem_id: int) -> Evidence:
    """Step 2: gather root-cause evidence (waits for a WIP slot of the team)."""
    with wip_slot(run_step(team_of, problem_id=problem_id)):
        return run_step(analyse, problem_id=problem_id)


def record_root_cause(
    *, db_session: Session, problem_id: int, analysis_in: RootCauseIn, actor: str = ACTOR
) -> RootCauseRead:
    """Store the analyst's root cause, whys and contributing factors (one per problem)."""
    problem = problems.get_or_raise(db_session=db_session, problem_id=problem_id)
    analysis = problems.record_root_cause(
        db_session=db_session, problem=problem, analysis_in=analysis_in, actor=analysis_in.analyst or actor
    )
    return RootCauseRead.model_validate(analysis)


@task(name="root-cause", **STEP_OPTIONS)
def root_cause_task(problem_id: int, analysis_in: RootCauseIn, answer_key: str) -> RootCauseRead:
    """Step 2: store the root cause the analyst put forward at the gate."""
    return run_step(record_root_cause, problem_id=problem_id, analysis_in=analysis_in)
