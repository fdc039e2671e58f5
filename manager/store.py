"""The manager's etcd I/O: the initial load, the watch that keeps ClusterState current, and
every write. Each write is one transaction that compares revisions -- and, through the
fence, the leader's term -- so neither a concurrent writer nor a deposed leader can win."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Sequence

from google.protobuf import json_format

from shoal.manager.state import ClusterState, NodeConf
from shoal.protos.limits import ETCD_TXN_OPS
from shoal.protos import etcd_keys, placements, records
from shoal.etcd.client import (
    Compare, EtcdClient, Op, TxnResult, WatchBatch, WatchCompacted, WatchInterrupted, WatchResumed,
)
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.manager.store")


class Conflict(Exception):
    """A compared revision moved: someone else wrote first. Re-read and retry."""


class NotLeader(Exception):
    """This manager does not hold the leadership its write was fenced with."""


class NetworkFull(Exception):
    pass


class NameTaken(Exception):
    def __init__(self, name: str):
        super().__init__(f'--name: "{name}" is already in use')


def placed_record(c: types_pb2.Container) -> tuple[str, str]:
    return etcd_keys.placed(c.id), placements.encode(c.node_id, c.name, c.service_name if c.service_id else "")


def to_json(msg) -> str:
    return json_format.MessageToJson(msg, indent=None, sort_keys=True)


class Store:
    def __init__(self, etcd: EtcdClient, state: ClusterState, term: Callable[[], int] = lambda: 0):
        """term() is the leader term to fence writes with; 0 means 'not leader'."""
        self.etcd = etcd
        self.state = state
        self.term = term
        self.healthy = asyncio.Event()
        self.changed = asyncio.Condition()
        # Set on every change and cleared by the reconciler before a pass, so a change that
        # lands while a pass runs is never missed (a Condition alone would lose it).
        self.dirty = asyncio.Event()

    async def load(self) -> None:
        kvs, revision = await self.etcd.get_prefix_iter(etcd_keys.ROOT)
        # Cleared and filled with no await in between: no reader ever sees half a state.
        self.state.clear()
        gate = self.state.dns_gate
        if gate is not None:
            gate.hold()
        # A node's info first: its lease is what its other records are checked against. kvs is an
        # iterator (read once) in key order, where a node's containers/ and endpoints/ come before
        # its info: they wait for it, one node's records at a time.
        def apply(kv) -> None:
            self.state.apply(kv.key, kv.value, kv.mod_revision, lease=kv.lease)

        held: list = []
        info_of = None
        for kv in kvs:
            node_id = kv.key[len(etcd_keys.NODES):].partition("/")[0] if kv.key.startswith(etcd_keys.NODES) else None
            if held and node_id != held[0][0]:
                for _, h in held:     # a node with no info: its records are judged without one
                    apply(h)
                held = []
            if node_id is not None and node_id != info_of:
                if kv.key != etcd_keys.node_info(node_id):
                    held.append((node_id, kv))
                    continue
                info_of = node_id
                apply(kv)
                for _, h in held:
                    apply(h)
                held = []
                continue
            apply(kv)
        for _, h in held:
            apply(h)
        if gate is not None:
            gate.flush()
        self.state.revision = revision
        self.healthy.set()
        await self._notify()

    async def _notify(self) -> None:
        self.dirty.set()
        async with self.changed:
            self.changed.notify_all()

    async def watch(self) -> None:
        """Runs for the manager's lifetime. Never goes silently stale: an interrupted
        stream marks the store unhealthy until it resumes from the last revision."""
        while True:
            try:
                async for item in self.etcd.watch_prefix(etcd_keys.ROOT, self.state.revision + 1):
                    if isinstance(item, WatchInterrupted):
                        log.warning("etcd watch interrupted: %s", item.error)
                        self.healthy.clear()
                    elif isinstance(item, WatchResumed):
                        log.info("etcd watch resumed at revision %d", item.revision)
                        self.healthy.set()
                        await self._notify()
                    elif isinstance(item, WatchBatch):
                        for ev in item.events:
                            self.state.apply(ev.kv.key, ev.kv.value if ev.type == "put" else None, ev.kv.mod_revision,
                                             lease=ev.kv.lease)
                        if item.events:
                            # Not the header revision: later events may still be in flight.
                            delivered = max(ev.kv.mod_revision for ev in item.events)
                            self.state.revision = max(self.state.revision, delivered)
                            self.state.forget_tombstones(delivered)
                        if any(ev.kv.key != etcd_keys.HEARTBEAT for ev in item.events):
                            await self._notify()    # the leader's heartbeat (every TTL/3) gives nothing to do
            except WatchCompacted:
                log.warning("etcd history compacted past our revision; reloading everything")
                await self.load()

    async def wait_changed(self, timeout: float) -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait(), timeout)
            except TimeoutError:
                pass

    # ---- the fenced transaction ------------------------------------------
    async def txn(self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()) -> TxnResult:
        term = self.term()
        if term <= 0:
            raise NotLeader("this manager is not the leader")
        result = await self.etcd.txn(
            [Compare.create_revision(etcd_keys.LEADER, "==", term), *compare],
            list(success),
            [*failure, Op.get(etcd_keys.LEADER)],
        )
        if result.succeeded:
            log.debug("committed rev=%d term=%d keys=%s", result.revision, term,
                      ",".join(op.key for op in success)[:300])
            return result
        leader = result.responses[-1]
        if not leader or leader[0].create_revision != term:
            log.warning("write refused: term %d is over (fenced)", term)
            raise NotLeader(f"leadership of term {term} is lost")
        return result

    def _apply_puts(self, ops: Sequence[tuple[str, str | bytes | None]], revision: int,
                    messages: Sequence[types_pb2.Container] = ()) -> None:
        # Applied at once so the next decision sees this write before the watch echoes it.
        # `messages`: the container records among the puts (their service is read, not decoded back).
        parsed = {etcd_keys.container(c.id): c for c in messages}
        for key, value in ops:
            if isinstance(value, str):
                value = value.encode()
            self.state.apply(key, value, revision, parsed.get(key), local=True)

    # ---- writes ----------------------------------------------------------
    async def place(self, container: types_pb2.Container, *, unique_name: bool = True,
                    volumes: Sequence[types_pb2.Volume] = ()) -> int:
        """Record a placement: only if the name is free (plain containers), the node is still
        registered and no other placement landed on that node since our snapshot. `volumes`: the
        records of the volumes that land with it, written in the same transaction, each only if
        its record is as our snapshot had it (absent, or not yet on a node)."""
        node_id = container.node_id
        node_rev = self.state.nodes[node_id][1] if node_id in self.state.nodes else 0
        alloc_rev = self.state.alloc.get(node_id, 0)
        compare = [
            Compare.mod_revision(etcd_keys.node_info(node_id), "==", node_rev),
            Compare.mod_revision(etcd_keys.alloc(node_id), "==", alloc_rev),
        ]
        addresses = self._assign_addresses(container)
        for key in addresses:
            # No two containers ever get one address, whoever else allocates concurrently.
            compare.append(Compare.create_revision(key, "==", 0))
        value = records.encode(container)
        puts = [(etcd_keys.container(container.id), value), (etcd_keys.alloc(node_id), container.id),
                placed_record(container)]
        puts += [(key, container.id) for key in addresses]
        for v in volumes:
            key = etcd_keys.volume(v.name)
            known = self.state.volumes.get(v.name)
            compare.append(Compare.mod_revision(key, "==", known[1]) if known else Compare.create_revision(key, "==", 0))
            puts.append((key, to_json(v)))
        failure = []
        if unique_name:
            compare.insert(0, Compare.create_revision(etcd_keys.name(container.name), "==", 0))
            puts.append((etcd_keys.name(container.name), container.id))
            failure = [Op.get(etcd_keys.name(container.name))]
        result = await self.txn(compare, [Op.put(k, v) for k, v in puts], failure)
        if not result.succeeded:
            if unique_name and result.responses and result.responses[0]:
                raise NameTaken(container.name)
            raise Conflict(f"node {node_id} changed during placement")
        self._apply_puts(puts, result.revision, [container])
        return result.revision

    async def place_tasks(self, tasks: Sequence[types_pb2.Container]) -> int:
        """Records many placements (tasks: no name guard) in as few transactions as etcd allows.

        Each transaction holds whole tasks and compares, once per node it touches, that the node
        is still registered and that no other placement landed on it since our snapshot. Returns
        how many tasks, in order, were recorded: fewer than given when a node changed meanwhile
        (the caller places the rest again). Raises NetworkFull before writing a task that gets
        no address."""
        done = 0
        while done < len(tasks):
            compare: dict[str, Compare] = {}
            puts: list[tuple[str, str]] = []
            alloc: dict[str, str] = {}
            taken: dict[str, set[str]] = {}
            chunk = 0
            for task in tasks[done:]:
                node_id = task.node_id
                new_nodes = 0 if node_id in alloc else 2
                addresses = self._assign_addresses(task, taken)
                if chunk and (len(compare) + new_nodes + len(addresses) > ETCD_TXN_OPS - 1
                              or len(puts) + len(alloc) + 2 + (new_nodes // 2) + len(addresses) > ETCD_TXN_OPS):
                    break
                if new_nodes:
                    node_rev = self.state.nodes[node_id][1] if node_id in self.state.nodes else 0
                    compare[etcd_keys.node_info(node_id)] = Compare.mod_revision(etcd_keys.node_info(node_id), "==", node_rev)
                    compare[etcd_keys.alloc(node_id)] = Compare.mod_revision(
                        etcd_keys.alloc(node_id), "==", self.state.alloc.get(node_id, 0))
                for key in addresses:
                    compare[key] = Compare.create_revision(key, "==", 0)
                for att in task.networks:
                    taken.setdefault(att.network, set()).add(att.ip)
                puts.append((etcd_keys.container(task.id), records.encode(task)))
                puts.append(placed_record(task))
                puts += [(key, task.id) for key in addresses]
                alloc[node_id] = task.id
                chunk += 1
            puts += [(etcd_keys.alloc(node_id), last) for node_id, last in alloc.items()]
            result = await self.txn(list(compare.values()), [Op.put(k, v) for k, v in puts])
            if not result.succeeded:
                return done
            self._apply_puts(puts, result.revision, tasks[done:done + chunk])
            done += chunk
        return done

    async def update_containers(self, containers: Sequence[types_pb2.Container]) -> None:
        """update_container for many records, a transaction per chunk; a chunk that fails (a
        record removed meanwhile) is written one by one."""
        for start in range(0, len(containers), ETCD_TXN_OPS - 1):
            chunk = containers[start:start + ETCD_TXN_OPS - 1]
            keys = [etcd_keys.container(c.id) for c in chunk]
            puts = [(key, records.encode(c)) for key, c in zip(keys, chunk, strict=True)]
            result = await self.txn([Compare.create_revision(key, ">", 0) for key in keys],
                                    [Op.put(k, v) for k, v in puts])
            if result.succeeded:
                self._apply_puts(puts, result.revision, chunk)
            else:
                for c in chunk:
                    await self.update_container(c)

    def _assign_addresses(self, container: types_pb2.Container, taken: dict[str, set[str]] | None = None) -> list[str]:
        """Fills container.networks with the lowest free address of each network it joins
        (`taken`: addresses given to other containers of the same, unwritten, batch)."""
        del container.networks[:]
        keys = []
        for name in container.spec.networks:
            entry = self.state.networks.get(name)
            if entry is None:
                raise Conflict(f'network "{name}" is gone')
            ip = self.state.free_address(name, (taken or {}).get(name, frozenset()))
            if ip is None:
                raise NetworkFull(f'network "{name}" has no free address')
            net = entry[0]
            container.networks.append(types_pb2.NetworkAttachment(network=name, vni=net.vni, subnet=net.subnet, ip=ip))
            keys.append(etcd_keys.ipam(name, ip))
        return keys

    async def release_addresses(self, container: types_pb2.Container) -> None:
        for att in container.networks:
            key = etcd_keys.ipam(att.network, att.ip)
            result = await self.txn([Compare.value(key, "==", container.id)], [Op.delete(key)])
            if result.succeeded:
                self._apply_puts([(key, None)], result.revision)

    async def put_network(self, network: types_pb2.Network) -> None:
        key = etcd_keys.network(network.name)
        value = to_json(network)
        result = await self.txn([Compare.create_revision(key, "==", 0)], [Op.put(key, value)])
        if not result.succeeded:
            raise Conflict(f'network "{network.name}" already exists')
        self._apply_puts([(key, value)], result.revision)

    async def put_volume(self, volume: types_pb2.Volume, rev: int = 0) -> None:
        """Records a volume: a new one (rev 0) only if its name is free, else only if unchanged since rev."""
        key = etcd_keys.volume(volume.name)
        value = to_json(volume)
        compare = Compare.create_revision(key, "==", 0) if not rev else Compare.mod_revision(key, "==", rev)
        result = await self.txn([compare], [Op.put(key, value)])
        if not result.succeeded:
            raise Conflict(f'volume "{volume.name}" already exists' if not rev
                           else f'volume "{volume.name}" changed meanwhile')
        self._apply_puts([(key, value)], result.revision)

    async def delete_volume(self, name: str, rev: int) -> None:
        key = etcd_keys.volume(name)
        result = await self.txn([Compare.mod_revision(key, "==", rev)], [Op.delete(key)])
        if not result.succeeded:
            raise Conflict(f'volume "{name}" changed meanwhile')
        self._apply_puts([(key, None)], result.revision)

    async def delete_network(self, name: str) -> None:
        key = etcd_keys.network(name)
        result = await self.txn([], [Op.delete(key)])
        self._apply_puts([(key, None)], result.revision)

    async def update_container(self, container: types_pb2.Container) -> bool:
        """Write a new version of an existing record; False if it was removed meanwhile."""
        key = etcd_keys.container(container.id)
        value = records.encode(container)
        result = await self.txn([Compare.create_revision(key, ">", 0)], [Op.put(key, value)])
        if result.succeeded:
            self._apply_puts([(key, value)], result.revision, [container])
        return result.succeeded

    async def rename_container(self, container: types_pb2.Container, old_name: str) -> None:
        """`container` carries its new name: its record, its names/ guard and its placed/ record
        (what DNS answers) change in one transaction, only if the new name is free and the old
        one is still this container's."""
        new_key, old_key = etcd_keys.name(container.name), etcd_keys.name(old_name)
        key, value = etcd_keys.container(container.id), records.encode(container)
        placed = placed_record(container)
        result = await self.txn(
            [Compare.create_revision(new_key, "==", 0), Compare.value(old_key, "==", container.id),
             Compare.create_revision(key, ">", 0)],
            [Op.put(key, value), Op.put(new_key, container.id), Op.delete(old_key), Op.put(*placed)],
            [Op.get(new_key)],
        )
        if not result.succeeded:
            if result.responses and result.responses[0]:
                raise NameTaken(container.name)
            raise Conflict(f"container {old_name} changed during the rename")
        self._apply_puts([(key, value), (new_key, container.id), (old_key, None), placed], result.revision,
                         [container])

    async def delete_container(self, container: types_pb2.Container) -> None:
        await self.release_addresses(container)
        key = etcd_keys.container(container.id)
        placed_key = etcd_keys.placed(container.id)
        if container.service_id:
            result = await self.txn([], [Op.delete(key), Op.delete(placed_key)])
            self._apply_puts([(key, None), (placed_key, None)], result.revision)
            return
        name_key = etcd_keys.name(container.name)
        result = await self.txn(
            [Compare.value(name_key, "==", container.id)],
            [Op.delete(key), Op.delete(placed_key), Op.delete(name_key)],
            [Op.delete(key), Op.delete(placed_key)],
        )
        self._apply_puts([(key, None), (placed_key, None)] + ([(name_key, None)] if result.succeeded else []),
                         result.revision)

    async def put_node_conf(self, node_id: str, conf: NodeConf, expected_rev: int) -> None:
        key = etcd_keys.node_conf(node_id)
        value = conf.to_json()
        result = await self.txn([Compare.mod_revision(key, "==", expected_rev)], [Op.put(key, value)])
        if not result.succeeded:
            raise Conflict(f"node {node_id} was updated concurrently")
        self._apply_puts([(key, value)], result.revision)

    async def put_service(self, service: types_pb2.Service, expected_rev: int) -> int:
        """expected_rev 0: create (the name must be free); else compare-and-swap."""
        key = etcd_keys.service(service.spec.name)
        value = to_json(service)
        if expected_rev:
            compare = [Compare.mod_revision(key, "==", expected_rev)]
        else:
            compare = [Compare.create_revision(key, "==", 0)]
        result = await self.txn(compare, [Op.put(key, value)])
        if not result.succeeded:
            raise Conflict(f"service {service.spec.name} changed concurrently" if expected_rev
                           else f'service "{service.spec.name}" already exists')
        self._apply_puts([(key, value)], result.revision)
        return result.revision

    async def delete_service(self, name: str, expected_rev: int) -> None:
        key = etcd_keys.service(name)
        result = await self.txn([Compare.mod_revision(key, "==", expected_rev)], [Op.delete(key)])
        if not result.succeeded:
            raise Conflict(f"service {name} changed concurrently")
        self._apply_puts([(key, None)], result.revision)
