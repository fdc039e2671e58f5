"""The manager's etcd I/O: the initial load, the watch that keeps ClusterState current, and
every write, each a transaction that compares revisions so two managers can never
both win a race (an etcd lock alone is not safe)."""
from __future__ import annotations

import asyncio
import logging

from google.protobuf import json_format

from manager.state import ClusterState, NodeConf
from protos import etcd_keys
from protos.etcdv3.client import (
    Compare, EtcdClient, Op, WatchBatch, WatchCompacted, WatchInterrupted, WatchResumed,
)
from protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.manager.store")


class Conflict(Exception):
    """A compared revision moved: someone else wrote first. Re-read and retry."""


def _json(msg) -> str:
    return json_format.MessageToJson(msg, indent=None, sort_keys=True)


class Store:
    def __init__(self, etcd: EtcdClient, state: ClusterState):
        self.etcd = etcd
        self.state = state
        self.healthy = asyncio.Event()
        self.changed = asyncio.Condition()

    async def load(self) -> None:
        kvs, revision = await self.etcd.get_prefix(etcd_keys.ROOT)
        self.state.clear()
        for kv in kvs:
            self.state.apply(kv.key, kv.value, kv.mod_revision)
        self.state.revision = revision
        self.healthy.set()

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
                    elif isinstance(item, WatchBatch):
                        for ev in item.events:
                            self.state.apply(ev.kv.key, ev.kv.value if ev.type == "put" else None, ev.kv.mod_revision)
                        if item.events:
                            # Not the header revision: later events may still be in flight.
                            delivered = max(ev.kv.mod_revision for ev in item.events)
                            self.state.revision = max(self.state.revision, delivered)
                            self.state.forget_tombstones(delivered)
                        async with self.changed:
                            self.changed.notify_all()
            except WatchCompacted:
                log.warning("etcd history compacted past our revision; reloading everything")
                await self.load()

    async def wait_for(self, predicate, timeout: float) -> bool:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(predicate), timeout)
                return True
            except TimeoutError:
                return False

    # ---- writes ----------------------------------------------------------
    async def place(self, container: types_pb2.Container) -> int:
        """Record a placement: only if the name is free, the node is still registered
        and no other placement landed on that node since our snapshot."""
        node_id = container.node_id
        node_rev = self.state.nodes[node_id][1] if node_id in self.state.nodes else 0
        alloc_rev = self.state.alloc.get(node_id, 0)
        value = _json(container)
        result = await self.etcd.txn(
            [
                Compare.create_revision(etcd_keys.name(container.name), "==", 0),
                Compare.mod_revision(etcd_keys.node_info(node_id), "==", node_rev),
                Compare.mod_revision(etcd_keys.alloc(node_id), "==", alloc_rev),
            ],
            [
                Op.put(etcd_keys.container(container.id), value),
                Op.put(etcd_keys.name(container.name), container.id),
                Op.put(etcd_keys.alloc(node_id), container.id),
            ],
            [Op.get(etcd_keys.name(container.name))],
        )
        if not result.succeeded:
            if result.responses and result.responses[0]:
                raise NameTaken(container.name)
            raise Conflict(f"node {node_id} changed during placement")
        # Apply at once so the next placement sees this reservation before the watch echoes it.
        self.state.apply(etcd_keys.container(container.id), value.encode(), result.revision)
        self.state.apply(etcd_keys.name(container.name), container.id.encode(), result.revision)
        self.state.apply(etcd_keys.alloc(node_id), container.id.encode(), result.revision)
        return result.revision

    async def update_container(self, container: types_pb2.Container) -> bool:
        """Write a new version of an existing record; False if it was removed meanwhile."""
        key = etcd_keys.container(container.id)
        value = _json(container)
        result = await self.etcd.txn([Compare.create_revision(key, ">", 0)], [Op.put(key, value)])
        if result.succeeded:
            self.state.apply(key, value.encode(), result.revision)
        return result.succeeded

    async def delete_container(self, container: types_pb2.Container) -> None:
        name_key = etcd_keys.name(container.name)
        result = await self.etcd.txn(
            [Compare.value(name_key, "==", container.id)],
            [Op.delete(etcd_keys.container(container.id)), Op.delete(name_key)],
            [Op.delete(etcd_keys.container(container.id))],
        )
        self.state.apply(etcd_keys.container(container.id), None, result.revision)
        if result.succeeded:
            self.state.apply(name_key, None, result.revision)

    async def put_node_conf(self, node_id: str, conf: NodeConf, expected_rev: int) -> None:
        key = etcd_keys.node_conf(node_id)
        value = conf.to_json()
        result = await self.etcd.txn([Compare.mod_revision(key, "==", expected_rev)], [Op.put(key, value)])
        if not result.succeeded:
            raise Conflict(f"node {node_id} was updated concurrently")
        self.state.apply(key, value.encode(), result.revision)


class NameTaken(Exception):
    def __init__(self, name: str):
        super().__init__(f'--name: "{name}" is already in use')
