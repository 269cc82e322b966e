"""Answers for requests the intake refuses: what is wrong, and where."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from problemflow.intake import metrics
from problemflow.intake.guard import source_of
from problemflow.intake.writer import DatabaseUnavailable


def problems_of(error: RequestValidationError) -> list[dict[str, str]]:
    """Each problem as the field it is in (dotted path) and what is wrong with it."""
    problems = []
    for item in error.errors():
        location = [str(p) for p in item.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(location) or "body", "problem": item.get("msg", "invalid")})
    return problems


def _is_malformed(error: RequestValidationError) -> bool:
    return any(item.get("type") == "json_invalid" for item in error.errors())


async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    source = source_of(request.url.path)
    problems = problems_of(error)
    malformed = _is_malformed(error)
    metrics.REJECTED.labels(source, "malformed" if malformed else "invalid").inc()
    status = 400 if malformed else 422
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    if malformed:
        message = f"the body is not valid JSON ({message})"
    if source == "pagerduty":  # PagerDuty's own error shape, so its senders log it well
        return JSONResponse(
            status_code=400,
            content={"status": "invalid event", "message": "Event object is invalid", "errors": [message]},
        )
    return JSONResponse(status_code=status, content={"detail": problems, "message": message})


async def on_too_deep(request: Request, error: RecursionError) -> JSONResponse:
    metrics.REJECTED.labels(source_of(request.url.path), "malformed").inc()
    return JSONResponse(status_code=400, content={"detail": "the JSON body is nested too deeply"})


async def on_unavailable(request: Request, error: DatabaseUnavailable) -> JSONResponse:
    metrics.REJECTED.labels(source_of(request.url.path), "unavailable").inc()
    retry_after = str(request.app.state.settings.intake_retry_after_seconds)
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": retry_after},
        content={"detail": f"nothing was stored: the database is unavailable ({error}); retry later"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(RecursionError, on_too_deep)
    app.add_exception_handler(DatabaseUnavailable, on_unavailable)
