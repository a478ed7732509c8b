"""Polling for a condition with a deadline: the harness never sleeps a fixed time and hopes."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until[T](predicate: Callable[[], T | None], timeout: float, interval: float = 0.05,
                  message: str = "condition") -> T:
    """The first truthy value `predicate` returns within `timeout` seconds; AssertionError if none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
