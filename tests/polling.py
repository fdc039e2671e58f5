"""Waiting for a condition in tests: poll until a deadline, never a bare sleep.

``poll`` (sync) and ``apoll`` (async; the predicate may be sync or async) call the predicate
until it returns something truthy and return that value. At the deadline they fail with one
message naming what was awaited, the timeout and the last value seen: ``pytest.fail`` by
default, or ``raise error(message)`` when an exception class is given (tests/integration/
sshhosts.py raises its own SshTestHostError; it also runs outside pytest).

The predicate is always called once more at or after the deadline, so a condition that holds
by then is never reported as timed out. Exceptions from the predicate propagate unchanged.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")

_NOTHING = object()


def _fail(what: str, timeout: float, last: object, error: type[BaseException] | None, note: str = "") -> NoReturn:
    seen = "nothing (the predicate never returned)" if last is _NOTHING else repr(last)
    message = f"timed out after {timeout:g} s waiting for {what} (last value: {seen}){note}"
    if error is not None:
        raise error(message)
    import pytest  # only here: sshhosts.py uses this module outside pytest as well

    pytest.fail(message, pytrace=False)


def poll(predicate: Callable[[], T], timeout: float, *, interval: float = 0.2, what: str = "the condition",
         error: type[BaseException] | None = None) -> T:
    """Calls predicate() until it is truthy and returns that value; fails at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = _NOTHING
    while True:
        last = value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _fail(what, timeout, last, error)
        time.sleep(min(interval, remaining))  # the poll interval


async def apoll(predicate: Callable[[], T | Awaitable[T]], timeout: float, *, interval: float = 0.05,
                what: str = "the condition", error: type[BaseException] | None = None) -> T:
    """Awaits predicate() (sync or async) until it is truthy and returns that value; fails at the
    deadline. An async predicate still running at the deadline (or, for a call that starts at it,
    one interval later) is cancelled and counts as a timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = _NOTHING
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            try:
                async with asyncio.timeout_at(max(deadline, loop.time() + interval)):
                    value = await value
            except TimeoutError:
                _fail(what, timeout, last, error, note="; the predicate was still running at the deadline")
        last = value
        if value:
            return value
        remaining = deadline - loop.time()
        if remaining <= 0:
            _fail(what, timeout, last, error)
        await asyncio.sleep(min(interval, remaining))  # the poll interval
