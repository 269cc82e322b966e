"""What every problem step shares: a session per step and retries on transient errors only."""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from problemflow.models.db import session_scope
from problemflow.tasks.common.retry import RETRIES

logger = logging.getLogger("problemflow.problem")

T = TypeVar("T")

ACTOR = "problemflow"


# decorator options of every step that touches the database or sends notifications
STEP_OPTIONS: dict[str, Any] = {**RETRIES, "persist_result": True}


def run_step(step: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a plain step function in its own transaction (committed on success)."""
    with session_scope() as db_session:
        return step(db_session=db_session, **kwargs)
