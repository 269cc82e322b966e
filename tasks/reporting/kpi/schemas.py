"""Typed results of the KPI queries: one pydantic model per KPI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal, Optional

from pydantic import BaseModel, Field, field_validator, model_validator


class Period(BaseModel):
    """A half-open time range ``[start, end)`` in UTC."""

    start: datetime = Field(description="first instant included")
    end: datetime = Field(description="first instant no longer included")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _ordered(self) -> "Period":
        if self.end <= self.start:
            raise ValueError(
                f"the period must end after it starts (from {self.start:%Y-%m-%d %H:%M}, "
                f"to {self.end:%Y-%m-%d %H:%M})"
            )
        return self

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> "Period":
        """The period of the same length that ends where this one starts."""
        return Period(start=self.start - self.length, end=self.start)

    def label(self) -> str:
        last = self.end - timedelta(microseconds=1)
        return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d}"


class Scope(BaseModel):
    """Optional narrowing of every KPI to one service, category or team."""

    service: Optional[str] = Field(default=None, max_length=200)
    category: Optional[str] = Field(default=None, max_length=120)
    team: Optional[str] = Field(default=None, max_length=120, description="assignment group")

    def label(self) -> str:
        parts = [f"{k} {v}" for k, v in self.model_dump().items() if v]
        return ", ".join(parts) or "all services, categories and teams"


class MeanTime(BaseModel):
    """A mean duration over ``count`` records (``None`` when there are none)."""

    count: int = 0
    mean_hours: Optional[float] = None


class IncidentVolume(BaseModel):
    total: int = 0
    by_priority: dict[str, int] = Field(default_factory=dict)
    by_category: dict[str, int] = Field(default_factory=dict)
    by_day: dict[str, int] = Field(default_factory=dict, description="UTC day -> incidents opened")


class ServiceMtbf(BaseModel):
    service: str
    incidents: int
    mean_hours_between: float


class Ratio(BaseModel):
    """``part`` out of ``whole``; ``rate`` is ``None`` when ``whole`` is zero."""

    part: int = 0
    whole: int = 0

    @property
    def rate(self) -> Optional[float]:
        return self.part / self.whole if self.whole else None


class SlaBreach(BaseModel):
    priority: str
    target_hours: float
    incidents: int
    breached: int

    @property
    def rate(self) -> Optional[float]:
        return self.breached / self.incidents if self.incidents else None


class ProblemFlowKpi(BaseModel):
    opened: int = 0
    closed: int = 0
    backlog: int = 0
    backlog_mean_age_days: Optional[float] = None
    age_buckets: dict[str, int] = Field(default_factory=dict)
    waiting_groups: int = 0  # recurrence groups queued for a slot before the period's end, still waiting


class KedbKpi(BaseModel):
    known_errors_added: int = 0
    incidents_resolved: int = 0
    resolved_with_known_error: int = 0

    @property
    def hit_rate(self) -> Optional[float]:
        if not self.incidents_resolved:
            return None
        return self.resolved_with_known_error / self.incidents_resolved


class ChangeKpi(BaseModel):
    implemented: int = 0
    failed: int = 0

    @property
    def success_rate(self) -> Optional[float]:
        done = self.implemented + self.failed
        return self.implemented / done if done else None


class FixVerificationKpi(BaseModel):
    verified: int = 0
    reopened: int = 0


class KpiSnapshot(BaseModel):
    """Every KPI for one period and scope."""

    period: Period
    scope: Scope
    incidents: IncidentVolume
    time_to_acknowledge: MeanTime
    time_to_resolve: MeanTime
    mtbf: list[ServiceMtbf]
    repeats: Ratio
    problems: ProblemFlowKpi
    time_to_root_cause: MeanTime
    time_to_fix: MeanTime
    kedb: KedbKpi
    changes: ChangeKpi
    sla: list[SlaBreach]
    fixes: FixVerificationKpi

    @property
    def sla_breached(self) -> int:
        return sum(row.breached for row in self.sla)

    def headline(self) -> dict[str, Optional[int | float]]:
        """The numbers compared between periods, by metric name."""
        sla_total = sum(row.incidents for row in self.sla)
        return {
            "incidents": self.incidents.total,
            "mean_time_to_acknowledge_hours": self.time_to_acknowledge.mean_hours,
            "mean_time_to_resolve_hours": self.time_to_resolve.mean_hours,
            "repeat_rate": self.repeats.rate,
            "problems_opened": self.problems.opened,
            "problems_closed": self.problems.closed,
            "problem_backlog": self.problems.backlog,
            "mean_time_to_root_cause_hours": self.time_to_root_cause.mean_hours,
            "mean_time_to_fix_hours": self.time_to_fix.mean_hours,
            "known_errors_added": self.kedb.known_errors_added,
            "kedb_hit_rate": self.kedb.hit_rate,
            "change_success_rate": self.changes.success_rate,
            "sla_breaches": self.sla_breached,
            "sla_breach_rate": self.sla_breached / sla_total if sla_total else None,
            "fixes_verified": self.fixes.verified,
            "fixes_reopened": self.fixes.reopened,
        }


# a rise is good for these; for every other headline metric a fall is good
HIGHER_IS_BETTER = {
    "problems_closed",
    "known_errors_added",
    "kedb_hit_rate",
    "change_success_rate",
    "fixes_verified",
}
# counts of work coming in: a change is neither good nor bad in itself
NEUTRAL = {"problems_opened"}


class Trend(BaseModel):
    metric: str
    current: Optional[int | float]
    previous: Optional[int | float]
    change: Optional[int | float] = Field(description="current minus previous")
    verdict: Literal["better", "worse", "same", "neutral", "n/a"]


class KpiReport(BaseModel):
    """The KPIs of a period, those of the period before it, and the trends between."""

    generated_at: datetime
    current: KpiSnapshot
    previous: KpiSnapshot
    trends: list[Trend]
