"""The agent's presence in etcd: its node record and its containers' status, under one lease.

When the host dies, the lease expires and every key written here vanishes with it,
so nobody has to clean up after a dead node. After an etcd outage the agent
registers again under a new lease.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from google.protobuf import json_format

from shoal.agent.convert import container_to_proto
from shoal.agent.runtime.base import Observed, Runtime, RuntimeFailure
from shoal.protos import endpoints, etcd_keys
from shoal.protos import records
from shoal.etcd.client import EtcdClient, EtcdError, EtcdUnavailable, Op
from shoal.protos.limits import ETCD_TXN_OPS
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.agent.registration")

# Events drive status updates; this periodic pass only catches what an event stream missed.
RESYNC_SECONDS = 5.0
RETRY_CAP_SECONDS = 2.0


class Registration:
    def __init__(
        self,
        etcd: EtcdClient,
        node_id: str,
        ttl: int,
        describe: Callable[[], Awaitable[types_pb2.Node]],
        runtime: Runtime,
        plumb: Callable[[Observed], Awaitable[None]] | None = None,
        plumbed: Callable[[str], bool] = lambda cid: True,
        networks_in_use: Callable[[set[int]], Awaitable[None]] | None = None,
    ):
        if ttl < 2:
            raise ValueError(f"--lease-ttl: {ttl} is too short (minimum 2 seconds)")
        self.etcd = etcd
        self.node_id = node_id
        self.ttl = ttl
        self.describe = describe
        self.runtime = runtime
        self.plumb = plumb
        self.plumbed = plumbed
        self.networks_in_use = networks_in_use
        self.registered = asyncio.Event()
        self.lease_id = 0
        self._sync_wanted = asyncio.Event()
        self._written: dict[str, str] = {}

    def request_sync(self) -> None:
        self._sync_wanted.set()

    async def run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._register()
                delay = 0.1
                await self._keep_alive()
            except EtcdError as exc:
                if self.registered.is_set():
                    log.warning("lost etcd registration (%s); registering again", exc)
                else:
                    log.warning("cannot register in etcd yet: %s", exc)
                self.registered.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)

    async def _register(self) -> None:
        node = await self.describe()
        self.lease_id = await self.etcd.lease_grant(self.ttl)
        await self.etcd.put(
            etcd_keys.node_info(self.node_id), json_format.MessageToJson(node, indent=None), lease=self.lease_id
        )
        self._written = {}
        await self._sync_status()
        self.registered.set()
        log.info("registered node %s (lease %x, ttl %ds)", self.node_id, self.lease_id, self.ttl)

    async def _keep_alive(self) -> None:
        interval = self.ttl / 3
        last_ok = time.monotonic()
        next_beat = time.monotonic() + interval
        next_sync = time.monotonic() + RESYNC_SECONDS
        while True:
            now = time.monotonic()
            timeout = max(0.0, min(next_beat, next_sync) - now)
            try:
                await asyncio.wait_for(self._sync_wanted.wait(), timeout)
            except TimeoutError:
                pass
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + interval
                try:
                    # A call stuck on a reconnecting channel must not stall the heartbeat.
                    await asyncio.wait_for(self.etcd.lease_keepalive_once(self.lease_id), interval)
                    last_ok = now
                except TimeoutError:
                    if time.monotonic() - last_ok > self.ttl:
                        raise EtcdUnavailable("no lease keep-alive answered within the TTL") from None
            if self._sync_wanted.is_set() or now >= next_sync:
                self._sync_wanted.clear()
                await self._sync_status()
                next_sync = time.monotonic() + RESYNC_SECONDS

    async def _sync_status(self) -> None:
        try:
            observed = await self.runtime.list()
        except RuntimeFailure as exc:
            log.warning("cannot list containers: %s", exc)
            return
        wanted: dict[str, str] = {}
        for o in observed:
            if o.id:
                wanted[etcd_keys.node_container(self.node_id, o.id)] = records.encode(container_to_proto(o))
            if o.networks and o.state == "running" and not self.plumbed(o.id) and self.plumb is not None:
                try:
                    await self.plumb(o)
                except Exception as exc:
                    log.warning("overlay interfaces of %s: %s", o.name, exc)
            # DNS answers only with containers that run, pass their health check and are on
            # their overlay networks; on a network the overlay address is the one to use.
            ip = o.networks[0].ip if o.networks else o.ip
            if (o.id and ip and o.state == "running" and o.health in ("", "healthy")
                    and (not o.networks or self.plumbed(o.id))):
                wanted[etcd_keys.node_endpoint(self.node_id, o.id)] = endpoints.encode(
                    o.name, o.service, ip,
                    [(port, proto, endpoints.PORT_NAMES.get(port, "")) for port, proto in o.exposed],
                    self.node_id,
                )
        if self.networks_in_use is not None:
            await self.networks_in_use({a.vni for o in observed if o.state == "running" for a in o.networks})
        # Only what changed, in transactions of up to etcd's default --max-txn-ops (a host that
        # starts 50 containers writes once, not 100 times).
        ops = [Op.put(key, value, self.lease_id) for key, value in wanted.items() if self._written.get(key) != value]
        ops += [Op.delete(key) for key in self._written if key not in wanted]
        for start in range(0, len(ops), ETCD_TXN_OPS):
            chunk = ops[start:start + ETCD_TXN_OPS]
            await self.etcd.txn([], chunk)
            for op in chunk:
                if op.kind == "put":
                    self._written[op.key] = wanted[op.key]
                else:
                    del self._written[op.key]

    async def deregister(self) -> None:
        """On a clean shutdown the node leaves at once instead of after the TTL."""
        if self.lease_id:
            try:
                await self.etcd.lease_revoke(self.lease_id)
            except EtcdError as exc:
                log.warning("could not revoke lease: %s", exc)
