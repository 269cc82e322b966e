"""Waiting for a condition in tests: poll, stop as soon as it holds, and on timeout say what
was awaited and what was last seen. Never resubmits anything; it only looks."""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


class Stop(AssertionError):
    """Raised by a ``done`` check when waiting longer cannot help (a run that failed)."""


def wait_until(probe: Callable[[], T], done: Optional[Callable[[T], bool]] = None, *, what: str,
               timeout: float = 60, interval: float = 0.25, show: Callable[[T], object] = repr) -> T:
    """Call ``probe`` until ``done(value)`` holds (or the value is truthy); returns that value."""
    done = done or bool
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; last seen: {show(value)}")
        time.sleep(interval)
