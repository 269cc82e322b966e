"""The practical limit: the same server stack, the same payload parsing, no storage."""

from __future__ import annotations

from fastapi import FastAPI

from problemflow.intake.alertmanager import AlertmanagerWebhook


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/alerts/alertmanager")
    async def receive(webhook: AlertmanagerWebhook):
        return {"status": "ok", "alerts": len(webhook.alerts)}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    return app
