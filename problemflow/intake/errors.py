"""Answers for requests the intake refuses: what is wrong, and where; each one documented."""

from __future__ import annotations

import logging
from typing import Any, Literal, Optional

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from problemflow.intake import metrics
from problemflow.intake.guard import source_of
from problemflow.intake.writer import DatabaseUnavailable, Overloaded

logger = logging.getLogger("problemflow.intake")


class Refusal(BaseModel):
    """Refused before the body was read (authentication, size, framing)."""

    detail: str = Field(examples=["the bearer token is wrong"])


class Problem(BaseModel):
    field: str = Field(description="Dotted path of the field at fault, or `body`", examples=["alerts.0.title"])
    problem: str = Field(examples=["String should have at least 1 character"])


class Invalid(BaseModel):
    """The body is JSON but not a valid request: every problem, by field."""

    detail: list[Problem]
    message: str = Field(description="The problems in one line", examples=["alerts.0.title: Field required"])


class Malformed(BaseModel):
    """The body is not JSON, or is nested too deeply."""

    detail: list[Problem] | str
    message: str = ""


class Unavailable(BaseModel):
    """Not stored now; send the same request again after `Retry-After` seconds."""

    detail: str = Field(examples=["nothing was stored: the database is unavailable; retry after 5 s"])
    stored: Literal["nothing", "maybe"] = Field(
        description="`nothing`: no alert of the request was stored. `maybe`: the write may have "
        "landed; retrying is safe because alerts are deduplicated."
    )


class PagerDutyInvalid(BaseModel):
    """PagerDuty's own shape for an invalid event."""

    status: str = Field(examples=["invalid event"])
    message: str = Field(examples=["Event object is invalid"])
    errors: list[str]


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before sending again", "schema": {"type": "integer"}}}


def responses(*, pagerduty: bool = False) -> dict[int | str, dict[str, Any]]:
    """The refusals an alert endpoint can answer, for the OpenAPI document."""
    documented: dict[int | str, dict[str, Any]] = {
        400: {"model": PagerDutyInvalid if pagerduty else Malformed,
              "description": "The body is not valid JSON" + (" or not a valid event" if pagerduty else "")},
        401: {"model": Refusal, "description": "Missing or wrong bearer token"
              + (" (or routing_key)" if pagerduty else "")},
        413: {"model": Refusal, "description": "The body is larger than the limit"},
        503: {"model": Unavailable, "description": "Not stored now: retry after Retry-After seconds",
              "headers": _RETRY_AFTER},
    }
    if not pagerduty:  # PagerDuty's senders get 400 for an invalid event, as from PagerDuty
        documented[422] = {"model": Invalid, "description": "The body is JSON but not a valid request"}
    return documented


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


def _malformed(request: Request, message: str) -> JSONResponse:
    source = source_of(request.url.path)
    metrics.REJECTED.labels(source, "malformed").inc()
    if source == "pagerduty":
        return JSONResponse(
            status_code=400,
            content={"status": "invalid event", "message": "Event object is invalid", "errors": [message]},
        )
    return JSONResponse(status_code=400, content={"detail": message, "message": message})


def _unreadable(cause: Optional[BaseException]) -> str:
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid JSON: it is not UTF-8 ({cause.reason} at byte {cause.start})"
    return "the body could not be read as JSON"


async def on_too_deep(request: Request, error: RecursionError) -> JSONResponse:
    return _malformed(request, "the JSON body is nested too deeply")


async def on_http_error(request: Request, error: HTTPException) -> Response:
    """FastAPI's own refusals. A body it cannot read as JSON at all (not UTF-8, nested too
    deeply) is a 400 of FastAPI's that says only "There was an error parsing the body":
    on an alert path it is answered as every malformed body is, with what is wrong."""
    if error.status_code == 400 and source_of(request.url.path) != "unknown":
        return _malformed(request, _unreadable(error.__cause__))
    return await http_exception_handler(request, error)


async def on_unavailable(request: Request, error: DatabaseUnavailable) -> JSONResponse:
    reason = "overloaded" if isinstance(error, Overloaded) else "unavailable"
    metrics.REJECTED.labels(source_of(request.url.path), reason).inc()
    retry_after = request.app.state.settings.intake_retry_after_seconds
    if error.maybe_stored:
        detail = f"the alerts may have been stored ({error}); retrying is safe: alerts are deduplicated"
    else:
        detail = f"nothing was stored: {error}; retry after {retry_after} s"
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": str(retry_after)},
        content={"detail": detail, "stored": "maybe" if error.maybe_stored else "nothing"},
    )


async def on_fault(request: Request, error: Exception) -> JSONResponse:
    """A fault of ours while handling a request: logged, and answered as a retryable 503."""
    logger.exception("could not handle a request to %s", request.url.path)
    return await on_unavailable(request, DatabaseUnavailable("the intake failed on this request", maybe_stored=True))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RecursionError, on_too_deep)
    app.add_exception_handler(DatabaseUnavailable, on_unavailable)
    app.add_exception_handler(Exception, on_fault)
