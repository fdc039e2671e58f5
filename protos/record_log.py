"""The records skipped as bad (protos/record_guard.py), counted, each key logged at most once a
minute: a hostile writer can make any number of bad keys, and the log must not become its channel."""
from __future__ import annotations

import logging
import time
from typing import Callable

# A hostile writer can make any number of bad keys: remember this many, then start over.
MAX_REMEMBERED = 1024
LOG_EVERY_SECONDS = 60.0


class BadRecords:
    def __init__(self, log: logging.Logger, every: float = LOG_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.log = log
        self.every = every
        self.clock = clock
        self.count = 0
        self._logged: dict[str, float] = {}
        self._suppressed = 0

    def report(self, key: str, reason: str) -> None:
        self.count += 1
        t = self.clock()
        last = self._logged.get(key)
        if last is not None and t - last < self.every:
            self._suppressed += 1
            return
        if len(self._logged) >= MAX_REMEMBERED:
            self._logged.clear()
        self._logged[key] = t
        more = f" ({self._suppressed} more bad records not logged)" if self._suppressed else ""
        self._suppressed = 0
        # The key is ours to show (bounded by etcd), the value is not: it may be anything.
        self.log.warning("skipped a bad record %s: %s%s", _printable(key), _printable(reason), more)


def _printable(text: str, limit: int = 200) -> str:
    shown = text[:limit].encode("unicode_escape").decode("ascii")
    return shown + ("..." if len(text) > limit else "")
