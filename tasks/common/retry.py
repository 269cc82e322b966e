"""The one retry policy of every task: which failures a retry can cure, and how often it tries."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy.exc import DBAPIError, OperationalError

logger = logging.getLogger("problemflow.retry")


class TransientError(RuntimeError):
    """A failure of something outside that a later try can cure (a channel that did not answer)."""


def is_transient(error: BaseException) -> bool:
    """True for failures that a retry can cure: a lost or locked database, a
    notification channel or the Prefect API that did not answer (or was busy).
    Validation errors are never transient."""
    if isinstance(error, (OperationalError, TransientError, httpx.TransportError)):
        return True
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in (429, 502, 503, 504)
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        text = str(error.orig).lower()
        return "database is locked" in text or "connection" in text
    return False


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for the steps: retry only what :func:`is_transient` says."""
    try:
        state.result()
    except Exception as error:  # the step's own exception, re-raised by Prefect
        retry = is_transient(error)
        if retry:
            logger.warning("step %s failed transiently, retrying: %s", task_run.name, error)
        return retry
    return False


# Decorator options of every task: three tries more, a second, five and fifteen seconds
# apart, and only for failures a retry can cure.
RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [1, 5, 15], "retry_condition_fn": retry_on_transient}
