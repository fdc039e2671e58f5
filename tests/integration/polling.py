"""Waiting for a condition in tests: poll with a deadline, never a bare sleep."""
from __future__ import annotations

import time

import pytest


def poll(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Polls until predicate() is truthy; returns its value or fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)  # poll interval
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
