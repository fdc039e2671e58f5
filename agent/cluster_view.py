"""The agent's read-only view of the other nodes, from one etcd watch on /shoal/nodes/:
DNS endpoints for its resolver, and the other hosts' container subnets for its routes."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from google.protobuf import json_format

from protos import endpoints, etcd_keys
from protos.dns.zone import Zone
from protos.etcdv3.client import EtcdClient
from protos.etcdv3.follow import follow_prefix
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

    def _load(self, kvs) -> None:
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

    def _apply_events(self, events) -> None:
        changed = False
        for ev in events:
            changed |= self._apply(ev.kv.key, ev.kv.value if ev.type == "put" else None)
        if changed:
            self.on_nodes(dict(self.nodes))

    async def run(self) -> None:
        # An interrupted watch leaves the answers as they were; the records' leases decide when they go.
        await follow_prefix(self.etcd, etcd_keys.NODES, load=self._load, apply=self._apply_events,
                            log=log, what="cluster view")
