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
