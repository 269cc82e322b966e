"""The fix-verification flow: reopen problems whose known error recurs after the fix,
record the others as verified once their window has passed."""

from __future__ import annotations

from prefect import flow

from problemflow.flows.deployments import register
from problemflow.tasks.common.notify import notify
from problemflow.tasks.problem.verify import Verification, due_task, reopen_notice, verify_task

DEPLOYMENT = "fix-verification"
INTERVAL_SECONDS = 3600


@flow(name="fix-verification", log_prints=True)
def fix_verification() -> list[Verification]:
    """Check every fix still inside or just past its verification window."""
    results = [verify_task(problem_id) for problem_id in due_task()]
    for result in results:
        if result.outcome == "reopened":
            title, body = reopen_notice(result)
            notify(title, body, tag="problem-reopened")
    return results


@register
def deployments() -> list:
    return [fix_verification.to_deployment(
        name=DEPLOYMENT, interval=INTERVAL_SECONDS, tags=["problemflow", "problem"],
        description="Hourly: reopen problems whose known error recurred after the fix; mark the others verified.",
    )]
