"""Tasks of services: making their records, placing them, and driving them to the agents.

A task is a Container record with service fields set. The record is always written
before the agent is called, and CreateContainer is idempotent per task id, so a new
leader can safely drive a task that a dead leader placed but never started.
"""
from __future__ import annotations

import asyncio
import logging
import random
import secrets
from typing import Mapping
from datetime import datetime

import grpc

from shoal.manager import lifecycle
from shoal.manager.agents import AgentPool
from shoal.manager.clock import now, stamp
from shoal.manager.scheduler import NodeIndex, NoFit, TaskRequest, host_ports, parse_constraint, place
from shoal.manager.registry_auths import RegistryAuths
from shoal.manager.state import ClusterState
from shoal.manager.store import Conflict, NetworkFull, Store
from shoal.manager import volume_placement
from shoal.protos.spec_rules import reserved_cpus, reserved_memory
from shoal.protos import task_states
from shoal.protos.limits import CREATE_TIMEOUT, UNARY_TIMEOUT
from shoal.protos.shoal.v1 import agent_pb2, manager_pb2, types_pb2

log = logging.getLogger("shoal.manager.tasks")

REJECTED = types_pb2.END_REASON_REJECTED

DEFAULT_STOP_GRACE_S = 10
MAX_CONCURRENT_AGENT_CALLS = 32
CREATE_BATCH = 64   # tasks per CreateContainers call (the agent takes up to 256)


def task_name(service: types_pb2.Service, slot: int, node_name: str = "") -> str:
    return f"{service.spec.name}.{slot}" if service.spec.mode != "global" else f"{service.spec.name}.{node_name}"


def task_request(service: types_pb2.Service) -> TaskRequest:
    task = service.spec.task
    return TaskRequest(
        nano_cpus=reserved_cpus(task),
        memory=reserved_memory(task),
        constraints=tuple(parse_constraint(c) for c in task.constraints),
        host_ports=host_ports(task.ports),
        group=service.id,
        spread_over=tuple(p.spread[len("node.labels."):] for p in service.spec.preferences if p.spread),
    )


def new_task(service: types_pb2.Service, slot: int, node: types_pb2.Node, restarts: int,
             not_before: datetime | None, into: manager_pb2.ContainerList | None = None,
             volumes: Mapping[str, types_pb2.Volume] | None = None) -> types_pb2.Container:
    """The record of a task placed on `node`, not yet started. `into`: made there, so a batch's
    records share one arena (one arena per record costs 1.27 KB: 12 MB for 10,000 tasks)."""
    task = into.containers.add() if into is not None else types_pb2.Container()
    task.id = secrets.token_hex(16)
    task.name = task_name(service, slot, node.name)
    task.spec.CopyFrom(service.spec.task)
    if task.spec.mounts:
        volume_placement.for_slot(task.spec, slot)
        volume_placement.fill(task.spec, volumes or {})
    task.node_id, task.node_name = node.id, node.name
    task_states.set_desired(task, task_states.RUNNING)
    task.state = task_states.PENDING
    task.status.state = "pending"
    task.created_at = stamp(now())
    task.service_id, task.service_name = service.id, service.spec.name
    task.slot, task.spec_version, task.restarts = slot, service.version, restarts
    task.not_before = stamp(not_before) if not_before else ""
    return task


class TaskDriver:
    def __init__(self, state: ClusterState, store: Store, pool: AgentPool, place_lock: asyncio.Lock,
                 strategy: str, rng: random.Random | None = None, auths: RegistryAuths | None = None):
        self.auths = auths or RegistryAuths()   # each service's --with-registry-auth, for its pulls
        self.state = state
        self.store = store
        self.pool = pool
        self.place_lock = place_lock
        self.strategy = strategy
        self.rng = rng or random.Random()
        self.in_flight: set[str] = set()
        self._queued: dict[str, list[str]] = {}   # node id -> task ids waiting for its next call
        self._flushing: set[str] = set()          # nodes with a call loop running
        self._calls = asyncio.Semaphore(MAX_CONCURRENT_AGENT_CALLS)
        self._background: set[asyncio.Task] = set()

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def cancel_all(self) -> None:
        for t in list(self._background):
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def copy(self, cid: str) -> types_pb2.Container | None:
        entry = self.state.containers.get(cid)
        return entry[0] if entry is not None else None   # a fresh decode: already a copy

    async def place_new(self, service: types_pb2.Service, slot: int, *, node_id: str = "", restarts: int = 0,
                        not_before: datetime | None = None) -> types_pb2.Container | NoFit:
        """Places and records a new task (not yet started)."""
        request = task_request(service)
        for _ in range(8):
            async with self.place_lock:
                volumes = self.state.volume_records()
                mounted = types_pb2.ContainerSpec(mounts=service.spec.task.mounts)
                volume_placement.for_slot(mounted, slot)
                try:
                    pinned = volume_placement.pin(mounted, volumes)
                except volume_placement.VolumesApart as exc:
                    return NoFit((str(exc),))
                nodes = self.state.snapshots()
                if node_id:
                    nodes = [n for n in nodes if n.id == node_id]
                if pinned.node_id:
                    nodes = [n for n in nodes if n.id == pinned.node_id]
                result = place(nodes, request, service.spec.task.strategy or self.strategy, self.rng)
                if isinstance(result, NoFit):
                    waiting = volume_placement.why_waiting(pinned, self.state.node_facts())
                    return NoFit((waiting,)) if waiting else result
                node = self.state.nodes[result.node_id][0]
                task = new_task(service, slot, node, restarts, not_before, volumes=volumes)
                landing = volume_placement.new_records(pinned, task.spec, node.id, node.name, stamp(now()), volumes)
                try:
                    await self.store.place(task, unique_name=False, volumes=landing)
                    return task
                except NetworkFull as exc:
                    return NoFit((str(exc),))
                except Conflict:
                    continue
        return NoFit(("the cluster kept changing during placement",))

    async def place_batch(self, service: types_pb2.Service, slots: list[tuple[int, int, datetime | None]],
                          ) -> tuple[list[types_pb2.Container], NoFit | None]:
        """Places and records new tasks for (slot, restarts, not_before) of a replicated service:
        one snapshot, one indexed placement of the whole batch, a few transactions. Returns the
        tasks recorded, in slot order, and why the rest could not be placed."""
        request = task_request(service)
        strategy = service.spec.task.strategy or self.strategy
        placed: list[types_pb2.Container] = []
        for _ in range(8):
            remaining = slots[len(placed):]
            if not remaining:
                return placed, None
            async with self.place_lock:
                placements, nofit = NodeIndex(self.state.snapshots()).place_many(
                    request, len(remaining), strategy, self.rng)
                batch = manager_pb2.ContainerList()
                records = [new_task(service, slot, self.state.nodes[p.node_id][0], restarts, not_before, batch)
                           for (slot, restarts, not_before), p in zip(remaining, placements, strict=False)]  # fewer placements: no fit
                try:
                    done = await self.store.place_tasks(records)
                except NetworkFull as exc:
                    return placed, NoFit((str(exc),))
                placed += records[:done]
                if done == len(records):
                    return placed, nofit
            # A node changed under a transaction: place what is left on a fresh snapshot.
        return placed, NoFit(("the cluster kept changing during placement",))

    def start_soon(self, task: types_pb2.Container) -> None:
        """Asks the task's agent to start it; tasks queued for one node go in one call."""
        if task.id in self.in_flight:
            return
        self.in_flight.add(task.id)
        self._queued.setdefault(task.node_id, []).append(task.id)
        if task.node_id not in self._flushing:
            self._flushing.add(task.node_id)
            self.spawn(self._flush(task.node_id))

    async def _flush(self, node_id: str) -> None:
        try:
            while self._queued.get(node_id):
                ids = self._queued[node_id][:CREATE_BATCH]
                del self._queued[node_id][:CREATE_BATCH]
                try:
                    async with self._calls:
                        await self._start_batch(node_id, ids)
                except Exception:
                    log.exception("starting %d task(s) on node %s", len(ids), node_id[:12])
                finally:
                    self.in_flight.difference_update(ids)
        finally:
            self._flushing.discard(node_id)
            self._queued.pop(node_id, None)

    async def _start_batch(self, node_id: str, ids: list[str]) -> None:
        tasks = [t for t in self.state.containers.many(ids) if t.desired_state == "running" and t.node_id == node_id]
        if not tasks or node_id not in self.state.nodes:
            return
        address = self.state.nodes[node_id][0].address
        node_name = tasks[0].node_name
        request = agent_pb2.CreateContainersRequest(containers=[
            agent_pb2.CreateContainerRequest(id=t.id, name=t.name, spec=t.spec, service=t.service_name,
                                             networks=t.networks, registry_auth=self.auths.of(t.service_id))
            for t in tasks])
        try:
            reply = await self.pool.stub(address).CreateContainers(request, timeout=CREATE_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                # Left pending: the next pass retries (the call is idempotent).
                log.warning("start %d task(s) on %s: agent unreachable (%s)", len(tasks), node_name, exc.details())
                return
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                # An agent older than CreateContainers (a rolling upgrade): one call per task.
                for t in tasks:
                    await self._start_one(t.id)
                return
            for t in tasks:
                await self.shutdown(t, REJECTED, f"rejected: {exc.details()}")
            return
        statuses = {}
        for t, result in zip(tasks, reply.results, strict=False):
            if result.id != t.id:
                log.error("agent %s answered out of order; the next pass retries", node_name)
                return
            if result.error:
                await self.shutdown(t, REJECTED, f"rejected: {result.error}")
                continue
            statuses[t.id] = result.status
        records = (lifecycle.started(current, statuses[current.id])   # re-read: the awaits above
                   for current in self.state.containers.many(statuses))
        await self.store.update_containers([r for r in records if r is not None])

    async def _start_one(self, cid: str) -> None:
        task = self.copy(cid)
        if task is None or not task_states.is_live(task) or task.node_id not in self.state.nodes:
            return
        address = self.state.nodes[task.node_id][0].address
        try:
            status = await self.pool.stub(address).CreateContainer(
                agent_pb2.CreateContainerRequest(id=task.id, name=task.name, spec=task.spec,
                                                 service=task.service_name, networks=task.networks,
                                                 registry_auth=self.auths.of(task.service_id)),
                timeout=CREATE_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                log.warning("start %s on %s: agent unreachable (%s)", task.name, task.node_name, exc.details())
                return
            await self.shutdown(task, REJECTED, f"rejected: {exc.details()}")
            return
        task = self.copy(cid)
        record = lifecycle.started(task, status) if task is not None else None
        if record is not None:
            await self.store.update_container(record)

    async def shutdown(self, task: types_pb2.Container, reason: task_states.Reason, note: str) -> None:
        """Records the task's end (its last status kept as history) and removes its container."""
        await self.shutdown_id(task.id, reason, note)

    async def shutdown_id(self, cid: str, reason: task_states.Reason, note: str) -> None:
        record = self.copy(cid)
        if record is None:
            return
        if task_states.is_live(record):
            record = lifecycle.ended(record, self.state.status_of(record), reason, note, now())
            await self.store.update_container(record)
            # Its addresses are free again; history keeps them only as a note of what it had.
            await self.store.release_addresses(record)
            log.info("task %s (%s) shut down: %s", record.name, record.id[:12], note)
        self.remove_soon(record)

    def remove_soon(self, task: types_pb2.Container) -> None:
        key = "rm:" + task.id
        if key in self.in_flight or task.node_id not in self.state.nodes:
            return
        if task.id not in self.state.observed.get(task.node_id, {}):
            return
        self.in_flight.add(key)
        self.spawn(self._remove(task, key))

    async def _remove(self, task: types_pb2.Container, key: str) -> None:
        try:
            async with self._calls:
                address = self.state.nodes[task.node_id][0].address
                stub = self.pool.stub(address)
                grace_s = DEFAULT_STOP_GRACE_S
                svc = self.state.services.get(task.service_name)
                if svc and svc[0].spec.stop_grace_ns:
                    grace_s = max(0, int(svc[0].spec.stop_grace_ns // 1_000_000_000))
                try:
                    if self.state.status_of(task).state == "running":
                        await stub.StopContainer(agent_pb2.StopContainerRequest(id=task.id, timeout_seconds=max(grace_s, 1)),
                                                 timeout=grace_s + UNARY_TIMEOUT)
                    await stub.RemoveContainer(agent_pb2.RemoveContainerRequest(id=task.id, force=True),
                                               timeout=UNARY_TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.NOT_FOUND:  # already gone is what we wanted
                        log.warning("removing %s on %s: %s", task.name, task.node_name, exc.details())
        except Exception:
            log.exception("removing task %s", task.id[:12])
        finally:
            self.in_flight.discard(key)
