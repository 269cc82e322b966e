"""Which failures a retry can cure, for every task's ``retry_condition_fn``."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from problemflow.tasks.common.notify import NotificationFailed

logger = logging.getLogger("problemflow.retry")


def is_transient(error: BaseException) -> bool:
    """True for failures that a retry can cure: a lost or locked database, a
    notification channel that did not answer. Validation errors are never transient."""
    if isinstance(error, (OperationalError, NotificationFailed)):
        return True
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
