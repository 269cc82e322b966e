from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.served import served_prefect

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """The Prefect server as ``problemflow up`` runs it by default: on a private PostgreSQL
    (Prefect on SQLite refuses answers under load, which this test must not hide)."""
    from problemflow import prefect_db

    home = tmp_path_factory.mktemp("prefect")
    cluster = prefect_db.start(home)
    try:
        with served_prefect(home, database_url=cluster.url) as api_url:
            yield api_url
    finally:
        prefect_db.stop(cluster)


@pytest.fixture
def ui_stack(prefect_server, clean_db, problemflow_home, tmp_path):
    """The operator-facing deployments served against the real Prefect server."""
    env = dict(os.environ)
    env.update(
        PROBLEMFLOW_DATABASE_URL=clean_db,
        PROBLEMFLOW_HOME=str(problemflow_home),
        PROBLEMFLOW_ROLES=json.dumps({"problem_manager": ["mia"], "change_approver": ["bob"]}),
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PREFECT_API_URL=prefect_server,
    )
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "serve_ui_flows.py")], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from problemflow.prefect_server import stop

    yield prefect_server.removesuffix("/api")
    stop(process)


@pytest.fixture
def operator(ui_stack, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.e2e.ui import CHROMIUM, CHROMIUM_ARGS, Operator

    shots = Path(os.environ.get("PROBLEMFLOW_SCREENSHOTS", tmp_path / "screens"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        yield Operator(page=page, ui_url=ui_stack, shots=shots)
        browser.close()
