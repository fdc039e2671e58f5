"""The agent's read-only view of the cluster, from one etcd watch per prefix it may read: the
other nodes (/shoal/nodes/: their info and DNS endpoint records), what the leader bound to each
node (/shoal/nodeident/), and what vouches for a DNS answer (/shoal/placed/, /shoal/ipam/).

Everything here was written by someone else, agents included, and is decoded as untrusted: a
record that cannot be used is skipped and counted, never fatal. A node is handed to the routes and
the overlay only with what the leader bound to it (address, container subnet), never with what
its own info record says; DNS answers only what dns/gate.py lets through."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from shoal.protos import etcd_keys, node_identity, placements, records
from shoal.dns.gate import EndpointGate
from shoal.dns.zone import Zone
from shoal.etcd.client import EtcdClient
from shoal.etcd.follow import follow_prefix
from shoal.protos.record_guard import BadRecord
from shoal.protos.record_log import BadRecords
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.agent.view")

Feed = Callable[[str, bytes | None, int], bool]


class ClusterView:
    def __init__(self, etcd: EtcdClient, zone: Zone, on_nodes: Callable[[dict[str, types_pb2.Node]], None]):
        self.etcd = etcd
        self.on_nodes = on_nodes
        self.bad = BadRecords(log)
        self.gate = EndpointGate(zone, self.bad)
        self.infos: dict[str, tuple[types_pb2.Node, int]] = {}     # node -> (its info, its lease)
        self.idents: dict[str, node_identity.NodeIdentity] = {}
        self._fed: dict[str, set[str]] = {}     # prefix -> keys fed from it (a reload drops the rest)
        self._loaded: set[str] = set()
        self.synced = asyncio.Event()
        self._feeds: dict[str, Feed] = {
            etcd_keys.NODES: self._node_key, etcd_keys.NODE_IDENT: self._ident,
            etcd_keys.PLACED: self._placed, etcd_keys.IPAM: self._address,
        }

    # ---- one record each: True when the set of nodes handed on changed ------
    def _node_key(self, key: str, value: bytes | None, lease: int) -> bool:
        parsed = etcd_keys.parse_node_key(key)
        if not parsed:
            return False
        node_id, kind, cid = parsed
        if kind == "endpoint":
            self.gate.endpoint(key, node_id, cid, value, lease)
            return False
        if kind != "info":
            return False
        known = node_id in self.infos
        self.infos.pop(node_id, None)
        if value is not None:
            if not lease:
                raise BadRecord("info: not under a lease")
            self.infos[node_id] = (records.decode_node(node_id, value), lease)
        self.gate.node_lease(node_id, lease if node_id in self.infos else None)
        return known or node_id in self.infos

    def _ident(self, key: str, value: bytes | None, lease: int) -> bool:
        node_id = key[len(etcd_keys.NODE_IDENT):]
        self.idents.pop(node_id, None)
        self.gate.subnet(node_id, None)
        if value is not None:
            ident = node_identity.decode(value)
            self.idents[node_id] = ident
            self.gate.subnet(node_id, ident.container_subnet or None)
        return True

    def _placed(self, key: str, value: bytes | None, lease: int) -> bool:
        self.gate.placement(key[len(etcd_keys.PLACED):], None if value is None else placements.decode(value))
        return False

    def _address(self, key: str, value: bytes | None, lease: int) -> bool:
        network, _, ip = key[len(etcd_keys.IPAM):].partition("/")
        self.gate.address(network, ip, None if value is None else value.decode(errors="replace"))
        return False

    def _feed(self, prefix: str, key: str, value: bytes | None, lease: int) -> bool:
        fed = self._fed.setdefault(prefix, set())
        try:
            changed = self._feeds[prefix](key, value, lease)
        except BadRecord as exc:
            self.bad.report(key, str(exc))
            value = None
            changed = self._feeds[prefix](key, None, 0)
        if value is None:
            fed.discard(key)
        else:
            fed.add(key)
        return changed

    # ---- what the routes and the overlay get --------------------------------
    def bound_nodes(self) -> dict[str, types_pb2.Node]:
        """The live nodes the leader has bound, each with the address and subnet it was bound with."""
        out = {}
        for node_id, (info, _) in self.infos.items():
            ident = self.idents.get(node_id)
            if ident is None:
                continue
            node = types_pb2.Node(id=node_id, name=ident.name, address=ident.address)
            node.description.hostname = ident.hostname
            node.description.container_subnet = ident.container_subnet
            node.description.dns_address = info.description.dns_address
            out[node_id] = node
        return out

    # ---- the watches --------------------------------------------------------
    def _loader(self, prefix: str):
        def load(kvs) -> None:
            self.gate.hold()
            stale = set(self._fed.get(prefix, ()))
            changed = False
            if prefix == etcd_keys.NODES:
                # A node's info first: its lease is what its endpoint records are checked against.
                kvs = sorted(kvs, key=lambda kv: not kv.key.endswith("/info"))
            for kv in kvs:
                stale.discard(kv.key)
                changed |= self._feed(prefix, kv.key, kv.value, kv.lease)
            for key in stale:
                changed |= self._feed(prefix, key, None, 0)
            self.gate.flush()
            self._loaded.add(prefix)
            if changed or prefix == etcd_keys.NODES:
                self.on_nodes(self.bound_nodes())
            if self._loaded >= set(self._feeds):
                self.synced.set()
        return load

    def _applier(self, prefix: str):
        def apply(events) -> None:
            changed = False
            for ev in events:
                changed |= self._feed(prefix, ev.kv.key, ev.kv.value if ev.type == "put" else None, ev.kv.lease)
            if changed:
                self.on_nodes(self.bound_nodes())
        return apply

    async def run(self) -> None:
        # An interrupted watch leaves the answers as they were; the records' leases decide when they go.
        await asyncio.gather(*(
            follow_prefix(self.etcd, prefix, load=self._loader(prefix), apply=self._applier(prefix),
                          log=log, what=f"cluster view ({prefix})")
            for prefix in self._feeds))
