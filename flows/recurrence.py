"""The ``recurrence-scan`` flow: group incidents that share a cause, open problems, start their work.

Served on a schedule (every 15 minutes by default, incremental). Only recurrences
of the present open problems, at most ``PROBLEMFLOW_RECURRENCE_OPEN_MAX`` open at
once; the others wait in a ranked queue. Each problem it opens is announced with a
``problemflow.problem.opened`` event, which triggers the ``problem-management``
deployment, and one digest notification tells what the scan opened or queued.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Optional

from prefect import flow
from pydantic import BaseModel, Field

from problemflow.flows.deployments import register
from problemflow.tasks.recurrence import ScanResult
from problemflow.tasks.recurrence.run import announce_task, digest_task, scan_task

DEPLOYMENT = "recurrence-scan"


class ScanParameters(BaseModel):
    """How to scan; empty overrides keep the configured defaults."""

    mode: Literal["incremental", "full"] = Field(
        default="incremental", description="incremental: only incidents new since the last scan; full: rebuild all groups"
    )
    threshold: Optional[int] = Field(default=None, ge=2, description="Incidents in one group that open a problem")
    threshold_days: Optional[float] = Field(default=None, gt=0, le=365, description="...within this many days")
    burst_minutes: Optional[float] = Field(default=None, gt=0, le=1440, description="How close in time a burst is")
    burst_min_score: Optional[float] = Field(default=None, gt=0, description="Evidence a burst link needs")
    window_days: Optional[float] = Field(
        default=None, gt=0, le=365, description="Longest gap an alert fingerprint or a burst link may span")
    split_by_service: Optional[bool] = Field(
        default=None, description="The same message on two services is two recurrences")
    similar_min_text: Optional[float] = Field(
        default=None, ge=0, le=1, description="Text similarity at which two tickets worded differently are one (1: off)")
    open_max: Optional[int] = Field(
        default=None, ge=0, le=1000,
        description="Problems the scan keeps open at once; further groups wait in its ranked queue",
    )

    def overrides(self) -> dict:
        return self.model_dump(exclude={"mode"}, exclude_none=True)


@flow(name="recurrence-scan", log_prints=True)
def recurrence_scan(params: ScanParameters = ScanParameters()) -> ScanResult:
    """Scan, announce the problems the scan opened, and send one digest of what it opened or queued."""
    result = scan_task(params.mode, params.overrides())
    announce_task(result.problems_opened)
    digest_task(result)
    return result


@register
def deployments() -> list:
    """``recurrence-scan``, incremental, every ``PROBLEMFLOW_RECURRENCE_SCAN_MINUTES`` (15)."""
    from problemflow.models.settings import get_settings

    minutes = get_settings().recurrence_scan_minutes
    return [
        recurrence_scan.to_deployment(
            name=DEPLOYMENT,
            description="Group recurring incidents and open (or link) problems; incremental, on a schedule.",
            tags=["problemflow", "recurrence"],
            interval=timedelta(minutes=minutes),
            parameters={"params": {"mode": "incremental"}},
        )
    ]
