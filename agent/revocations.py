"""The revoked certificate serials, followed from etcd so a removed node's (or manager's)
certificate is refused by this agent on its very next call."""
from __future__ import annotations

import logging

from shoal.pki.grpc_tls import Revocations
from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdClient
from shoal.etcd.follow import follow_prefix

log = logging.getLogger("shoal.agent.revocations")


async def follow(etcd: EtcdClient, revoked: Revocations) -> None:
    def load(kvs) -> None:
        revoked.replace(kv.key[len(etcd_keys.REVOKED):] for kv in kvs)

    def apply(events) -> None:
        for ev in events:
            serial = ev.kv.key[len(etcd_keys.REVOKED):]
            if ev.type == "put":
                revoked.add(serial)
                log.info("certificate %s revoked", serial)
            else:
                revoked.discard(serial)

    await follow_prefix(etcd, etcd_keys.REVOKED, load=load, apply=apply, log=log, what="revocations")
