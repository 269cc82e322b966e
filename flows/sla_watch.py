"""The ``sla-watch`` flow: announce incidents that breach their SLA target, once each."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow

from problemflow.flows.deployments import register
from problemflow.tasks.incident.sla import SlaBreach, watch_task

DEPLOYMENT = "sla-watch"


@flow(name="sla-watch", log_prints=True)
def sla_watch() -> list[SlaBreach]:
    """Notify the configured channels about open incidents past their priority's target."""
    breaches = watch_task()
    print(f"{len(breaches)} new SLA breach(es)")
    return breaches


@register
def deployments() -> list:
    return [sla_watch.to_deployment(
        name=DEPLOYMENT, interval=timedelta(minutes=15), tags=["problemflow", "incident"],
        description="Every 15 minutes: notify about open incidents past their SLA target (PROBLEMFLOW_SLA_TARGETS).",
    )]
