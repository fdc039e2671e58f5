"""Images per node: ls, pull, load, rm and prune fanned out to the agents at once.

Every node answers for itself: a node that is down or unreachable is one line of the reply (or
one finished progress event with its error), never the failure of the whole call. Registry
credentials pass through to the agents' pulls and are kept nowhere (no etcd, no log)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import AsyncIterator

import grpc

from shoal.manager import errors
from shoal.manager.agents import AgentPool
from shoal.manager.field_errors import InvalidField, show
from shoal.manager.state import ClusterState, UnknownRef
from shoal.manager.validation import IMAGE_RE, check_ref
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES, UNARY_TIMEOUT
from shoal.protos.shoal.v1 import agent_pb2, manager_pb2, types_pb2

log = logging.getLogger("shoal.manager.images")
PULL_TIMEOUT = 3600.0      # a big image over a slow link; the agent's engine reports progress meanwhile
LOAD_QUEUE_CHUNKS = 8      # per node: the slowest node sets the pace of the CLI's upload
EVENT_QUEUE = 256
MAX_LOAD_NODES = 256


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    name: str
    address: str
    ready: bool


def _one_line(exc: grpc.aio.AioRpcError) -> str:
    detail = (exc.details() or exc.code().name).strip()
    detail = detail.splitlines()[0] if detail else exc.code().name
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return f"agent unreachable ({detail})"
    return detail


def check_image(image: str) -> str:
    if not image:
        raise errors.InvalidArgument("IMAGE: must not be empty")
    if not IMAGE_RE.fullmatch(image):
        raise errors.InvalidArgument(f'IMAGE: "{show(image)}" is not an image reference')
    return image


class ImageOps:
    def __init__(self, state: ClusterState, pool: AgentPool):
        self.state = state
        self.pool = pool

    def targets(self, nodes: list[str] | tuple[str, ...], field: str = "--node") -> list[Target]:
        """The named nodes, or every node; each with whether it can be asked now."""
        facts = self.state.node_facts()
        if nodes:
            ids = []
            for ref in nodes:
                try:
                    check_ref(ref, field)
                    ids.append(self.state.resolve_node(ref))
                except InvalidField as exc:
                    raise errors.InvalidArgument(str(exc)) from exc
                except UnknownRef as exc:
                    raise errors.NotFound(f"{field}: {exc}") from exc
        else:
            ids = list(self.state.nodes)
        out = []
        for node_id in dict.fromkeys(ids):
            node = self.state.nodes[node_id][0]
            snap = facts.get(node_id)
            out.append(Target(node_id, node.name, node.address, bool(snap and snap.ready)))
        return sorted(out, key=lambda t: t.name)

    async def list(self, req: manager_pb2.ListImagesRequest) -> manager_pb2.ImageList:
        targets = self.targets([req.node] if req.node else [])

        async def one(t: Target) -> tuple[Target, list[types_pb2.ImageOnNode], str]:
            if not t.ready:
                return t, [], f"{t.name}: node is down"
            try:
                reply = await self.pool.stub(t.address).ListImages(
                    agent_pb2.AgentListImagesRequest(all=req.all), timeout=UNARY_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                return t, [], f"{t.name}: {_one_line(exc)}"
            for image in reply.images:
                image.node_id, image.node_name = t.id, t.name
            return t, list(reply.images), ""

        out = manager_pb2.ImageList()
        for _, images, problem in await asyncio.gather(*(one(t) for t in targets)):
            out.images.extend(images)
            if problem:
                out.unreachable.append(problem)
        return out

    async def pull(self, req: manager_pb2.PullImageRequest) -> AsyncIterator[types_pb2.ProgressEvent]:
        image = check_image(req.image)
        targets = self.targets([req.node] if req.node else [])
        ask = agent_pb2.AgentPullRequest(image=image, platform=req.platform, registry_auth=req.registry_auth)

        def call(t: Target):
            return self.pool.stub(t.address).PullImage(ask, timeout=PULL_TIMEOUT)
        async for event in self._fan_in(targets, call, explicit=bool(req.node)):
            yield event

    async def load(self, request_iterator) -> AsyncIterator[types_pb2.ProgressEvent]:
        """Reads the CLI's tar once; every target node gets each chunk through its own bounded
        queue. A node whose load failed is dropped (its error is its last event); the rest go on."""
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("msg") != "to":
            raise errors.InvalidArgument("to: the first message must name the target nodes")
        if len(first.to.nodes) > MAX_LOAD_NODES:
            raise errors.InvalidArgument(f"to.nodes: {len(first.to.nodes)} nodes; at most {MAX_LOAD_NODES}")
        targets = self.targets(list(first.to.nodes), field="to.nodes")
        queues: dict[str, asyncio.Queue] = {t.id: asyncio.Queue(LOAD_QUEUE_CHUNKS) for t in targets if t.ready}
        end = object()

        async def chunks(q: asyncio.Queue) -> AsyncIterator[types_pb2.ArchiveChunk]:
            while (item := await q.get()) is not end:
                yield item

        def call(t: Target):
            return self.pool.stub(t.address).LoadImage(chunks(queues[t.id]), timeout=PULL_TIMEOUT)

        async def feed() -> None:
            try:
                async for msg in request_iterator:
                    if msg.WhichOneof("msg") != "chunk":
                        continue
                    if len(msg.chunk.data) > ARCHIVE_CHUNK_BYTES:
                        raise errors.InvalidArgument(
                            f"chunk.data: {len(msg.chunk.data)} bytes; at most {ARCHIVE_CHUNK_BYTES}")
                    await asyncio.gather(*(q.put(msg.chunk) for q in list(queues.values())))
            finally:
                for q in list(queues.values()):
                    _close(q, end)

        def finished(t: Target) -> None:
            # A node that ended (failed or done) reads no more: stop feeding it, or it would stall the rest.
            q = queues.pop(t.id, None)
            if q is not None:
                _drain(q)

        feeding = asyncio.ensure_future(feed())
        try:
            async for event in self._fan_in(targets, call, explicit=bool(first.to.nodes), finished=finished):
                yield event
            await feeding
        finally:
            feeding.cancel()

    async def _fan_in(self, targets: list[Target], call, *, explicit: bool,
                      finished=lambda t: None) -> AsyncIterator[types_pb2.ProgressEvent]:
        """Runs one streaming call per ready node at once and merges their events, each tagged with
        its node; every node ends with one event with done set (error empty: it succeeded)."""
        events: asyncio.Queue = asyncio.Queue(EVENT_QUEUE)
        gone = object()

        async def one(t: Target) -> None:
            ended = False
            try:
                async for event in call(t):
                    event.node_id, event.node_name = t.id, t.name
                    ended = ended or event.done
                    await events.put(event)
                    if event.done:
                        break
                if not ended:
                    await events.put(types_pb2.ProgressEvent(node_id=t.id, node_name=t.name, done=True))
            except grpc.aio.AioRpcError as exc:
                await events.put(types_pb2.ProgressEvent(node_id=t.id, node_name=t.name, done=True,
                                                         error=_one_line(exc)))
            finally:
                finished(t)
                await events.put(gone)

        live = [t for t in targets if t.ready]
        for t in targets:
            if not t.ready:
                # A down node is named once; the CLI says it was skipped. An explicit --node that is down fails.
                yield types_pb2.ProgressEvent(node_id=t.id, node_name=t.name, done=True,
                                              error="node is down" if explicit else "",
                                              status="" if explicit else "skipped: node is down")
        tasks = [asyncio.ensure_future(one(t)) for t in live]
        try:
            remaining = len(tasks)
            while remaining:
                item = await events.get()
                if item is gone:
                    remaining -= 1
                    continue
                yield item
        finally:
            for task in tasks:
                task.cancel()

    async def remove(self, req: manager_pb2.RemoveImageRequest) -> manager_pb2.RemoveImageReply:
        image = check_image(req.image)
        targets = self.targets([req.node] if req.node else [])

        async def one(t: Target) -> tuple[list[str], list[str], bool]:
            if not t.ready:
                return [], [f"{t.name}: node is down"], False
            try:
                r = await self.pool.stub(t.address).RemoveImage(
                    agent_pb2.AgentRemoveImageRequest(image=image, force=req.force), timeout=UNARY_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return [], [f"{t.name}: {_one_line(exc)}"], True
                return [], [f"{t.name}: {_one_line(exc)}"], False
            return ([f"{t.name}: untagged {u}" for u in r.untagged] + [f"{t.name}: deleted {d}" for d in r.deleted],
                    [], False)

        out = manager_pb2.RemoveImageReply()
        results = await asyncio.gather(*(one(t) for t in targets))
        missing = [errs[0] for _, errs, absent in results if absent]
        if results and len(missing) == len(results):
            raise errors.NotFound(f"No such image: {image} on any node" if len(results) > 1 else missing[0])
        for removed, errs, absent in results:
            out.removed.extend(removed)
            if not (absent and not req.node):   # without --node: only the nodes that have it are asked to
                out.errors.extend(errs)
        return out

    async def prune(self, req: manager_pb2.PruneImagesRequest) -> manager_pb2.PruneImagesReply:
        targets = self.targets([req.node] if req.node else [])

        async def one(t: Target) -> tuple[list[str], int, str]:
            if not t.ready:
                return [], 0, f"{t.name}: node is down"
            try:
                r = await self.pool.stub(t.address).PruneImages(
                    agent_pb2.AgentPruneImagesRequest(all=req.all), timeout=PULL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                return [], 0, f"{t.name}: {_one_line(exc)}"
            return [f"{t.name}: deleted {d}" for d in r.deleted], r.reclaimed_bytes, ""

        out = manager_pb2.PruneImagesReply()
        for deleted, reclaimed, problem in await asyncio.gather(*(one(t) for t in targets)):
            out.deleted.extend(deleted)
            out.reclaimed_bytes += reclaimed
            if problem:
                out.errors.append(problem)
        return out


def _close(q: asyncio.Queue, end: object) -> None:
    # The queue may be full of chunks for a node that is slow: the end marker waits its turn.
    asyncio.ensure_future(q.put(end))


def _drain(q: asyncio.Queue) -> None:
    while not q.empty():
        q.get_nowait()
