"""The approval-reminders flow: gates waiting longer than the setting get a reminder."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel, Field

from problemflow.flows.deployments import register
from problemflow.tasks.problem.reminders import remind_task
from problemflow.tasks.problem.waiting import WaitingRun

DEPLOYMENT = "approval-reminders"


class ReminderRun(BaseModel):
    interval_minutes: float = Field(default=30, gt=0, le=24 * 60,
                                    description="How often this runs (each wait is reminded once per period)")


@flow(name="approval-reminders", log_prints=True)
def approval_reminders(params: ReminderRun = ReminderRun()) -> list[WaitingRun]:
    """Remind approvers of problem runs waiting too long at a gate."""
    return remind_task(params.interval_minutes / 60)


@register
def deployments() -> list:
    return [approval_reminders.to_deployment(
        name=DEPLOYMENT, interval=30 * 60, tags=["problemflow", "problem"],
        description="Every 30 minutes: remind approvers of gates waiting longer than approval_remind_after_hours.",
    )]
