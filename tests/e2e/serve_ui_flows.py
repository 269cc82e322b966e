"""Serve the deployments an operator uses from the UI (started as a process by the browser test)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from prefect import serve  # noqa: E402

from problemflow.flows.incidents import deployments as incident_deployments  # noqa: E402
from problemflow.flows.problem_management import deployments as problem_deployments  # noqa: E402

if __name__ == "__main__":
    serve(*incident_deployments(), *problem_deployments(), limit=4)
