"""What every problem step shares: a session per step and retries on transient errors only."""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from models.db import session_scope
from tasks.notify import NotificationFailed

logger = logging.getLogger("problemflow.problem")

T = TypeVar("T")

ACTOR = "problemflow"


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


# decorator options of every step that touches the database or sends notifications
STEP_OPTIONS: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [0.5, 2, 10],
    "retry_condition_fn": retry_on_transient,
    "persist_result": True,
}


def run_step(step: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a plain step function in its own transaction (committed on success)."""
    with session_scope() as db_session:
        return step(db_session=db_session, **kwargs)
