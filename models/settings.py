"""Settings, read from the environment (``PROBLEMFLOW_*``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from problemflow.models.enums import Priority

DEFAULT_SLA_HOURS = {
    "1-critical": 4.0, "2-high": 8.0, "3-moderate": 24.0, "4-low": 72.0, "5-planning": 168.0,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROBLEMFLOW_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".problemflow"), description="Where data and documents live")
    database_url: Optional[str] = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file under the home"
    )

    # people who may answer each kind of gate, e.g.
    # PROBLEMFLOW_ROLES='{"problem_manager": ["alice"], "change_approver": ["bob"]}'
    roles: dict[str, list[str]] = Field(default_factory=dict)
    # the key that encrypts people's one-time-code secrets (a Fernet key); unset: a key file
    # under the home is made on first use. Every worker must share it (set it in production).
    secret_key: Optional[SecretStr] = Field(default=None)
    # Apprise URLs; empty means notifications are only logged
    notify_urls: list[str] = Field(default_factory=list)
    # days after resolution during which a recurrence reopens the problem
    verification_days: int = Field(default=14, ge=0, le=365)
    # a gate waiting longer than this gets a reminder (approval-reminders flow)
    approval_remind_after_hours: float = Field(default=24.0, gt=0, le=24 * 90)
    # how long a suspended problem run waits at a gate before Prefect fails it
    approval_timeout_days: int = Field(default=90, ge=1, le=3650)
    # approvals needed from distinct change approvers (any rejection rejects)
    change_approvals_required: int = Field(default=1, ge=1, le=10)
    # open problems a team (assignment group) may analyse at once; the analyse
    # step holds a slot of the Prefect global concurrency limit "wip-<team>"
    wip_limits: dict[str, int] = Field(default_factory=dict)

    # hours to resolve an incident, per priority; later resolution is an SLA breach
    # (KPI report), e.g. PROBLEMFLOW_SLA_TARGETS='{"1-critical": 2}'
    sla_targets: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))

    # intake
    intake_host: str = "127.0.0.1"
    intake_port: int = Field(default=4300, ge=1, le=65535)
    intake_token: Optional[str] = Field(default=None, description="Bearer token for alert senders")
    intake_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # what a "resolved" alert does: resolve the open incident, or only record the alert
    intake_resolve_policy: Literal["resolve", "record"] = "resolve"
    intake_batch_max: int = Field(default=1000, ge=1, le=100_000, description="alerts per commit at most")
    intake_write_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="a request not stored by then is answered 503 (it may still land)")
    intake_queue_max_alerts: int = Field(
        default=20_000, ge=1, description="alerts waiting to be stored at most; more are refused at once (503)")
    intake_shed_after_seconds: float = Field(
        default=1.0, gt=0, description="refuse new requests at once (503) while the writer is this far behind")
    intake_retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After sent with 503")
    # run the response step (KEDB match, escalation) for new incidents in the intake process
    intake_respond: bool = True

    # recurrence
    recurrence_threshold: int = Field(default=3, ge=2, description="incidents in a group to open a problem")
    recurrence_window_days: int = Field(default=7, ge=1)
    recurrence_split_by_service: bool = Field(
        default=False, description="the same message on two services is two recurrences (the service field names "
        "the affected service, not the program that logged the message)")
    recurrence_open_max: int = Field(
        default=5, ge=0, le=1000,
        description="problems the recurrence scan keeps open at once; further groups wait, ranked, in its queue")
    recurrence_scan_minutes: int = Field(default=15, ge=1, le=1440, description="how often the scan is served")

    @field_validator("sla_targets")
    @classmethod
    def _complete_sla_targets(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(DEFAULT_SLA_HOURS))
        if unknown:
            raise ValueError(f"unknown priorities {unknown}; use {sorted(DEFAULT_SLA_HOURS)}")
        if any(hours <= 0 for hours in value.values()):
            raise ValueError("SLA targets are hours to resolve and must be positive")
        return {**DEFAULT_SLA_HOURS, **value}

    # incident steps: triage rules and the KEDB match that response attaches
    rules_file: Optional[Path] = Field(
        default=None, description="TOML triage rules; default: the rules shipped with problemflow"
    )
    kedb_attach_score: float = Field(
        default=0.6, ge=0, le=1, description="a known error scoring at least this is attached"
    )
    escalate_priorities: list[Priority] = Field(
        default_factory=lambda: [Priority.critical, Priority.high],
        description='priorities that escalate, e.g. ["1-critical", "2-high"]',
    )

    @model_validator(mode="after")
    def _default_database(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.home / 'problemflow.db').resolve()}"
        return self

    @property
    def output_dir(self) -> Path:
        return self.home / "output"

    def people_with(self, role: str) -> list[str]:
        return list(self.roles.get(str(role), []))


@lru_cache
def get_settings() -> Settings:
    return Settings()
