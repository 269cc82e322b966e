"""Reminding approvers of gates that wait too long."""

from __future__ import annotations

from prefect import task

from problemflow.models.numbers import format_number
from problemflow.models.problem import NUMBER_PREFIX
from problemflow.models.settings import get_settings
from problemflow.tasks.common.notify import send
from problemflow.tasks.problem.common import STEP_OPTIONS
from problemflow.tasks.problem.waiting import WaitingRun, waiting_runs


def due_for_reminder(run: WaitingRun, *, remind_after_hours: float, interval_hours: float) -> bool:
    """True once per ``remind_after_hours`` of waiting: when the wait crossed a
    multiple of it since the previous check ``interval_hours`` ago."""
    if run.waiting_hours < remind_after_hours:
        return False
    return int(run.waiting_hours // remind_after_hours) != int(
        max(run.waiting_hours - interval_hours, 0) // remind_after_hours
    )


@task(name="gate-reminders", **STEP_OPTIONS)
def remind_task(interval_hours: float) -> list[WaitingRun]:
    """Remind the people who can answer each gate waiting too long; returns those runs."""
    remind_after = get_settings().approval_remind_after_hours
    due = [r for r in waiting_runs() if due_for_reminder(r, remind_after_hours=remind_after,
                                                         interval_hours=interval_hours)]
    for run in due:
        problem = format_number(NUMBER_PREFIX, run.problem_id) if run.problem_id else run.name
        send(f"{problem} waits for the {run.gate or run.pause_key} gate",
             f"Flow run {run.flow_run_id} has waited {run.waiting_hours:.1f} h. Can answer: "
             f"{', '.join(run.can_answer) or 'nobody holds the role ' + str(run.role)}. "
             f"Answer in the Prefect UI or with `problemflow approve {run.flow_run_id}`.",
             tag="approval-reminder")
    return due
