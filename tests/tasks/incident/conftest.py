from __future__ import annotations

import json

import pytest


class Cli:
    """The installed ``problemflow`` command, run the way a person runs it."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, *args: str, check: bool = True):
        import subprocess
        import sys
        from pathlib import Path

        result = subprocess.run(
            [str(Path(sys.executable).parent / "problemflow"), *args],
            env=self.env, capture_output=True, text=True, timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"problemflow {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(clean_db: str) -> Cli:
    import os

    env = dict(os.environ)
    env["PROBLEMFLOW_DATABASE_URL"] = clean_db
    env["COLUMNS"] = "200"
    env.pop("PREFECT_API_URL", None)
    env.pop("PROBLEMFLOW_NOTIFY_URLS", None)
    return Cli(env)
