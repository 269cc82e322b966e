"""Key performance indicators of incident and problem management, computed in SQL."""

from problemflow.tasks.reporting.kpi.report import compute_report, compute_snapshot
from problemflow.tasks.reporting.kpi.schemas import KpiReport, KpiSnapshot, Period, Scope

__all__ = ["KpiReport", "KpiSnapshot", "Period", "Scope", "compute_report", "compute_snapshot"]
