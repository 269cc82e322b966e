"""Incident KPIs: volume, response times, failures per service, repeats and SLA."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from problemflow.models.enums import Priority
from problemflow.models.incident import Incident
from problemflow.models.problem import ProblemIncident
from problemflow.tasks.reporting.kpi.schemas import (
    IncidentVolume,
    MeanTime,
    Period,
    Ratio,
    Scope,
    ServiceMtbf,
    SlaBreach,
)
from problemflow.tasks.reporting.kpi.sql import (
    HOUR,
    hours,
    incident_scope,
    instant,
    seconds_between,
    utc_day,
    within,
)

NO_CATEGORY = "(none)"


def volume(*, db_session: Session, period: Period, scope: Scope) -> IncidentVolume:
    """Incidents opened in the period, by priority and by category."""
    opened = (within(Incident.opened_at, period), incident_scope(scope))
    category = func.coalesce(Incident.category, NO_CATEGORY)
    by_priority = dict(
        db_session.execute(
            select(Incident.priority, func.count()).where(*opened).group_by(Incident.priority)
        ).all()
    )
    by_category = dict(
        db_session.execute(
            select(category, func.count())
            .where(*opened)
            .group_by(category)
            .order_by(func.count().desc(), category)
        ).all()
    )
    day = utc_day(Incident.opened_at)
    by_day = dict(
        db_session.execute(
            select(day, func.count()).where(*opened).group_by(day).order_by(day)
        ).all()
    )
    ordered = {p.value: by_priority[p.value] for p in Priority if p.value in by_priority}
    return IncidentVolume(
        total=sum(by_priority.values()),
        by_priority=ordered,
        by_category=by_category,
        by_day=by_day,
    )


def _mean_time(db_session: Session, end_column, period: Period, scope: Scope) -> MeanTime:
    stmt = select(
        func.count(), func.avg(seconds_between(end_column, Incident.opened_at))
    ).where(within(end_column, period), incident_scope(scope))
    count, mean_seconds = db_session.execute(stmt).one()
    return MeanTime(count=count, mean_hours=hours(mean_seconds))


def time_to_acknowledge(*, db_session: Session, period: Period, scope: Scope) -> MeanTime:
    """Mean opened -> acknowledged, over incidents acknowledged in the period."""
    return _mean_time(db_session, Incident.acknowledged_at, period, scope)


def time_to_resolve(*, db_session: Session, period: Period, scope: Scope) -> MeanTime:
    """Mean opened -> resolved, over incidents resolved in the period."""
    return _mean_time(db_session, Incident.resolved_at, period, scope)


def mtbf_by_service(
    *, db_session: Session, period: Period, scope: Scope, top: int = 20
) -> list[ServiceMtbf]:
    """Mean time between the starts of consecutive incidents of each service.

    For n incidents opened in the period the mean of the n-1 gaps is
    (last opened - first opened) / (n - 1); services with one incident have none.
    """
    count = func.count()
    span = seconds_between(func.max(Incident.opened_at), func.min(Incident.opened_at))
    stmt = (
        select(Incident.service, count, span)
        .where(
            within(Incident.opened_at, period),
            incident_scope(scope),
            Incident.service.is_not(None),
        )
        .group_by(Incident.service)
        .having(count >= 2)
        .order_by(count.desc(), Incident.service)
        .limit(top)
    )
    return [
        ServiceMtbf(service=service, incidents=n, mean_hours_between=seconds / (n - 1) / HOUR)
        for service, n, seconds in db_session.execute(stmt).all()
    ]


def repeats(*, db_session: Session, period: Period, scope: Scope) -> Ratio:
    """Incidents opened in the period that repeat: linked to a problem or to an earlier incident."""
    linked = select(ProblemIncident.incident_id).where(ProblemIncident.incident_id == Incident.id)
    is_repeat = or_(Incident.recurrence_of_id.is_not(None), linked.exists())
    stmt = select(func.count(), func.coalesce(func.sum(case((is_repeat, 1), else_=0)), 0)).where(
        within(Incident.opened_at, period), incident_scope(scope)
    )
    whole, part = db_session.execute(stmt).one()
    return Ratio(part=int(part), whole=whole)


def sla_breaches(
    *, db_session: Session, period: Period, scope: Scope, targets: Mapping[str, float]
) -> list[SlaBreach]:
    """Per priority, incidents opened in the period and how many missed the target.

    An incident breaches when it was resolved later than the target after it
    was opened, or is still unresolved at the end of the period past the target.
    """
    target_seconds = case(
        {priority: hours_ * HOUR for priority, hours_ in targets.items()},
        value=Incident.priority,
        else_=None,
    )
    elapsed = seconds_between(
        func.coalesce(Incident.resolved_at, instant(period.end)), Incident.opened_at
    )
    breached = func.coalesce(func.sum(case((elapsed > target_seconds, 1), else_=0)), 0)
    stmt = (
        select(Incident.priority, func.count(), breached)
        .where(within(Incident.opened_at, period), incident_scope(scope))
        .group_by(Incident.priority)
    )
    found = {priority: (n, int(b)) for priority, n, b in db_session.execute(stmt).all()}
    return [
        SlaBreach(
            priority=priority,
            target_hours=targets[priority],
            incidents=found.get(priority, (0, 0))[0],
            breached=found.get(priority, (0, 0))[1],
        )
        for priority in sorted(targets)
    ]
