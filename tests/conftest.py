"""Shared fixtures: a fresh database per test session, on SQLite or PostgreSQL.

``PROBLEMFLOW_TEST_DB=postgresql`` runs the suite against the PostgreSQL server
at ``PROBLEMFLOW_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432``);
a database is created for the run and dropped after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.served import served_prefect

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# one key for every process the tests start, so a secret sealed here opens in a served flow
os.environ.setdefault("PROBLEMFLOW_SECRET_KEY", "JYuHnvkHQukryKQeNv7dwLV5HlQwh4gTcNMRFZwUEGM=")

BACKEND = os.environ.get("PROBLEMFLOW_TEST_DB", "sqlite")
PG_SERVER = os.environ.get("PROBLEMFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def pytest_report_header(config):
    return f"problemflow database backend: {BACKEND}"


def _pg_admin_engine():
    return create_engine(
        PG_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )


@pytest.fixture(scope="session")
def problemflow_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def db_url(problemflow_home: Path):
    """A migrated, empty database for this test session; its URL is exported to
    ``PROBLEMFLOW_DATABASE_URL`` so the CLI and other processes use it too."""
    from problemflow.models.db import get_engine, upgrade
    from problemflow.models.settings import get_settings

    if BACKEND == "postgresql":
        name = f"problemflow_test_{uuid.uuid4().hex[:10]}"
        admin = _pg_admin_engine()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_SERVER}/{name}".replace("postgresql://", "postgresql+psycopg://")
    else:
        url = f"sqlite:///{problemflow_home / 'test.db'}"
    previous = {k: os.environ.get(k) for k in ("PROBLEMFLOW_DATABASE_URL", "PROBLEMFLOW_HOME")}
    os.environ["PROBLEMFLOW_DATABASE_URL"] = url
    os.environ["PROBLEMFLOW_HOME"] = str(problemflow_home)
    get_settings.cache_clear()
    upgrade(url)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    if BACKEND == "postgresql":
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def clear_tables(url: str) -> None:
    """Empty every table of ours (not alembic's), restarting ids."""
    from problemflow.models.base import Base
    from problemflow.models.db import get_engine

    engine = get_engine(url)
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())
            has_seq = connection.execute(
                text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first()
            if has_seq:
                connection.execute(text("DELETE FROM sqlite_sequence"))


@pytest.fixture
def clean_db(db_url: str) -> str:
    """The session database, emptied before the test."""
    clear_tables(db_url)
    return db_url


@pytest.fixture
def db_session(clean_db: str):
    """A session on an empty database; committed work stays until the next test."""
    from problemflow.models.db import session_scope

    with session_scope(clean_db) as session:
        yield session


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real Prefect server on a free port for the whole test session; yields its API URL."""
    with served_prefect(tmp_path_factory.mktemp("prefect")) as api_url:
        yield api_url


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
    from problemflow.models.settings import get_settings

    server = Receiver()
    monkeypatch.setenv("PROBLEMFLOW_NOTIFY_URLS", json.dumps([server.url]))
    get_settings.cache_clear()
    yield server
    server.close()
    monkeypatch.delenv("PROBLEMFLOW_NOTIFY_URLS")
    get_settings.cache_clear()


class Cli:
    """The installed ``problemflow`` command, run the way a person runs it."""

    executable = Path(sys.executable).parent / "problemflow"

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.executable), *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"problemflow {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(clean_db: str) -> Cli:
    """The command on the test database, with no Prefect server and no notification channel."""
    env = dict(os.environ)
    env["PROBLEMFLOW_DATABASE_URL"] = clean_db
    env["COLUMNS"] = "200"
    env.pop("PREFECT_API_URL", None)
    env.pop("PROBLEMFLOW_NOTIFY_URLS", None)
    return Cli(env)
