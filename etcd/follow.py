"""Following a prefix of etcd: list it, then watch from the next revision; list again when the
history was compacted; retry with a back-off while etcd fails. What the agent's loops that keep a
local copy of some records (the other nodes, the revoked serials) share."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from shoal.etcd.client import (
    EtcdClient, EtcdError, Event, KeyValue, WatchBatch, WatchCompacted, WatchInterrupted, WatchResumed,
)

FIRST_DELAY, MAX_DELAY = 0.2, 2.0


async def follow_prefix(etcd: EtcdClient, prefix: str, *, load: Callable[[list[KeyValue]], None],
                        apply: Callable[[tuple[Event, ...]], None], log: logging.Logger, what: str) -> None:
    """load(kvs) gets the whole prefix at each (re)start, apply(events) each batch of the watch
    that follows. Runs until cancelled. An interrupted watch leaves the copy as it was (the
    client resumes it from the last revision it delivered)."""
    delay = FIRST_DELAY
    while True:
        try:
            kvs, revision = await etcd.get_prefix(prefix)
            load(kvs)
            delay = FIRST_DELAY
            async for item in etcd.watch_prefix(prefix, revision + 1):
                if isinstance(item, WatchBatch):
                    apply(item.events)
                elif isinstance(item, WatchInterrupted):
                    log.warning("%s: etcd watch interrupted: %s", what, item.error)
                elif isinstance(item, WatchResumed):
                    log.info("%s: watch resumed at revision %d", what, item.revision)
        except WatchCompacted:
            log.warning("%s: history compacted; reloading", what)
        except EtcdError as exc:
            log.warning("%s: %s", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
