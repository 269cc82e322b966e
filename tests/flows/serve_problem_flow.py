"""Serve the problem-management deployment (started as a process by the flow tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from prefect import serve  # noqa: E402

from problemflow.flows.problem_management import deployments  # noqa: E402

if __name__ == "__main__":
    serve(*deployments(), limit=4)
