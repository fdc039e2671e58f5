"""start, restart, kill, pause, unpause, rename, top, stats and cp: the container verbs after run.

Each resolves the reference, refuses what would fight a service's orchestrator, calls the
container's agent and records what changed. The state changes are written by the leader; top,
stats and cp relay a stream and are served by any manager, as logs are."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import grpc

from shoal.manager import errors, redact
from shoal.manager.containers import ContainerOps, agent_error
from shoal.manager.store import Conflict, NameTaken
from shoal.manager.validation import check_name, check_ref, check_stop_timeout
from shoal.protos import task_states
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES, STOP_GRACE_DEFAULT, UNARY_TIMEOUT
from shoal.protos.shoal.v1 import agent_pb2, manager_pb2, types_pb2

log = logging.getLogger("shoal.manager.container_verbs")

COPY_TIMEOUT = 3600.0        # a whole cp; the chunks themselves keep the link busy
STATS_QUEUE = 16             # rows held between the agents' streams and a slow caller
MAX_STATS_REFS = 1024
MAX_PS_ARGS = 256
# Signals that end a process unless it traps them: refused on a task (its orchestrator decides
# when a task ends), allowed as any other signal is (kill -s HUP to reload its configuration).
ENDING_SIGNALS = frozenset({"", "KILL", "SIGKILL", "9", "TERM", "SIGTERM", "15", "INT", "SIGINT", "2",
                            "QUIT", "SIGQUIT", "3"})


def ends_task(signal: str) -> bool:
    return signal.upper() in ENDING_SIGNALS


def revive(record: types_pb2.Container) -> None:
    """A started (or restarted) plain container is meant to run again: its end is undone."""
    task_states.set_desired(record, task_states.RUNNING)
    record.end = types_pb2.END_REASON_UNSPECIFIED
    record.state = task_states.RUNNING
    record.note = ""
    record.gave_up = False


class ContainerVerbs:
    def __init__(self, ops: ContainerOps):
        self.ops = ops
        self.state = ops.state
        self.store = ops.store
        self.pool = ops.pool

    def _plain(self, ref: str, verb: str) -> types_pb2.Container:
        self.ops._require_store()
        c = self.ops.resolve(ref)
        self.ops._not_a_task(c, verb)
        return c

    async def _record_status(self, cid: str, status: types_pb2.ContainerStatus) -> types_pb2.Container:
        record = self.ops._record(cid)
        record.status.CopyFrom(status)
        await self.store.update_container(record)
        return redact.container(self.state.container_view(cid))

    async def _call(self, c: types_pb2.Container, rpc: str, request, timeout: float = UNARY_TIMEOUT):
        try:
            return await getattr(self.pool.stub(self.ops.node_address(c)), rpc)(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise agent_error(c.node_name, exc) from exc

    # ---- writes (leader) ----------------------------------------------------
    async def _revived(self, c: types_pb2.Container, rpc: str, request, timeout: float) -> types_pb2.Container:
        """Marks the record running before the agent starts it (an agent report between the two
        must not read as an exit), and puts the old record back if the engine refuses."""
        before = self.ops._record(c.id)
        record = self.ops._record(c.id)
        revive(record)
        await self.store.update_container(record)
        try:
            status = await self._call(c, rpc, request, timeout)
        except errors.ApiError:
            current = self.ops._record(c.id)
            if task_states.is_live(current) and not task_states.is_live(before):
                current.desired, current.desired_state, current.end = before.desired, before.desired_state, before.end
                current.state, current.note = before.state, before.note
                await self.store.update_container(current)
            raise
        return await self._record_status(c.id, status)

    async def start(self, ref: str) -> types_pb2.Container:
        c = self._plain(ref, "start")
        return await self._revived(c, "StartContainer", agent_pb2.AgentContainerRef(id=c.id), UNARY_TIMEOUT * 2)

    async def restart(self, ref: str, timeout: int) -> types_pb2.Container:
        errors.checked(check_stop_timeout, timeout)
        c = self._plain(ref, "restart")
        grace = timeout or c.spec.stop_timeout or STOP_GRACE_DEFAULT
        return await self._revived(c, "RestartContainer", agent_pb2.StopContainerRequest(id=c.id, timeout_seconds=grace),
                                   grace + UNARY_TIMEOUT * 2)

    async def kill(self, ref: str, signal: str) -> types_pb2.Container:
        self.ops._require_store()
        c = self.ops.resolve(ref)
        if ends_task(signal):
            self.ops._not_a_task(c, "kill")
        status = await self._call(c, "KillContainer", agent_pb2.AgentKillRequest(id=c.id, signal=signal))
        if status.state == "running" or c.service_id:
            # A signal it traps (USR1, HUP) leaves it running: nothing ended.
            return await self._record_status(c.id, status)
        record = self.ops._record(c.id)
        task_states.set_ended(record, types_pb2.END_REASON_STOPPED, "killed")
        record.status.CopyFrom(status)
        await self.store.update_container(record)
        return redact.container(self.state.container_view(c.id))

    async def pause(self, ref: str, pause: bool) -> types_pb2.Container:
        c = self._plain(ref, "pause" if pause else "unpause")
        status = await self._call(c, "PauseContainer" if pause else "UnpauseContainer",
                                  agent_pb2.AgentContainerRef(id=c.id))
        return await self._record_status(c.id, status)

    async def rename(self, ref: str, name: str) -> types_pb2.Container:
        errors.checked(check_name, name, "NEW_NAME")
        c = self._plain(ref, "rename")
        if name == c.name:
            raise errors.InvalidArgument(f'NEW_NAME: "{name}" is the container\'s name already')
        if name in self.state.names:
            raise errors.AlreadyExists(f'NEW_NAME: "{name}" is already in use')
        record = self.ops._record(c.id)
        old = record.name
        record.name = name
        try:
            await self.store.rename_container(record, old)
        except NameTaken:
            raise errors.AlreadyExists(f'NEW_NAME: "{name}" is already in use') from None
        except Conflict as exc:
            raise errors.Unavailable(f"{exc}; try again") from exc
        return redact.container(self.state.container_view(c.id))

    # ---- reads and streams (any manager) -----------------------------------
    async def top(self, ref: str, ps_args: str) -> types_pb2.TopReply:
        if len(ps_args) > MAX_PS_ARGS or not ps_args.isprintable():
            raise errors.InvalidArgument(f"ps OPTIONS: at most {MAX_PS_ARGS} printable characters")
        c = self.ops.resolve(ref)
        return await self._call(c, "Top", agent_pb2.AgentTopRequest(id=c.id, ps_args=ps_args))

    def _stats_targets(self, req: manager_pb2.StatsRequest) -> list[types_pb2.Container]:
        if len(req.refs) > MAX_STATS_REFS:
            raise errors.InvalidArgument(f"CONTAINER: {len(req.refs)} given; at most {MAX_STATS_REFS}")
        if req.refs:
            return [self.ops.resolve(ref) for ref in req.refs]
        views = [c for c in self.state.container_views() if c.status.state not in ("missing",)]
        return views if req.all else [c for c in views if c.status.state == "running"]

    async def stats(self, req: manager_pb2.StatsRequest) -> AsyncIterator[types_pb2.ContainerStats]:
        """Every node's agent streams its rows; the rows are merged here through a small queue, so a
        slow caller holds the agents back (gRPC flow control) instead of filling the manager."""
        for ref in req.refs:
            errors.checked(check_ref, ref, "CONTAINER")
        targets = self._stats_targets(req)
        by_node: dict[str, list[types_pb2.Container]] = {}
        for c in targets:
            if c.status.state == "running" or c.status.state == "paused":
                by_node.setdefault(c.node_id, []).append(c)
            else:
                yield types_pb2.ContainerStats(id=c.id, name=c.name, node_name=c.node_name)   # docker: zeros
        queue: asyncio.Queue[types_pb2.ContainerStats | None] = asyncio.Queue(STATS_QUEUE)

        async def relay(node_id: str, cs: list[types_pb2.Container]) -> None:
            names = {c.id: c for c in cs}
            node = cs[0].node_name
            call = None
            try:
                entry = self.state.nodes.get(node_id)
                if entry is None:
                    raise errors.Unavailable(f"node {node}: down")
                call = self.pool.stub(entry[0].address).Stats(
                    agent_pb2.AgentStatsRequest(ids=list(names), stream=req.stream),
                    timeout=None if req.stream else UNARY_TIMEOUT * 2)
                async for row in call:
                    if row.id in names:
                        row.name, row.node_name = names[row.id].name, node   # the record's name: rename follows
                        await queue.put(row)
            except (grpc.aio.AioRpcError, errors.ApiError) as exc:
                text = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                for c in cs:
                    await queue.put(types_pb2.ContainerStats(id=c.id, name=c.name, node_name=node,
                                                             error=f"node {node}: {text}"))
            finally:
                if call is not None:
                    call.cancel()
                await queue.put(None)

        tasks = [asyncio.create_task(relay(n, cs)) for n, cs in by_node.items()]
        try:
            left = len(tasks)
            while left:
                row = await queue.get()
                if row is None:
                    left -= 1
                    continue
                yield row
        finally:
            for t in tasks:
                t.cancel()

    async def copy_from(self, ref: str, path: str) -> AsyncIterator[manager_pb2.CopyOut]:
        _check_path(path)
        c = self.ops.resolve(ref)
        call = self.pool.stub(self.ops.node_address(c)).CopyFrom(
            agent_pb2.AgentCopyFromRequest(id=c.id, path=path), timeout=COPY_TIMEOUT)
        try:
            async for msg in call:
                if msg.WhichOneof("msg") == "stat":
                    yield manager_pb2.CopyOut(stat=msg.stat)
                elif len(msg.chunk.data) <= ARCHIVE_CHUNK_BYTES:
                    yield manager_pb2.CopyOut(chunk=msg.chunk)
                else:
                    raise errors.Unavailable(f"node {c.node_name}: sent a chunk over {ARCHIVE_CHUNK_BYTES} bytes")
        except grpc.aio.AioRpcError as exc:
            raise agent_error(c.node_name, exc) from exc
        finally:
            call.cancel()   # a caller gone (or done) ends the agent's side too

    async def copy_to(self, requests: AsyncIterator[manager_pb2.CopyIn]) -> manager_pb2.CopyToReply:
        first = await anext(aiter(requests), None)
        if first is None or first.WhichOneof("msg") != "to":
            raise errors.InvalidArgument("CopyTo: the first message must name the target (to)")
        _check_path(first.to.path)
        c = self.ops.resolve(first.to.ref)

        async def chunks() -> AsyncIterator[agent_pb2.AgentCopyIn]:
            yield agent_pb2.AgentCopyIn(to=agent_pb2.AgentCopyTarget(id=c.id, path=first.to.path,
                                                                     copy_uid_gid=first.to.copy_uid_gid))
            async for msg in requests:
                if msg.WhichOneof("msg") != "chunk" or len(msg.chunk.data) > ARCHIVE_CHUNK_BYTES:
                    raise errors.InvalidArgument(f"CopyTo: after the target, only chunks of at most "
                                                 f"{ARCHIVE_CHUNK_BYTES} bytes")
                yield agent_pb2.AgentCopyIn(chunk=msg.chunk)

        call = self.pool.stub(self.ops.node_address(c)).CopyTo(chunks(), timeout=COPY_TIMEOUT)
        try:
            await call
        except grpc.aio.AioRpcError as exc:
            raise agent_error(c.node_name, exc) from exc
        finally:
            call.cancel()
        return manager_pb2.CopyToReply()


def _check_path(path: str) -> None:
    if not path or len(path) > 4096 or "\x00" in path:
        raise errors.InvalidArgument("PATH: must be 1 to 4096 characters, without NUL")
