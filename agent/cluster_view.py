"""The agent's read-only view of the other nodes, from one etcd watch on /shoal/nodes/:
DNS endpoints for its resolver, and the other hosts' container subnets for its routes."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from google.protobuf import json_format

from protos import endpoints, etcd_keys
from protos.dns.zone import Zone
from protos.etcdv3.client import (
    EtcdClient, EtcdError, WatchBatch, WatchCompacted, WatchInterrupted, WatchResumed,
)
from protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.agent.view")


class ClusterView:
    def __init__(self, etcd: EtcdClient, zone: Zone, on_nodes: Callable[[dict[str, types_pb2.Node]], None]):
        self.etcd = etcd
        self.zone = zone
        self.on_nodes = on_nodes
        self.nodes: dict[str, types_pb2.Node] = {}
        self.synced = asyncio.Event()

    def _apply(self, key: str, value: bytes | None) -> bool:
        """Returns whether the set of nodes changed."""
        parsed = etcd_keys.parse_node_key(key)
        if not parsed:
            return False
        node_id, kind, _ = parsed
        if kind == "endpoint":
            endpoints.apply(self.zone, key, value)
        elif kind == "info":
            if value is None:
                return self.nodes.pop(node_id, None) is not None
            self.nodes[node_id] = json_format.Parse(value, types_pb2.Node(), ignore_unknown_fields=True)
            return True
        return False

    async def _load(self) -> int:
        kvs, revision = await self.etcd.get_prefix(etcd_keys.NODES)
        self.nodes.clear()
        eps = []
        for kv in kvs:
            parsed = etcd_keys.parse_node_key(kv.key)
            if parsed and parsed[1] == "endpoint":
                ep = endpoints.decode(kv.key, kv.value)
                if ep is not None:
                    eps.append(ep)
            else:
                self._apply(kv.key, kv.value)
        self.zone.replace_all(eps)
        self.on_nodes(dict(self.nodes))
        self.synced.set()
        return revision

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                revision = await self._load()
                delay = 0.2
                async for item in self.etcd.watch_prefix(etcd_keys.NODES, revision + 1):
                    if isinstance(item, WatchBatch):
                        changed = False
                        for ev in item.events:
                            changed |= self._apply(ev.kv.key, ev.kv.value if ev.type == "put" else None)
                        if changed:
                            self.on_nodes(dict(self.nodes))
                    elif isinstance(item, WatchInterrupted):
                        # Answers stay as they were; the records' leases decide when they go.
                        log.warning("cluster view: etcd watch interrupted: %s", item.error)
                    elif isinstance(item, WatchResumed):
                        log.info("cluster view: watch resumed at revision %d", item.revision)
            except WatchCompacted:
                log.warning("cluster view: history compacted; reloading")
            except EtcdError as exc:
                log.warning("cluster view: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
