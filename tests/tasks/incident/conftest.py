from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """A local HTTP endpoint that keeps every JSON body posted to it (Apprise ``json://``)."""

    def __init__(self):
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    """Notifications go to a local receiver for the test."""
    from models.settings import get_settings

    server = Receiver()
    monkeypatch.setenv("PROBLEMFLOW_NOTIFY_URLS", json.dumps([server.url]))
    get_settings.cache_clear()
    yield server
    server.close()
    monkeypatch.delenv("PROBLEMFLOW_NOTIFY_URLS")
    get_settings.cache_clear()


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
