"""A real Prefect server for tests, on a free port of 127.0.0.1."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional


@contextmanager
def served_prefect(home: Path, database_url: Optional[str] = None) -> Iterator[str]:
    """A real Prefect server on a free port with its data in ``home`` (or in ``database_url``);
    yields its API URL, which ``PREFECT_API_URL`` names in this process (and so in every child
    process started meanwhile)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from problemflow.prefect_server import free_port, start_server, stop, wait_healthy

    port = free_port()
    process = start_server(home, port=port, database_url=database_url)
    api_url = f"http://127.0.0.1:{port}/api"
    previous = os.environ.get("PREFECT_API_URL")
    try:
        try:
            wait_healthy(api_url, timeout=120, process=process)
        except Exception:
            raise RuntimeError((home / "server.log").read_text()[-4000:])
        os.environ["PREFECT_API_URL"] = api_url
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield api_url
            from prefect.logging.handlers import APILogHandler

            APILogHandler().flush()
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        stop(process)
