from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXECUTABLE = Path(sys.executable).parent / "problemflow"


class Cli:
    """Runs the installed ``problemflow`` command the way a person does."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(EXECUTABLE), *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"problemflow {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(clean_db: str) -> Cli:
    env = dict(os.environ)
    env["PROBLEMFLOW_DATABASE_URL"] = clean_db
    env["COLUMNS"] = "200"
    return Cli(env)
