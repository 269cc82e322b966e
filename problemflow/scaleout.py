"""Scale-out: register every deployment in a process work pool for workers.

With one machine, ``problemflow up`` serves the flows itself. With several,
run ``problemflow deploy --pool problemflow`` once against the shared Prefect
server, then start ``prefect worker start --pool problemflow`` on every machine
that has problemflow installed and the same ``PROBLEMFLOW_DATABASE_URL``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.deployments.runner import EntrypointType, RunnerDeployment

DEFAULT_POOL = "problemflow"


def module_entrypoint(deployment: RunnerDeployment) -> str:
    """``.../flows/x.py:fn`` -> ``problemflow.flows.x.fn``: workers import the installed package,
    by the name the module was imported under (whatever folder it lives in)."""
    if deployment.entrypoint_type == EntrypointType.MODULE_PATH:
        return deployment.entrypoint
    file_part, function = deployment.entrypoint.rsplit(":", 1)
    path = Path(file_part)
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    for name, module in list(sys.modules.items()):
        found = getattr(module, "__file__", None)
        if found and Path(found).resolve() == path:
            return f"{name}.{function}"
    raise ValueError(f"the flow module {path} was not imported; cannot name its entrypoint")


def ensure_pool(name: str) -> None:
    """Create the process work pool if it does not exist yet."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        except ObjectAlreadyExists:
            pass


def deploy_to_pool(pool: str = DEFAULT_POOL) -> list[str]:
    """Register every deployment in ``pool``; returns the deployment ids."""
    from prefect import deploy

    from problemflow.flows.deployments import all_deployments

    ensure_pool(pool)
    deployments = all_deployments()
    for deployment in deployments:
        deployment.entrypoint = module_entrypoint(deployment)
        deployment._entrypoint_type = EntrypointType.MODULE_PATH
    ids = deploy(
        *deployments,
        work_pool_name=pool,
        build=False,
        push=False,
        print_next_steps_message=False,
    )
    return [str(i) for i in ids]
