"""The intake service: alert webhooks in, incidents out, durably, fast."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from typing import Literal, Optional

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from problemflow import __version__
from problemflow.intake import alertmanager, errors, generic, grafana, metrics, pagerduty
from problemflow.intake.common import IntakeAnswer, answer
from problemflow.intake.guard import ALERTS_PREFIX, Guard
from problemflow.intake.responder import Responder, load_respond
from problemflow.intake.writer import GroupWriter, StoredAlerts
from problemflow.models.alert import AlertOutcome
from problemflow.models.db import get_engine
from problemflow.models.settings import Settings, get_settings

logger = logging.getLogger("problemflow.intake")

DESCRIPTION = """\
Receives monitoring alerts and turns them into incidents: deduplicated on the
sender's fingerprint, triaged (category, assignment group, priority), linked to
earlier incidents when they recur, resolved when the sender says so.

**A 2xx answer means every alert of the request is stored.** A request is stored
whole or refused whole. When the database cannot take it, or the intake is
behind, the answer is 503 with `Retry-After` at once; its `stored` field says
whether nothing was stored or the write may have landed. Sending the same
request again is always safe: alerts are deduplicated.

Authenticate with `Authorization: Bearer <PROBLEMFLOW_INTAKE_TOKEN>`.
"""

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "PROBLEMFLOW_INTAKE_TOKEN, checked before the body is read. "
    "PagerDuty senders, which cannot set headers, may put it in `routing_key` instead.",
}


class Health(BaseModel):
    status: Literal["ok"]


async def _ingest(request: Request, source: str, body) -> StoredAlerts:
    """Store the request's alerts (the writer thread makes incidents of them)."""
    state = request.app.state
    stored = await state.writer.submit(source, body)
    metrics.RECEIVED.labels(source).inc(len(stored))
    duplicates = sum(1 for _, outcome, _ in stored if outcome == AlertOutcome.deduplicated)
    if duplicates:
        metrics.DEDUPLICATED.labels(source).inc(duplicates)
    return stored


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    """The ASGI app; uvicorn calls it as a factory (``--factory``) in each worker."""
    settings = settings or get_settings()
    engine = get_engine(settings.database_url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Everything imported so far lives as long as the process: keep it out of the
        # garbage collector's full passes, which would otherwise walk it again and again.
        gc.collect()
        gc.freeze()
        responder = Responder(sessions, load_respond() if settings.intake_respond else None)
        writer = GroupWriter(
            settings.database_url,
            policy=settings.intake_resolve_policy,
            max_batch=settings.intake_batch_max,
            max_queued=settings.intake_queue_max_alerts,
            shed_after=settings.intake_shed_after_seconds,
            timeout=settings.intake_write_timeout_seconds,
            on_created=responder.submit,
            on_batch=metrics.observe_batch,
        )
        app.state.writer, app.state.responder = writer, responder
        writer.start()
        responder.start()
        try:
            yield
        finally:
            writer.stop()
            responder.stop()

    app = FastAPI(
        title="problemflow intake",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = metrics.DatabaseCollector(engine)
    errors.install(app)
    app.add_middleware(Guard, token=settings.intake_token, max_body_bytes=settings.intake_max_body_bytes)

    @app.post("/v1/alerts/alertmanager", response_model=IntakeAnswer, responses=errors.responses(), tags=["alerts"])
    async def receive_alertmanager(webhook: alertmanager.AlertmanagerWebhook, request: Request):
        """Prometheus Alertmanager webhook receiver (payload version 4)."""
        return answer(await _ingest(request, alertmanager.SOURCE, webhook))

    @app.post("/v1/alerts/grafana", response_model=IntakeAnswer, responses=errors.responses(), tags=["alerts"])
    async def receive_grafana(webhook: grafana.GrafanaWebhook, request: Request):
        """Grafana alerting webhook contact point."""
        return answer(await _ingest(request, grafana.SOURCE, webhook))

    @app.post(
        "/v1/alerts/pagerduty",
        response_model=pagerduty.PagerDutyAnswer,
        status_code=202,
        responses=errors.responses(pagerduty=True),
        tags=["alerts"],
    )
    async def receive_pagerduty(event: pagerduty.PagerDutyEvent, request: Request):
        """PagerDuty Events API v2 (`trigger`, `acknowledge`, `resolve`), answered as PagerDuty does.
        Senders that cannot set headers put the intake token in `routing_key`."""
        [(dedup_key, _, _)] = await _ingest(request, pagerduty.SOURCE, event)
        return pagerduty.PagerDutyAnswer(status="success", message="Event processed", dedup_key=dedup_key)

    @app.post("/v1/alerts/generic", response_model=IntakeAnswer, responses=errors.responses(), tags=["alerts"])
    async def receive_generic(batch: generic.GenericAlerts, request: Request):
        """Alerts in problemflow's own format (see the schema below)."""
        return answer(await _ingest(request, generic.SOURCE, batch))

    @app.get(
        "/healthz",
        tags=["service"],
        response_model=Health,
        responses={503: {"model": errors.Refusal, "description": "The writer cannot make progress"}},
    )
    async def healthz():
        """Health: the process answers and its writer makes progress."""
        trouble = app.state.writer.healthy()
        if trouble is not None:
            raise HTTPException(503, trouble)
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=Response,
        responses={200: {"description": "The intake's metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics_endpoint():
        """Prometheus text exposition."""
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(app.state.database), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict:
        """FastAPI's document, with the Guard's bearer token on every alert path when one is configured."""
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            if settings.intake_token:
                document["components"]["securitySchemes"] = {"bearer": BEARER}
                for path, operations in document["paths"].items():
                    if path.startswith(ALERTS_PREFIX):
                        for operation in operations.values():
                            operation["security"] = [{"bearer": []}]
        return app.openapi_schema

    app.openapi = openapi
    return app
