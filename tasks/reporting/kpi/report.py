"""All KPIs of a period, the period before it, and the trends between the two."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from prefect import task
from sqlalchemy.orm import Session

from problemflow.models.base import utcnow
from problemflow.models.db import session_scope
from problemflow.models.settings import get_settings
from problemflow.tasks.common.retry import RETRIES
from problemflow.tasks.reporting.kpi import incidents, problems
from problemflow.tasks.reporting.kpi.schemas import (
    HIGHER_IS_BETTER,
    NEUTRAL,
    KpiReport,
    KpiSnapshot,
    Period,
    Scope,
    Trend,
)

# reads only, so a retry after a lost or locked database is always safe
# changes smaller than this are reported as "same" (rates are fractions, times hours)
TOLERANCE = 1e-9


def compute_snapshot(
    *,
    db_session: Session,
    period: Period,
    scope: Scope,
    sla_targets: Mapping[str, float] | None = None,
) -> KpiSnapshot:
    """Every KPI for one period and scope, each from its own aggregate query."""
    targets = dict(sla_targets if sla_targets is not None else get_settings().sla_targets)
    args = {"db_session": db_session, "period": period, "scope": scope}
    return KpiSnapshot(
        period=period,
        scope=scope,
        incidents=incidents.volume(**args),
        time_to_acknowledge=incidents.time_to_acknowledge(**args),
        time_to_resolve=incidents.time_to_resolve(**args),
        mtbf=incidents.mtbf_by_service(**args),
        repeats=incidents.repeats(**args),
        problems=problems.problem_flow(**args),
        time_to_root_cause=problems.time_to_root_cause(**args),
        time_to_fix=problems.time_to_fix(**args),
        kedb=problems.kedb_use(**args),
        changes=problems.change_outcomes(**args),
        sla=incidents.sla_breaches(**args, targets=targets),
        fixes=problems.fix_verification(**args),
    )


def trend(metric: str, current: Optional[int | float], previous: Optional[int | float]) -> Trend:
    """Compare one headline metric between two periods."""
    if current is None or previous is None:
        return Trend(metric=metric, current=current, previous=previous, change=None, verdict="n/a")
    change = current - previous
    if abs(change) <= TOLERANCE:
        verdict = "same"
    elif metric in NEUTRAL:
        verdict = "neutral"
    elif (change > 0) == (metric in HIGHER_IS_BETTER):
        verdict = "better"
    else:
        verdict = "worse"
    return Trend(metric=metric, current=current, previous=previous, change=change, verdict=verdict)


def compute_report(
    *,
    db_session: Session,
    period: Period,
    scope: Scope | None = None,
    sla_targets: Mapping[str, float] | None = None,
) -> KpiReport:
    """The KPIs of ``period`` against the previous period of the same length."""
    scope = scope or Scope()
    current = compute_snapshot(
        db_session=db_session, period=period, scope=scope, sla_targets=sla_targets
    )
    previous = compute_snapshot(
        db_session=db_session, period=period.previous(), scope=scope, sla_targets=sla_targets
    )
    now_numbers, before_numbers = current.headline(), previous.headline()
    return KpiReport(
        generated_at=utcnow(),
        current=current,
        previous=previous,
        trends=[trend(name, now_numbers[name], before_numbers[name]) for name in now_numbers],
    )


@task(name="compute-kpis", **RETRIES)
def compute_report_task(period: Period, scope: Scope) -> KpiReport:
    """Compute the KPI report in a session of its own."""
    with session_scope() as db_session:
        return compute_report(db_session=db_session, period=period, scope=scope)
