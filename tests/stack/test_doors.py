"""``problemflow up`` says what it leaves open to the network."""

from __future__ import annotations

from problemflow.models.settings import Settings
from problemflow.stack import door_warnings


def test_open_doors_are_named(monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    local = Settings(intake_host="127.0.0.1")
    assert door_warnings(local, "http://127.0.0.1:4200/api") == []
    exposed = door_warnings(Settings(intake_host="0.0.0.0"), "http://prefect.example.com:4200/api")
    assert len(exposed) == 2
    assert "PROBLEMFLOW_INTAKE_TOKEN" in exposed[0] and "PREFECT_SERVER_API_AUTH_STRING" in exposed[1]
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "admin:pass")
    guarded = Settings(intake_host="0.0.0.0", intake_token="t0k3n")
    assert door_warnings(guarded, "http://prefect.example.com:4200/api") == []
