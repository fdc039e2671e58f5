"""The revoked certificate serials, followed from etcd so a removed node's (or manager's)
certificate is refused by this agent on its very next call."""
from __future__ import annotations

import asyncio
import logging

from pki.grpc_tls import Revocations
from protos import etcd_keys
from protos.etcdv3.client import EtcdClient, EtcdError, WatchBatch, WatchCompacted

log = logging.getLogger("shoal.agent.revocations")


async def follow(etcd: EtcdClient, revoked: Revocations) -> None:
    delay = 0.2
    while True:
        try:
            kvs, revision = await etcd.get_prefix(etcd_keys.REVOKED)
            revoked.replace(kv.key[len(etcd_keys.REVOKED):] for kv in kvs)
            delay = 0.2
            async for item in etcd.watch_prefix(etcd_keys.REVOKED, revision + 1):
                if isinstance(item, WatchBatch):
                    for ev in item.events:
                        serial = ev.kv.key[len(etcd_keys.REVOKED):]
                        if ev.type == "put":
                            revoked.add(serial)
                            log.info("certificate %s revoked", serial)
                        else:
                            revoked.discard(serial)
        except WatchCompacted:
            log.warning("revocations: history compacted; reloading")
        except EtcdError as exc:
            log.warning("revocations: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
