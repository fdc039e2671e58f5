"""Keeps /shoal/placed/ (what DNS servers check agents' endpoint records against) equal to the
container records: written with each placement and deleted with each record, it is repaired here
for records that predate it (an upgrade) or a write that failed half-way. On the leader, at its
start and every few minutes; one read of the prefix, the difference in fenced transactions."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from shoal.manager.state import ClusterState
from shoal.manager.store import NotLeader, Store, placed_record
from shoal.protos import etcd_keys, placements
from shoal.etcd.client import Compare, EtcdError, Op
from shoal.protos.limits import ETCD_TXN_OPS
from shoal.protos.record_guard import BadRecord

log = logging.getLogger("shoal.manager.placed")
REPAIR_SECONDS = 300.0
FIRST_DELAY_SECONDS = 5.0


def placed_diff(state: ClusterState, stored: dict[str, bytes]) -> tuple[list[tuple[str, str]], list[str]]:
    """Pure: (puts, deletes) that make `stored` (placed key -> value) match the container records."""
    wanted = {}
    for c in state.containers.records():
        key, value = placed_record(c)
        wanted[key] = value
    puts = []
    for key, value in wanted.items():
        have = stored.get(key)
        try:
            same = have is not None and placements.decode(have) == placements.decode(value)
        except BadRecord:
            same = False
        if not same:
            puts.append((key, value))
    deletes = [key for key in stored if key not in wanted]
    return puts, deletes


async def repair_placed(state: ClusterState, store: Store, is_leader: Callable[[], bool]) -> None:
    await asyncio.sleep(FIRST_DELAY_SECONDS)
    while True:
        if store.healthy.is_set() and is_leader():
            try:
                await _repair_once(state, store)
            except (EtcdError, NotLeader, TimeoutError) as exc:
                log.warning("placed records: %s", exc or "etcd did not answer in time")
        await asyncio.sleep(REPAIR_SECONDS)


async def _repair_once(state: ClusterState, store: Store) -> None:
    kvs, revision = await store.etcd.get_prefix(etcd_keys.PLACED)
    if state.revision < revision:
        return      # our view is behind the read: what looks missing may be in flight; next round
    puts, deletes = placed_diff(state, {kv.key: kv.value for kv in kvs})
    # Each operation is compared with its container record as it is at commit time: a record made
    # or removed since the read writes or deletes its own placed record in its own transaction.
    items = [(k, v, Compare.create_revision(etcd_keys.container(k[len(etcd_keys.PLACED):]), ">", 0))
             for k, v in puts]
    items += [(k, None, Compare.create_revision(etcd_keys.container(k[len(etcd_keys.PLACED):]), "==", 0))
              for k in deletes]
    done = 0
    for start in range(0, len(items), ETCD_TXN_OPS - 1):
        chunk = items[start:start + ETCD_TXN_OPS - 1]
        result = await store.txn([cmp for _, _, cmp in chunk],
                                 [Op.put(k, v) if v is not None else Op.delete(k) for k, v, _ in chunk])
        done += len(chunk) if result.succeeded else 0
    if items:
        log.info("placed records repaired: %d of %d (%d to write, %d to remove)", done, len(items), len(puts),
                 len(deletes))
