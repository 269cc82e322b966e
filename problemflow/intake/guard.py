"""Authentication and the body-size limit, checked before a request body is parsed.

Pure ASGI, so it costs little per request. For paths under ``/v1/alerts/``:

* a bearer token is required when one is configured (401 otherwise); without one,
  only senders on the loopback interface are accepted;
* a body over the limit gets 413, whether announced by Content-Length or streamed.

PagerDuty senders cannot set headers: on the PagerDuty path a request without an
Authorization header authenticates with the event's ``routing_key``, read from the
body here, before the body is validated. Tokens are compared as UTF-8 bytes.
"""

from __future__ import annotations

import hmac
import json
from typing import Optional

from problemflow.intake import metrics

ALERTS_PREFIX = "/v1/alerts/"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
SOURCES = {"alertmanager", "grafana", "pagerduty", "generic"}


def source_of(path: str) -> str:
    name = path[len(ALERTS_PREFIX):].strip("/") if path.startswith(ALERTS_PREFIX) else ""
    return name if name in SOURCES else "unknown"


def token_matches(given: "Optional[str | bytes]", token: str) -> bool:
    """Constant-time comparison of UTF-8 bytes (a header arrives as bytes, a routing_key as text)."""
    if given is None:
        return False
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(given, token.encode("utf-8"))


def _routing_key(body: bytes) -> Optional[str]:
    """The ``routing_key`` of a PagerDuty event body, or None when there is none to read."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    key = event.get("routing_key") if isinstance(event, dict) else None
    return key if isinstance(key, str) else None


class Guard:
    def __init__(self, app, *, token: Optional[str], max_body_bytes: int):
        self.app = app
        self.token = token
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(ALERTS_PREFIX):
            return await self.app(scope, receive, send)
        source = source_of(scope["path"])
        authorization = None
        length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
        refusal = self._refuse(scope, authorization, source)
        if refusal is not None:
            metrics.REJECTED.labels(source, "auth").inc()
            return await _answer(send, 401, refusal, {"www-authenticate": "Bearer"})
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                return await _answer(send, 400, "Content-Length is not a number")
            if announced > self.max_body:
                metrics.REJECTED.labels(source, "size").inc()
                return await _answer(send, 413, self._too_large())
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                metrics.REJECTED.labels(source, "size").inc()
                return await _answer(send, 413, self._too_large())
            if not message.get("more_body", False):
                break
        if scope.get("state", {}).pop("auth_pending", False) and not token_matches(_routing_key(bytes(body)), self.token):
            metrics.REJECTED.labels(source, "auth").inc()
            return await _answer(send, 401, "neither a bearer token nor a routing_key matching the intake token",
                                 {"www-authenticate": "Bearer"})
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_body} bytes"

    def _refuse(self, scope, authorization: Optional[bytes], source: str) -> Optional[str]:
        """Why the request is refused, or None when it may go on."""
        if self.token is None:
            client = (scope.get("client") or ("",))[0]
            if client in LOOPBACK:
                return None
            return "no intake token is configured, so only senders on this machine are accepted"
        if authorization is None:
            if source == "pagerduty":
                scope.setdefault("state", {})["auth_pending"] = True
                return None
            return "an Authorization: Bearer <token> header is required"
        scheme, _, given = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not token_matches(given.strip(), self.token):
            return "the bearer token is wrong"
        return None


async def _answer(send, status: int, detail: str, headers: Optional[dict[str, str]] = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
