"""What every source format is turned into, and the answers the intake gives."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from problemflow.models.alert import AlertOutcome, AlertStatus
from problemflow.models.incident import NUMBER_PREFIX, IncidentCreate
from problemflow.models.numbers import format_number

RULES_CHECK_SECONDS = 1.0

# Alertmanager and Grafana send this for "not ended yet"
_NO_TIME_BEFORE = datetime(1971, 1, 1, tzinfo=timezone.utc)


def clean(text: str, limit: int) -> str:
    """Text that every database accepts: no NUL, no lone surrogates, at most ``limit`` chars."""
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text[:limit]


FINGERPRINT_MAX = 200
_DIGEST_PREFIX = "sha256:"


def identity(value: str) -> str:
    """The identity an alert is deduplicated on: the sender's own value when it is plain
    (printable, at most 200 characters), otherwise a digest of all of it, so that values
    differing anywhere, by a NUL or past the 200th character, stay distinct."""
    if len(value) <= FINGERPRINT_MAX and value.isprintable() and not value.startswith(_DIGEST_PREFIX):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return _DIGEST_PREFIX + digest


def clean_json(value: Any) -> Any:
    """A JSON value every database stores and queries: no NUL and no lone surrogate in any
    string, keys included (PostgreSQL's jsonb refuses ``\\u0000``)."""
    if isinstance(value, str):
        return value if value.isascii() and "\x00" not in value else clean(value, len(value))
    if isinstance(value, dict):
        return {clean_json(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def real_time(value: Optional[datetime]) -> Optional[datetime]:
    """A sender's timestamp, or None for the zero time meaning "unset"."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value if value >= _NO_TIME_BEFORE else None


@dataclass(slots=True)
class NormalAlert:
    """One alert from any source, ready for the writer."""

    source: str
    fingerprint: str
    status: AlertStatus
    payload: dict[str, Any]
    incident_in: Optional[IncidentCreate] = None  # set for firing alerts only


def _load_triage() -> Callable[[IncidentCreate], IncidentCreate]:
    from problemflow.tasks.incident import get_rules, triage

    triage = getattr(triage, "fn", triage)
    rules = [get_rules(), time.monotonic()]

    def with_rules(incident_in: IncidentCreate) -> IncidentCreate:
        # the rules file is checked for changes once a second, not for every alert
        now = time.monotonic()
        if now - rules[1] > RULES_CHECK_SECONDS:
            rules[0], rules[1] = get_rules(), now
        return triage(incident_in, rules[0])

    return with_rules


_triage: Optional[Callable[[IncidentCreate], IncidentCreate]] = None


def load_triage() -> None:
    """Import the triage rules now (at start) rather than on the first alert."""
    global _triage
    if _triage is None:
        _triage = _load_triage()


def triage(incident_in: IncidentCreate) -> IncidentCreate:
    """Owner, category, assignment group and impact / urgency by the incident rules."""
    global _triage
    if _triage is None:
        _triage = _load_triage()
    return _triage(incident_in)


def labelled_alert(
    *,
    source: str,
    fingerprint: str,
    firing: bool,
    payload: dict[str, Any],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    started_at: Optional[datetime] = None,
    description: Optional[str] = None,
) -> NormalAlert:
    """A labelled alert (Alertmanager, Grafana): firing ones carry their triaged incident."""
    if not firing:
        return NormalAlert(source, fingerprint, AlertStatus.resolved, payload)
    incident_in = incident_for(
        source=source, fingerprint=fingerprint, labels=labels, annotations=annotations,
        started_at=started_at, description=description,
    )
    return NormalAlert(source, fingerprint, AlertStatus.firing, payload, incident_in)


def incident_for(
    *,
    source: str,
    fingerprint: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    started_at: Optional[datetime] = None,
    title: Optional[str] = None,
    description: Optional[str] = None,
    service: Optional[str] = None,
) -> IncidentCreate:
    """The incident an alert opens, triaged."""
    title = (
        title
        or annotations.get("summary")
        or annotations.get("title")
        or labels.get("alertname")
        or f"{source} alert {fingerprint}"
    )
    if description is None:
        description = annotations.get("description") or annotations.get("message") or ""
        runbook = annotations.get("runbook_url")
        if runbook:
            description = f"{description}\n\nRunbook: {runbook}".strip()
    incident_in = IncidentCreate(
        title=clean(title, 500).strip() or f"{source} alert",
        description=clean(description, 20_000),
        source=source,
        fingerprint=fingerprint,
        labels={clean(k, 200): clean(v, 2000) for k, v in labels.items()},
        # service and configuration item come from the labels in triage (identify rules)
        service=clean(service, 200) if service else None,
        opened_at=real_time(started_at),
    )
    return triage(incident_in)


class AlertResult(BaseModel):
    fingerprint: str = Field(description="The identity the alert was deduplicated on")
    outcome: AlertOutcome = Field(description="What was done with it")
    incident: Optional[str] = Field(default=None, description="The incident number, e.g. INC0000042")


class IntakeAnswer(BaseModel):
    """Every alert in the request was stored before this answer was sent."""

    status: str = Field(default="stored", examples=["stored"])
    alerts: list[AlertResult]


def answer(stored: list[tuple[str, AlertOutcome, Optional[int]]]) -> JSONResponse:
    """The :class:`IntakeAnswer`, built as plain JSON (no second validation of what we just made)."""
    return JSONResponse(
        {
            "status": "stored",
            "alerts": [
                {
                    "fingerprint": fingerprint,
                    "outcome": outcome.value,
                    "incident": format_number(NUMBER_PREFIX, incident_id) if incident_id else None,
                }
                for fingerprint, outcome, incident_id in stored
            ],
        }
    )
