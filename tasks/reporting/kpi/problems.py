"""Problem, KEDB and change KPIs."""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from problemflow.models.audit import AuditEvent
from problemflow.models.change import ChangeRequest
from problemflow.models.enums import ChangeState, ProblemState
from problemflow.models.incident import Incident
from problemflow.models.kedb import KnownError
from problemflow.models.problem import Problem
from problemflow.models.recurrence import RecurrenceGroup
from problemflow.tasks.reporting.kpi.schemas import (
    ChangeKpi,
    FixVerificationKpi,
    KedbKpi,
    MeanTime,
    Period,
    ProblemFlowKpi,
    Scope,
)
from problemflow.tasks.reporting.kpi.sql import hours, incident_scope, instant, problem_scope, seconds_between, within

DAY = 86400.0
# upper bounds in days of the backlog age buckets; the last bucket is open-ended
AGE_BUCKETS = ((7, "under 7 days"), (30, "7-30 days"), (90, "30-90 days"))
OLDEST_BUCKET = "90 days or more"


def _count(db_session: Session, *conditions) -> int:
    return db_session.scalar(select(func.count()).select_from(Problem).where(*conditions)) or 0


def problem_flow(*, db_session: Session, period: Period, scope: Scope) -> ProblemFlowKpi:
    """Problems opened and closed in the period, and the backlog at its end with its age."""
    scoped = problem_scope(scope, Problem.id)
    end = instant(period.end)
    in_backlog = and_(
        Problem.opened_at < period.end,
        or_(Problem.closed_at.is_(None), Problem.closed_at >= period.end),
        or_(Problem.resolved_at.is_(None), Problem.resolved_at >= period.end),
        scoped,
    )
    age = seconds_between(end, Problem.opened_at)
    bucket = case(
        *[(age < days * DAY, label) for days, label in AGE_BUCKETS], else_=OLDEST_BUCKET
    )
    rows = db_session.execute(
        select(bucket, func.count(), func.sum(age)).where(in_backlog).group_by(bucket)
    ).all()
    found = {label: (n, total) for label, n, total in rows}
    backlog = sum(n for n, _ in found.values())
    total_age = sum(float(total) for _, total in found.values())
    labels = [label for _, label in AGE_BUCKETS] + [OLDEST_BUCKET]
    return ProblemFlowKpi(
        opened=_count(db_session, within(Problem.opened_at, period), scoped),
        closed=_count(db_session, within(Problem.closed_at, period), scoped),
        backlog=backlog,
        backlog_mean_age_days=total_age / backlog / DAY if backlog else None,
        age_buckets={label: found.get(label, (0, 0))[0] for label in labels},
        waiting_groups=db_session.scalar(
            select(func.count()).select_from(RecurrenceGroup).where(RecurrenceGroup.queued_at < period.end)
        ) or 0,
    )


def _problem_mean_time(db_session: Session, end_column, period: Period, scope: Scope) -> MeanTime:
    stmt = select(func.count(), func.avg(seconds_between(end_column, Problem.opened_at))).where(
        within(end_column, period), problem_scope(scope, Problem.id)
    )
    count, mean_seconds = db_session.execute(stmt).one()
    return MeanTime(count=count, mean_hours=hours(mean_seconds))


def time_to_root_cause(*, db_session: Session, period: Period, scope: Scope) -> MeanTime:
    """Mean opened -> root cause found, over problems whose cause was found in the period."""
    return _problem_mean_time(db_session, Problem.root_cause_at, period, scope)


def time_to_fix(*, db_session: Session, period: Period, scope: Scope) -> MeanTime:
    """Mean opened -> resolved, over problems resolved in the period."""
    return _problem_mean_time(db_session, Problem.resolved_at, period, scope)


def kedb_use(*, db_session: Session, period: Period, scope: Scope) -> KedbKpi:
    """Known errors added, and the share of resolved incidents the KEDB helped resolve."""
    added = db_session.scalar(
        select(func.count())
        .select_from(KnownError)
        .where(within(KnownError.created_at, period), problem_scope(scope, KnownError.problem_id))
    )
    helped = or_(Incident.known_error_id.is_not(None), Incident.workaround_id.is_not(None))
    resolved, with_known_error = db_session.execute(
        select(func.count(), func.coalesce(func.sum(case((helped, 1), else_=0)), 0)).where(
            within(Incident.resolved_at, period), incident_scope(scope)
        )
    ).one()
    return KedbKpi(
        known_errors_added=added or 0,
        incidents_resolved=resolved,
        resolved_with_known_error=int(with_known_error),
    )


def change_outcomes(*, db_session: Session, period: Period, scope: Scope) -> ChangeKpi:
    """Changes that reached implemented or failed in the period (from the audit trail)."""
    finished = (ChangeState.implemented.value, ChangeState.failed.value)
    stmt = (
        select(AuditEvent.to_state, func.count(func.distinct(AuditEvent.record_id)))
        .join(ChangeRequest, ChangeRequest.id == AuditEvent.record_id)
        .where(
            AuditEvent.record_type == "change_request",
            AuditEvent.action == "transition",
            AuditEvent.to_state.in_(finished),
            within(AuditEvent.at, period),
            problem_scope(scope, ChangeRequest.problem_id),
        )
        .group_by(AuditEvent.to_state)
    )
    found = dict(db_session.execute(stmt).all())
    return ChangeKpi(
        implemented=found.get(ChangeState.implemented.value, 0),
        failed=found.get(ChangeState.failed.value, 0),
    )


def fix_verification(*, db_session: Session, period: Period, scope: Scope) -> FixVerificationKpi:
    """Fixes verified in the period, and problems reopened in it by a recurrence."""
    verified = _count(
        db_session, within(Problem.verified_at, period), problem_scope(scope, Problem.id)
    )
    reopened = db_session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.record_type == "problem",
            AuditEvent.action == "transition",
            AuditEvent.from_state.in_((ProblemState.resolved.value, ProblemState.closed.value)),
            AuditEvent.to_state == ProblemState.root_cause_analysis.value,
            within(AuditEvent.at, period),
            problem_scope(scope, AuditEvent.record_id),
        )
    )
    return FixVerificationKpi(verified=verified, reopened=reopened or 0)
