"""Container operations: validate, place, record, call the agent, record the outcome."""
from __future__ import annotations

import asyncio
import logging
import random
import secrets
from typing import AsyncIterator

import grpc

from shoal.manager import errors, redact, volume_placement
from shoal.manager.agents import AgentPool
from shoal.manager.clock import now, stamp
from shoal.manager.scheduler import NoFit, TaskRequest, host_ports, place
from shoal.manager.state import ClusterState, UnknownRef
from shoal.manager.networks import check_networks
from shoal.manager.store import Conflict, NameTaken, NetworkFull, Store
from shoal.manager.validation import check_ref, check_run, check_stop_timeout, check_tail
from shoal.protos.spec_rules import reserved_cpus, reserved_memory
from shoal.protos import task_states
from shoal.protos.limits import CREATE_TIMEOUT, LOG_CHUNK_BYTES, STOP_GRACE_DEFAULT, UNARY_TIMEOUT
from shoal.protos.shoal.v1 import agent_pb2, manager_pb2, types_pb2

log = logging.getLogger("shoal.manager.containers")

PLACEMENT_ATTEMPTS = 8
WAIT_TIMEOUT = 24 * 3600.0
REF = "CONTAINER"


def agent_error(node_name: str, exc: grpc.aio.AioRpcError) -> errors.ApiError:
    detail = exc.details() or exc.code().name
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return errors.Unavailable(f"node {node_name}: agent unreachable ({detail})")
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return errors.NotFound(f"node {node_name}: {detail}")
    return errors.FailedPrecondition(f"node {node_name}: {detail}")


class ContainerOps:
    def __init__(self, state: ClusterState, store: Store, pool: AgentPool, strategy: str,
                 place_lock: asyncio.Lock, rng: random.Random | None = None):
        self.state = state
        self.store = store
        self.pool = pool
        self.strategy = strategy
        self.rng = rng or random.Random()
        # Placements in one manager are serialised so each sees the previous one's
        # reservation (tasks of services share this lock); across managers the
        # revision compare in Store.place decides.
        self._place_lock = place_lock

    def _require_store(self) -> None:
        if not self.store.healthy.is_set():
            raise errors.Unavailable("etcd: the manager has lost its connection to etcd; try again shortly")

    def resolve(self, ref: str) -> types_pb2.Container:
        errors.checked(check_ref, ref, REF)
        try:
            cid = self.state.resolve_container(ref)
        except UnknownRef as exc:
            raise errors.NotFound(str(exc)) from exc
        return self.state.container_view(cid)

    def _record(self, cid: str) -> types_pb2.Container:
        """A copy of the stored record: the state changes only when a write succeeds."""
        entry = self.state.containers.get(cid)
        if entry is None:
            raise errors.NotFound(f"container {cid[:12]}: removed meanwhile")
        return entry[0]    # a fresh decode: already a copy

    def node_address(self, c: types_pb2.Container) -> str:
        entry = self.state.nodes.get(c.node_id)
        if entry is None:
            raise errors.Unavailable(f"container {c.name}: its node {c.node_name or c.node_id} is down")
        return entry[0].address

    def _unique_name(self, image: str) -> str:
        base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0] or "c"
        base = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in base)[:50].strip("-._") or "c"
        while True:
            name = f"{base}-{secrets.token_hex(3)}"
            if name not in self.state.names:
                return name

    async def run(self, req: manager_pb2.RunRequest) -> types_pb2.Container:
        constraints = errors.checked(check_run, req)
        self._require_store()
        spec = req.spec
        check_networks(self.state, list(spec.networks))
        task = TaskRequest(
            nano_cpus=reserved_cpus(spec),
            memory=reserved_memory(spec),
            constraints=tuple(constraints),
            host_ports=host_ports(spec.ports),
        )
        strategy = spec.strategy or self.strategy
        container = types_pb2.Container(
            id=secrets.token_hex(16), spec=spec, state=task_states.PENDING,
            status=types_pb2.ContainerStatus(state="pending"), created_at=stamp(now()),
        )
        task_states.set_desired(container, task_states.RUNNING)
        for _ in range(PLACEMENT_ATTEMPTS):
            async with self._place_lock:
                name = req.name or self._unique_name(spec.image)
                if name in self.state.names:
                    raise errors.AlreadyExists(f'--name: "{name}" is already in use')
                volumes = self.state.volume_records()
                try:
                    pinned = volume_placement.pin(spec, volumes)
                except volume_placement.VolumesApart as exc:
                    raise errors.InvalidArgument(f"--volume: {exc}") from exc
                beside = self._colocated(container.spec, pinned)
                nodes = self.state.snapshots()
                if pinned.node_id or beside:
                    home = pinned.node_id or beside[0].node_id
                    nodes = [n for n in nodes if n.id == home]
                result = place(nodes, task, strategy, self.rng)
                if isinstance(result, NoFit):
                    waiting = volume_placement.why_waiting(pinned, self.state.node_facts())
                    if beside and not waiting:
                        other, flag = beside
                        waiting = (f'{flag}: container "{other.name}" is on node {other.node_name}, where this '
                                   f"container does not fit ({result.message})")
                    raise errors.FailedPrecondition(
                        waiting or (f"{result.message} (volume {pinned.volume} keeps it on node {pinned.node_name})"
                                    if pinned.node_id else result.message))
                node = self.state.nodes[result.node_id][0]
                container.name = name
                container.node_id = node.id
                container.node_name = node.name
                volume_placement.fill(container.spec, volumes)
                landing = volume_placement.new_records(pinned, spec, node.id, node.name, stamp(now()), volumes)
                try:
                    await self.store.place(container, volumes=landing)
                    break
                except NameTaken as exc:
                    raise errors.AlreadyExists(str(exc)) from exc
                except NetworkFull as exc:
                    raise errors.ResourceExhausted(f"--network: {exc}") from exc
                except Conflict:
                    continue
        else:
            raise errors.Unavailable("placement: the cluster changed under every attempt; try again")
        if result.dropped_soft:
            log.info("placed %s on %s without soft constraints %s", name, node.name, list(result.dropped_soft))
        stub = self.pool.stub(node.address)
        try:
            status = await stub.CreateContainer(
                agent_pb2.CreateContainerRequest(id=container.id, name=container.name, spec=container.spec,
                                                 networks=container.networks, no_start=req.create_only,
                                                 registry_auth=req.registry_auth),
                timeout=CREATE_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            await self._undo_placement(stub, container)
            raise agent_error(node.name, exc) from exc
        except asyncio.CancelledError:
            await asyncio.shield(self._undo_placement(stub, container))
            raise
        container.status.CopyFrom(status)
        container.state = task_states.RUNNING
        await self.store.update_container(container)
        return redact.container(self.state.container_view(container.id))

    async def _undo_placement(self, stub, container: types_pb2.Container) -> None:
        """A failed create leaves no ghost: neither a record nor a half-made container."""
        try:
            await stub.RemoveContainer(agent_pb2.RemoveContainerRequest(id=container.id, force=True),
                                       timeout=UNARY_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            # The agent's status report will show it as an orphan, which the sweep removes.
            log.warning("could not clean up %s on %s: %s", container.name, container.node_name, exc.details())
        await self.store.delete_container(container)

    def list(self, all_: bool) -> list[types_pb2.Container]:
        views = self.state.container_views()
        if not all_:
            views = [c for c in views if c.status.state in ("running", "pending") and task_states.is_live(c)]
        return redact.containers(views)

    async def inspect(self, ref: str) -> manager_pb2.InspectContainerReply:
        c = self.resolve(ref)
        reply = manager_pb2.InspectContainerReply(container=redact.container(c))
        if c.node_id in self.state.nodes:
            try:
                got = await self.pool.stub(self.node_address(c)).InspectContainer(
                    agent_pb2.AgentContainerRef(id=c.id), timeout=UNARY_TIMEOUT
                )
                # The agent redacts it too; an agent of an older version may not.
                reply.engine_json = redact.engine_json(got.engine_json, c.spec.secret_env)
            except grpc.aio.AioRpcError as exc:
                log.info("inspect %s: engine document unavailable: %s", c.name, exc.details())
        return reply

    def _not_a_task(self, c: types_pb2.Container, verb: str) -> None:
        if c.service_id:
            raise errors.FailedPrecondition(
                f"container {c.name} is a task of service {c.service_name}: use shoal service scale/update/rm, not {verb}"
            )

    def _colocated(self, spec: types_pb2.ContainerSpec,
                   pinned: volume_placement.Pin) -> tuple[types_pb2.Container, str] | None:
        """The container that --ipc container:NAME and --volumes-from name, which this one must run
        beside (one node); fills in their ids for the agent. Refuses containers on different nodes."""
        refs = [("--ipc", spec.ipc[len("container:"):], "")] if spec.ipc.startswith("container:") else []
        for source in spec.volumes_from:
            name, _, mode = source.partition(":")
            refs.append(("--volumes-from", name, mode))
        found: tuple[types_pb2.Container, str] | None = None
        del spec.volumes_from_ids[:]
        for flag, ref, mode in refs:
            try:
                other = self.state.container_view(self.state.resolve_container(ref))
            except UnknownRef:
                raise errors.InvalidArgument(f'{flag}: container "{ref[:80]}": no such container') from None
            if found is not None and other.node_id != found[0].node_id:
                raise errors.InvalidArgument(f'{flag}: container "{other.name}" is on node {other.node_name}, '
                                             f'{found[1]}\'s "{found[0].name}" on node {found[0].node_name}')
            if pinned.node_id and other.node_id != pinned.node_id:
                raise errors.InvalidArgument(f'{flag}: container "{other.name}" is on node {other.node_name}, '
                                             f"volume {pinned.volume} on node {pinned.node_name}")
            found = found or (other, flag)
            if flag == "--ipc":
                spec.ipc_container = other.id
            else:
                spec.volumes_from_ids.append(f"{other.id}:{mode}" if mode else other.id)
        return found

    async def stop(self, ref: str, timeout: int) -> types_pb2.Container:
        errors.checked(check_stop_timeout, timeout)
        self._require_store()
        c = self.resolve(ref)
        self._not_a_task(c, "stop")
        address = self.node_address(c)
        record = self._record(c.id)
        task_states.set_ended(record, types_pb2.END_REASON_STOPPED, "")
        await self.store.update_container(record)
        grace = timeout or c.spec.stop_timeout or STOP_GRACE_DEFAULT   # --stop-timeout is the container's default
        try:
            status = await self.pool.stub(address).StopContainer(
                agent_pb2.StopContainerRequest(id=c.id, timeout_seconds=grace), timeout=grace + UNARY_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise agent_error(c.node_name, exc) from exc
        record = self._record(c.id)
        record.status.CopyFrom(status)
        await self.store.update_container(record)
        return redact.container(self.state.container_view(c.id))

    async def remove(self, ref: str, force: bool) -> str:
        self._require_store()
        c = self.resolve(ref)
        self._not_a_task(c, "rm")
        if c.status.state in ("running", "pending") and not force:
            raise errors.FailedPrecondition(f"container {c.name} is {c.status.state}: stop it first or use -f")
        if c.node_id in self.state.nodes:
            try:
                await self.pool.stub(self.node_address(c)).RemoveContainer(
                    agent_pb2.RemoveContainerRequest(id=c.id, force=force), timeout=UNARY_TIMEOUT + 10
                )
            except grpc.aio.AioRpcError as exc:
                if not force:
                    raise agent_error(c.node_name, exc) from exc
                log.warning("rm -f %s: agent call failed (%s); removing the record anyway", c.name, exc.details())
        elif not force:
            raise errors.Unavailable(f"container {c.name}: its node is down; use -f to forget it")
        await self.store.delete_container(self._record(c.id))
        return c.id

    async def logs(self, ref: str, follow: bool, tail: int) -> AsyncIterator[types_pb2.LogChunk]:
        """Relays the agent's stream one chunk at a time: the next chunk is read from the agent
        only once the client's side took the last (gRPC flow control both ways), so a slow or
        stalled reader of a follow stream holds the agent back instead of filling the manager."""
        errors.checked(check_tail, tail)
        c = self.resolve(ref)
        stub = self.pool.stub(self.node_address(c))
        call = stub.Logs(agent_pb2.AgentLogsRequest(id=c.id, follow=follow, tail=tail),
                         timeout=None if follow else UNARY_TIMEOUT * 4)
        try:
            async for chunk in call:
                if len(chunk.data) <= LOG_CHUNK_BYTES:
                    yield chunk
                    continue
                # An agent of another version may send bigger chunks: keep ours bounded.
                for i in range(0, len(chunk.data), LOG_CHUNK_BYTES):
                    yield types_pb2.LogChunk(data=chunk.data[i:i + LOG_CHUNK_BYTES], stream=chunk.stream)
        except grpc.aio.AioRpcError as exc:
            raise agent_error(c.node_name, exc) from exc
        finally:
            call.cancel()

    async def wait(self, ref: str) -> manager_pb2.WaitReply:
        c = self.resolve(ref)
        try:
            status = await self.pool.stub(self.node_address(c)).Wait(
                agent_pb2.AgentContainerRef(id=c.id), timeout=WAIT_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise agent_error(c.node_name, exc) from exc
        return manager_pb2.WaitReply(exit_code=status.exit_code, error=status.error)
