"""``problemflow demo``: a realistic alert storm through the running stack.

It posts Alertmanager webhooks to the intake (several services, repeats and a
burst of one alert), runs the recurrence scan, and waits until the problem the
scan opened has its problem-management run waiting at the first approval.
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import httpx

# (alertname, service, instance, severity, summary)
NOISE = [
    ("HighCPU", "search", "search-1:9100", "warning", "CPU above 90% for 10 minutes"),
    ("CertificateExpiresSoon", "api-gateway", "gw-1:443", "warning", "TLS certificate expires in 12 days"),
    ("PodCrashLooping", "billing", "billing-7f9c", "warning", "billing pod restarted 5 times"),
    ("BackupFailed", "postgres", "db-backup-1", "critical", "nightly backup failed"),
]
# the one that keeps coming back: disk fills on the orders database
RECURRING = ("DiskSpaceLow", "orders-db", "orders-db-1:9100", "critical", "Disk /var/lib/postgresql above 95%")


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def alert(
    alertname: str, service: str, instance: str, severity: str, summary: str,
    *, status: str, starts: datetime, round_no: int,
) -> dict[str, Any]:
    labels = {"alertname": alertname, "service": service, "instance": instance, "severity": severity}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary, "description": f"{summary} on {instance}"},
        "startsAt": starts.isoformat(),
        "endsAt": (starts + timedelta(minutes=5)).isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        # Alertmanager's fingerprint depends on the labels only, so it repeats every round
        "fingerprint": fingerprint(alertname, service, instance),
    }


def webhook(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    first = alerts[0]["labels"]
    return {
        "version": "4",
        "groupKey": f"{{}}:{{alertname=\"{first['alertname']}\"}}",
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "problemflow",
        "groupLabels": {"alertname": first["alertname"]},
        "commonLabels": first,
        "commonAnnotations": alerts[0]["annotations"],
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    }


def storm(rounds: int = 4, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Webhook bodies: the recurring alert fires and resolves ``rounds`` times,
    with repeats of each firing and unrelated noise in between."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc) - timedelta(hours=rounds * 6)
    for round_no in range(rounds):
        starts = now + timedelta(hours=round_no * 6)
        for _ in range(3):  # Alertmanager re-sends while it keeps firing
            yield webhook([alert(*RECURRING, status="firing", starts=starts, round_no=round_no)])
        for spec in rng.sample(NOISE, 2):
            yield webhook([alert(*spec, status="firing", starts=starts, round_no=round_no)])
        yield webhook([alert(*RECURRING, status="resolved", starts=starts, round_no=round_no)])


def post_storm(intake_url: str, token: str | None, rounds: int = 4) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sent = 0
    with httpx.Client(base_url=intake_url, headers=headers, timeout=30) as client:
        for body in storm(rounds):
            response = client.post("/v1/alerts/alertmanager", json=body)
            response.raise_for_status()
            sent += len(body["alerts"])
    return sent


def run_scan_deployment(timeout: float = 300) -> None:
    """Run the recurrence scan through its deployment and wait for it to finish."""
    from prefect.deployments import run_deployment

    from problemflow.flows.recurrence import recurrence_scan

    run = run_deployment(f"{recurrence_scan.name}/recurrence-scan", timeout=timeout)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"the recurrence scan ended in state {run.state.name if run.state else 'unknown'}")


def wait_for_suspended_problem_run(timeout: float = 180) -> tuple[str, str] | None:
    """The newest problem-management run waiting at a gate: (run id, run name)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["problem-management"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Suspended", "Paused"]))
                ),
                limit=1,
            )
            if runs:
                return str(runs[0].id), runs[0].name
            time.sleep(2)
    return None
