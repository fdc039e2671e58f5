"""Records read from etcd are untrusted input. An agent's etcd identity may write any bytes under
its own keys (/shoal/nodes/<id>/), and every manager and every other agent reads them: one record
that does not decode must cost that record, never a watch, a load, a pass or a start-up.

`BadRecord` is what every decoder of a record raises, whatever the codec underneath raised;
`BadRecords` counts the records skipped and logs each key at most once a minute."""
from __future__ import annotations

import logging
import time
from typing import Callable

# A hostile writer can make any number of bad keys: remember this many, then start over.
MAX_REMEMBERED = 1024
LOG_EVERY_SECONDS = 60.0


class BadRecord(ValueError):
    """A record that cannot be used as it is: undecodable, out of bounds, or not where it may be."""


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
