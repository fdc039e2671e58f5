"""The manager's in-memory view of etcd, kept current by one watch.

Pure bookkeeping: it is fed (key, value, revision) and answers questions; the
store does the I/O. Reads of the API are served from here, never from etcd.
"""
from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field


from shoal.manager import identity, lifecycle
from shoal.manager.clock import now
from shoal.manager.container_table import ContainerTable
from shoal.manager.scheduler import HostPort, NodeSnapshot, host_ports
from shoal.pki.grpc_tls import Revocations
from shoal.protos.spec_rules import reserved_cpus, reserved_memory
from shoal.protos import etcd_keys, node_identity, placements
from shoal.protos import records, task_states
from shoal.dns.gate import EndpointGate
from shoal.protos.node_identity import NodeIdentity
from shoal.protos.record_guard import BadRecord
from shoal.protos.record_log import BadRecords
from shoal.protos.spec_rules import AVAILABILITIES
from shoal.protos.shoal.v1 import agent_pb2, types_pb2

log = logging.getLogger("shoal.manager.state")



@dataclass
class NodeConf:
    labels: dict[str, str] = field(default_factory=dict)
    availability: str = "active"

    def to_json(self) -> str:
        return json.dumps({"labels": self.labels, "availability": self.availability}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes) -> "NodeConf":
        try:
            doc = json.loads(raw)
            conf = cls(labels=dict(doc.get("labels") or {}), availability=doc.get("availability") or "active")
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise BadRecord(f"nodeconf: {type(exc).__name__}") from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in conf.labels.items()) \
                or conf.availability not in AVAILABILITIES:
            raise BadRecord("nodeconf: labels must map text to text, availability one of " + "|".join(AVAILABILITIES))
        return conf


class _Holding:
    """What the live containers of one node hold."""

    __slots__ = ("nano_cpus", "memory", "count", "ports", "groups")

    def __init__(self) -> None:
        self.nano_cpus = 0
        self.memory = 0
        self.count = 0
        self.ports: set[HostPort] = set()
        self.groups: dict[str, int] = {}

    def add(self, c: types_pb2.Container) -> None:
        self.nano_cpus += reserved_cpus(c.spec)
        self.memory += reserved_memory(c.spec)
        self.count += 1
        self.ports |= host_ports(c.spec.ports)
        if c.service_id:
            self.groups[c.service_id] = self.groups.get(c.service_id, 0) + 1


class UnknownRef(Exception):
    """A name or id prefix that matches nothing, or more than one thing."""


class ClusterState:
    def __init__(self) -> None:
        self.revision = 0
        self.nodes: dict[str, tuple[types_pb2.Node, int]] = {}
        self.node_lease: dict[str, int] = {}          # node id -> the lease its info record is under
        self.node_conf: dict[str, tuple[NodeConf, int]] = {}
        self.observed: dict[str, dict[str, bytes]] = {}   # node id -> container id -> encoded AgentContainer
        self.containers = ContainerTable()   # cid -> (Container, mod_revision), kept encoded
        self.names: dict[str, str] = {}
        self.alloc: dict[str, int] = {}
        self.services: dict[str, tuple[types_pb2.Service, int]] = {}
        self.networks: dict[str, tuple[types_pb2.Network, int]] = {}
        self.volumes: dict[str, tuple[types_pb2.Volume, int]] = {}
        self.ipam: dict[str, dict[str, str]] = {}     # network -> {ip: container id}
        self.join_tokens: dict[str, str] = {}          # role -> token text
        self.issued: dict[str, dict[str, dict]] = {}   # common name -> {serial: {"role", "not_after"}}
        # Shared with the TLS role check: kept as the same object across clear().
        revoked = getattr(self, "revoked", None)
        self.revoked: Revocations = revoked if revoked is not None else Revocations()
        self.revoked.replace(())
        # Records that could not be used (counted and logged, never fatal); kept across clear().
        self.bad: BadRecords = getattr(self, "bad", None) or BadRecords(log)
        # The manager's --dns zone, fed the records that decide which endpoints it may serve.
        self.dns_gate: EndpointGate | None = getattr(self, "dns_gate", None)
        # Identity (manager/identity.py): `nodes` holds each live node with the name, hostname,
        # address and subnet the leader bound, `reported` what its agent claims of them (its word only;
        # the binding itself when they agree, so that it costs nothing).
        self.reported: dict[str, NodeIdentity] = {}
        self.bound = identity.Bound()
        self.identities: dict[str, tuple[NodeIdentity, int]] = self.bound.idents   # nodeident/<id>
        self.node_names: dict[str, str] = self.bound.names                         # nodenames/<name>
        self.identity_policy: identity.Policy = getattr(self, "identity_policy", None) or identity.Policy()
        self.unsettled: set[str] = set()    # nodes whose report the leader's binder has yet to look at
        # Our own writes are applied before the watch echoes them; these revisions
        # keep an older echo from undoing a newer local write (a delete above all).
        # An entry lives from our write until its echo (or a later revision) arrives.
        self._key_rev: dict[str, int] = {}
        self._tombstones: dict[str, int] = {}

    # ---- feeding -------------------------------------------------------
    def clear(self) -> None:
        self.__init__()
        if self.dns_gate is not None:
            self.dns_gate.reset()

    def apply(self, key: str, value: bytes | None, mod_revision: int, message=None, local: bool = False,
              lease: int = 0) -> None:
        """value None means the key was deleted. `local`: our own write, applied before the watch
        echoes it; then an older event still in flight must not undo it, and the echo itself (same
        key, same revision: same value) is skipped. Keys we never wrote (the agents' records, most
        of the keys) only ever arrive through the watch, in revision order: no bookkeeping.
        `message`: the record as a message already, for a container record we wrote ourselves.
        `lease`: the lease the key is under (agents' records must be under their node's).

        Whatever the value holds, this raises nothing: a record that cannot be used is counted,
        logged (once a minute per key) and skipped. An agent's record that cannot be used counts
        as absent (its node's earlier word is not kept); a manager's record keeps its last good
        version (no agent can write those keys: only a broken writer would)."""
        if local:
            if mod_revision <= self.revision:
                # The watch got there first: this write's echo, and anything newer, are applied.
                return
            last = max(self._key_rev.get(key, 0), self._tombstones.get(key, 0))
            if mod_revision < last:
                return
            if value is None:
                self._key_rev.pop(key, None)
                self._tombstones[key] = mod_revision
            else:
                self._key_rev[key] = mod_revision
                self._tombstones.pop(key, None)
        elif key in self._key_rev or key in self._tombstones:
            last = max(self._key_rev.get(key, 0), self._tombstones.get(key, 0))
            if mod_revision <= last:
                if mod_revision == last:
                    # The echo of our write: events come in revision order, so none older can follow.
                    self._key_rev.pop(key, None)
                    self._tombstones.pop(key, None)
                return
            self._key_rev.pop(key, None)
            self._tombstones.pop(key, None)
        try:
            self._apply_value(key, value, mod_revision, message, lease)
        except BadRecord as exc:
            self.bad.report(key, str(exc))
            if key.startswith(etcd_keys.NODES):
                self._apply_value(key, None, mod_revision, None, 0)

    def _apply_value(self, key: str, value: bytes | None, mod_revision: int, message, lease: int) -> None:
        parsed = etcd_keys.parse_node_key(key)
        if parsed:
            node_id, kind, cid = parsed
            if kind == "info":
                if value is None:
                    self.nodes.pop(node_id, None)
                    self.reported.pop(node_id, None)
                    self.node_lease.pop(node_id, None)
                    # Observed state of a dead node is unknown, not "still running".
                    self.observed.pop(node_id, None)
                else:
                    if not lease:
                        # It would outlive the host: the cluster could not be rid of it.
                        raise BadRecord("info: not under a lease")
                    node = records.decode_node(node_id, value)
                    if self.node_lease.get(node_id, lease) != lease:
                        # Registered again: what was reported under the old lease goes with it.
                        self.observed.pop(node_id, None)
                    self._reported(node_id, node, mod_revision)
                    self.node_lease[node_id] = lease
                if self.dns_gate is not None:
                    self.dns_gate.node_lease(node_id, self.node_lease.get(node_id))
            elif kind == "endpoint":
                if self.dns_gate is not None:
                    self.dns_gate.endpoint(key, node_id, cid, value, lease)
            else:
                if value is None:
                    self.observed.get(node_id, {}).pop(cid, None)
                else:
                    if not lease or self.node_lease.get(node_id) != lease:
                        raise BadRecord("container status: not under its node's lease")
                    # Checked once here so that no reader has to: status_of decodes it again when
                    # asked (kept encoded, ~150 bytes, where the decoded message takes ~1.4 KB).
                    records.decode(agent_pb2.AgentContainer, value)
                    self.observed.setdefault(node_id, {})[cid] = value
            return
        if key.startswith(etcd_keys.NODES):
            return      # a key of the node's prefix that this version does not know
        if key.startswith((etcd_keys.NODE_IDENT, etcd_keys.NODE_NAMES)):
            self._apply_identity(key, value, mod_revision)
        elif key.startswith(etcd_keys.NODE_CONF):
            node_id = key[len(etcd_keys.NODE_CONF):]
            if value is None:
                self.node_conf.pop(node_id, None)
            else:
                self.node_conf[node_id] = (NodeConf.from_json(value), mod_revision)
        elif key.startswith(etcd_keys.CONTAINERS):
            cid = key[len(etcd_keys.CONTAINERS):]
            if value is None:
                self.containers.pop(cid)
            else:
                self.containers.put(cid, value, mod_revision, message.service_id if message is not None else None)
        elif key.startswith(etcd_keys.NAMES):
            name = key[len(etcd_keys.NAMES):]
            if value is None:
                self.names.pop(name, None)
            else:
                self.names[name] = _text(value)
        elif key.startswith(etcd_keys.SERVICES):
            name = key[len(etcd_keys.SERVICES):]
            if value is None:
                self.services.pop(name, None)
            else:
                self.services[name] = (records.decode(types_pb2.Service, value), mod_revision)
        elif key.startswith(etcd_keys.NETWORKS):
            name = key[len(etcd_keys.NETWORKS):]
            if value is None:
                self.networks.pop(name, None)
            else:
                self.networks[name] = (records.decode(types_pb2.Network, value), mod_revision)
        elif key.startswith(etcd_keys.VOLUMES):
            name = key[len(etcd_keys.VOLUMES):]
            if value is None:
                self.volumes.pop(name, None)
            else:
                self.volumes[name] = (records.decode(types_pb2.Volume, value), mod_revision)
        elif key.startswith(etcd_keys.IPAM):
            network, _, ip = key[len(etcd_keys.IPAM):].partition("/")
            if value is None:
                self.ipam.get(network, {}).pop(ip, None)
            else:
                self.ipam.setdefault(network, {})[ip] = _text(value)
            if self.dns_gate is not None:
                self.dns_gate.address(network, ip, None if value is None else _text(value))
        elif key.startswith(etcd_keys.PLACED):
            if self.dns_gate is not None:
                cid = key[len(etcd_keys.PLACED):]
                self.dns_gate.placement(cid, None if value is None else placements.decode(value))
        elif key.startswith(etcd_keys.PKI):
            self._apply_pki(key, value)
        elif key.startswith(etcd_keys.ALLOC):
            node_id = key[len(etcd_keys.ALLOC):]
            if value is None:
                self.alloc.pop(node_id, None)
            else:
                self.alloc[node_id] = mod_revision

    def _apply_pki(self, key: str, value: bytes | None) -> None:
        if key.startswith(etcd_keys.REVOKED):
            serial = key[len(etcd_keys.REVOKED):]
            if value is None:
                self.revoked.discard(serial)
            else:
                self.revoked.add(serial)
        elif key.startswith(etcd_keys.JOIN_TOKENS):
            role = key[len(etcd_keys.JOIN_TOKENS):]
            if value is None:
                self.join_tokens.pop(role, None)
            else:
                self.join_tokens[role] = _text(value)
        elif key.startswith(etcd_keys.ISSUED):
            cn, _, serial = key[len(etcd_keys.ISSUED):].partition("/")
            if value is None:
                self.issued.get(cn, {}).pop(serial, None)
            else:
                try:
                    doc = json.loads(value)
                except (ValueError, RecursionError):
                    raise BadRecord("issued: not JSON") from None
                if not isinstance(doc, dict):
                    raise BadRecord("issued: not a JSON object")
                self.issued.setdefault(cn, {})[serial] = doc

    def _reported(self, node_id: str, node: types_pb2.Node, mod_revision: int) -> None:
        claim = identity.claim_of(node)
        bound = self.identities.get(node_id)
        self.reported[node_id] = bound[0] if bound and bound[0] == claim else claim
        self.unsettled.add(node_id)
        self.nodes[node_id] = (node, mod_revision)
        self._effective(node_id)

    def _effective(self, node_id: str) -> None:
        """The node as the cluster sees it: its record with the bound identity in place of its own
        word; unbound, it has no name, hostname, address or subnet at all (and gets no work)."""
        bound = self.identities.get(node_id)
        ident = bound[0] if bound else NodeIdentity(name="")
        node = self.nodes[node_id][0]
        node.name, node.address = ident.name, ident.address
        node.description.hostname, node.description.container_subnet = ident.hostname, ident.container_subnet

    def _apply_identity(self, key: str, value: bytes | None, mod_revision: int) -> None:
        """nodeident/<id> and nodenames/<name>: written by the leader only; a malformed value is
        skipped (BadRecord) and the last good one kept."""
        if key.startswith(etcd_keys.NODE_IDENT):
            node_id = key[len(etcd_keys.NODE_IDENT):]
            if value is None:
                self.bound.drop(node_id)
            else:
                self.bound.put(node_id, node_identity.decode(value), mod_revision)
            if self.dns_gate is not None:
                bound = self.identities.get(node_id)
                self.dns_gate.subnet(node_id, bound[0].container_subnet if bound else None)
            self.unsettled.add(node_id)
            if node_id in self.reported:
                self._effective(node_id)
            return
        name = key[len(etcd_keys.NODE_NAMES):]
        if value is None:
            self.bound.names.pop(name, None)
            # The name is free: a node refused it may have it now.
            self.unsettled.update(n for n in self.reported if n not in self.identities)
        else:
            self.bound.names[name] = _text(value)

    def forget_tombstones(self, up_to_revision: int) -> None:
        """Once the watch has delivered a revision, no older echo can arrive (a write whose echo
        came before the write was applied here leaves its entry until this)."""
        if self._tombstones:
            self._tombstones = {k: r for k, r in self._tombstones.items() if r > up_to_revision}
        if self._key_rev:
            self._key_rev = {k: r for k, r in self._key_rev.items() if r > up_to_revision}

    # ---- nodes ---------------------------------------------------------
    def conf(self, node_id: str) -> NodeConf:
        entry = self.node_conf.get(node_id)
        return entry[0] if entry else NodeConf()

    def _holdings(self) -> tuple[dict[str, "_Holding"], dict[str, int]]:
        """Per node, in one pass over the records (not one per node): what the containers that hold
        resources there (desired running, not finished) add up to, and how many records name the
        node. Sums, not the records: a pass keeps no decoded record beyond the one it reads."""
        holding: dict[str, _Holding] = {}
        counts: dict[str, int] = {}
        for c in self.containers.records():
            counts[c.node_id] = counts.get(c.node_id, 0) + 1
            if not task_states.is_live(c) or self.status_of(c).state in lifecycle.FINISHED:
                continue
            held = holding.get(c.node_id)
            if held is None:
                held = holding[c.node_id] = _Holding()
            held.add(c)
        return holding, counts

    def node_view(self, node_id: str, holdings=None) -> types_pb2.Node:
        holding_by_node, counts = holdings or self._holdings()
        node, _ = self.nodes[node_id]
        conf = self.conf(node_id)
        view = types_pb2.Node()
        view.CopyFrom(node)
        view.labels.clear()
        view.labels.update(conf.labels)
        view.availability = conf.availability
        view.state = "ready" if node_id in self.identities else "unbound"
        view.note = self.identity_note(node_id)
        held = holding_by_node.get(node_id) or _Holding()
        view.containers = counts.get(node_id, 0)
        view.reserved_nano_cpus = held.nano_cpus
        view.reserved_memory_bytes = held.memory
        return view

    def node_views(self) -> list[types_pb2.Node]:
        holdings = self._holdings()
        return sorted((self.node_view(n, holdings) for n in self.nodes), key=lambda n: (n.name, n.id))

    def snapshots(self) -> list[NodeSnapshot]:
        return self._snapshots(self._holdings()[0])

    def node_facts(self) -> dict[str, NodeSnapshot]:
        """The live nodes by id, without what their containers hold (a pass over the nodes only):
        what the task lifecycle asks of a node (availability, readiness, constraints)."""
        return {snap.id: snap for snap in self._snapshots({})}

    def _snapshots(self, holding_by_node: dict[str, "_Holding"]) -> list[NodeSnapshot]:
        out = []
        for node_id, (node, _) in self.nodes.items():
            conf = self.conf(node_id)
            held = holding_by_node.get(node_id) or _Holding()
            out.append(NodeSnapshot(
                id=node_id,
                name=node.name,
                hostname=node.description.hostname,
                labels=dict(conf.labels),
                engine_labels=dict(node.description.engine_labels),
                availability=conf.availability,
                ready=node_id in self.identities,
                nano_cpus=node.description.nano_cpus,
                memory=node.description.memory_bytes,
                reserved_nano_cpus=held.nano_cpus,
                reserved_memory=held.memory,
                containers=held.count,
                used_ports=frozenset(held.ports),
                group_tasks=held.groups,
            ))
        return out

    def node_at(self, address: str) -> str | None:
        """The one live node advertising `address` (None if none or several claim it)."""
        hits = [node_id for node_id, (node, _) in self.nodes.items() if address and node.address == address]
        return hits[0] if len(hits) == 1 else None

    def resolve_node(self, ref: str) -> str:
        for node_id, (node, _) in self.nodes.items():
            if (ref and node.name == ref) or node_id == ref:
                return node_id
        return _unique_prefix(ref, self.nodes, "node")

    def identity_note(self, node_id: str) -> str:
        """What `node ls` says of a node whose report the cluster does not (all) take."""
        reported = self.reported.get(node_id)
        if reported is None:
            return ""
        if node_id not in self.identities:
            return identity.unbound_note(node_id, reported, self.bound, self.identity_policy)
        if reported is self.identities[node_id][0]:
            return ""
        return "; ".join(identity.decide(node_id, reported, self.bound, self.identity_policy).refused)

    # ---- containers ----------------------------------------------------
    def status_of(self, c: types_pb2.Container) -> types_pb2.ContainerStatus:
        node_up = c.node_id in self.nodes
        raw = self.observed.get(c.node_id, {}).get(c.id) if node_up else None
        report = records.decode(agent_pb2.AgentContainer, raw).status if raw is not None else None
        return lifecycle.observe(c, report, node_up, now())

    def seen(self, c: types_pb2.Container) -> lifecycle.Seen:
        present = c.node_id in self.nodes and c.id in self.observed.get(c.node_id, {})
        return lifecycle.Seen(self.status_of(c), present)

    def container_view(self, cid: str) -> types_pb2.Container:
        c, _ = self.containers[cid]
        view = types_pb2.Container()
        view.CopyFrom(c)
        view.status.CopyFrom(self.status_of(c))
        if c.node_id in self.nodes:
            view.node_name = self.nodes[c.node_id][0].name
        return view

    def container_views(self) -> list[types_pb2.Container]:
        return sorted((self.container_view(c) for c in self.containers), key=lambda c: (c.created_at, c.id))

    def resolve_container(self, ref: str) -> str:
        if ref in self.names and self.names[ref] in self.containers:
            return self.names[ref]
        # A task name (web.3) can have history; the live task is the one meant.
        named = [c for c in self.containers.records() if c.name == ref]
        live = [c for c in named if task_states.is_live(c)] or named
        if live:
            return max(live, key=lambda c: (c.created_at, c.id)).id
        return _unique_prefix(ref, self.containers, "container")

    def volume_records(self) -> dict[str, types_pb2.Volume]:
        """The volume records by name, without their revisions: what placement reads."""
        return {name: volume for name, (volume, _) in self.volumes.items()}

    # ---- networks -------------------------------------------------------
    def free_address(self, network: str, taken: set[str] = frozenset()) -> str | None:
        """The lowest free address of a network (.1 is kept for a future gateway)."""
        entry = self.networks.get(network)
        if entry is None:
            return None
        used = self.ipam.get(network, {})
        for i, host in enumerate(ipaddress.ip_network(entry[0].subnet).hosts()):
            if i == 0:
                continue
            text = str(host)
            if text not in used and text not in taken:
                return text
        return None

    # ---- services -------------------------------------------------------
    def tasks_of(self, service_id: str) -> list[types_pb2.Container]:
        return self.containers.tasks_of(service_id)

    def service_ids_with_tasks(self) -> list[str]:
        return self.containers.service_ids()

    def resolve_service(self, ref: str) -> str:
        """Returns the service's name (its key)."""
        if ref in self.services:
            return ref
        hits = [name for name, (svc, _) in self.services.items() if ref and svc.id.startswith(ref)]
        if not hits:
            raise UnknownRef(f'service "{ref}": no such service')
        if len(hits) > 1:
            raise UnknownRef(f'service "{ref}": id prefix is ambiguous ({len(hits)} services match)')
        return hits[0]


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise BadRecord("not UTF-8 text") from None


def _unique_prefix(ref: str, table: dict, kind: str) -> str:
    if not ref:
        raise UnknownRef(f"{kind}: an empty name or id matches nothing")
    hits = [k for k in table if k.startswith(ref)]
    if not hits:
        raise UnknownRef(f'{kind} "{ref}": no such {kind}')
    if len(hits) > 1:
        raise UnknownRef(f'{kind} "{ref}": id prefix is ambiguous ({len(hits)} {kind}s match)')
    return hits[0]
