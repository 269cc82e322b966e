"""Starting a problem-management run: through the served deployment, or in this process."""

from __future__ import annotations

from typing import Callable, Optional

from problemflow.tasks.common.events import api_configured

DEPLOYMENT_NAME = "problem-management/problem-management"


def deployment_id() -> Optional[str]:
    """The id of the problem-management deployment on the configured Prefect server,
    if it is there and not paused (``serve()`` pauses its deployments when it stops)."""
    if not api_configured():
        return None
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(DEPLOYMENT_NAME)
        except ObjectNotFound:
            return None
    return None if deployment.paused else str(deployment.id)


def start_problem_run(problem_id: int, number: str, echo: Callable[[str], object] = print) -> str:
    """Create a run of the deployment; without one, run the flow here (and say so)."""
    found = deployment_id()
    if found is not None:
        from uuid import UUID

        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(UUID(found), parameters={"params": {"problem_id": problem_id}})
        return f"started flow run {run.name} ({run.id}) of {DEPLOYMENT_NAME} for {number}"
    where = "the Prefect server at PREFECT_API_URL" if api_configured() else "a temporary Prefect server"
    echo(f"no {DEPLOYMENT_NAME} deployment is served: running the flow in this process against {where}; "
         "its gates wait here (answer them with `problemflow approve RUN_ID` while PREFECT_API_URL points "
         "at the same server)")
    from problemflow.flows.problem_management import ProblemRun, problem_management

    outcome = problem_management(ProblemRun(problem_id=problem_id))
    return f"{number}: {outcome.outcome} ({outcome.closure_code})"
