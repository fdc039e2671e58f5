"""The agent's side of start ... cp that is more than one engine call: stats rounds and the
cp streams, between the gRPC messages and the runtime."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

from shoal.agent.runtime.base import NotFound, PathInfo, Runtime, RuntimeFailure
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES
from shoal.protos.shoal.v1 import agent_pb2, types_pb2

MAX_STATS_IDS = 1024
STATS_CONCURRENCY = 16   # engine calls at once; each takes about a second (two readings for CPU %)


async def stats_rounds(runtime: Runtime, ids: list[str], stream: bool) -> AsyncIterator[types_pb2.ContainerStats]:
    """One row per container per round; rounds follow each other while `stream` (docker's refresh),
    so a slow reader holds the next round back rather than queueing them."""
    limit = asyncio.Semaphore(STATS_CONCURRENCY)

    async def one(cid: str) -> types_pb2.ContainerStats | None:
        async with limit:
            try:
                observed, s = await runtime.stats(cid)
            except NotFound:
                return None if not ids else types_pb2.ContainerStats(id=cid, error="no such container on this node")
            except RuntimeFailure as exc:
                return types_pb2.ContainerStats(id=cid, error=str(exc).splitlines()[0] if str(exc) else "engine error")
        return types_pb2.ContainerStats(
            id=observed.id, name=observed.name, cpu_percent=s.cpu_percent, memory_bytes=s.memory_bytes,
            memory_limit_bytes=s.memory_limit_bytes, net_rx_bytes=s.net_rx_bytes, net_tx_bytes=s.net_tx_bytes,
            block_read_bytes=s.block_read_bytes, block_write_bytes=s.block_write_bytes, pids=s.pids,
            read_at=s.read_at)

    while True:
        wanted = ids or [o.id for o in await runtime.list() if o.state == "running"]
        rows = await asyncio.gather(*(one(cid) for cid in wanted))
        for row in rows:
            if row is not None:
                yield row
        if not stream:
            return
        if not wanted:
            await asyncio.sleep(1.0)   # nothing runs yet: docker's refresh period, not a busy loop


async def copy_out(runtime: Runtime, cid: str, path: str) -> AsyncIterator[agent_pb2.AgentCopyOut]:
    async for item in runtime.copy_from(cid, path):
        if isinstance(item, PathInfo):
            yield agent_pb2.AgentCopyOut(stat=types_pb2.PathStat(
                name=item.name, size=item.size, mode=item.mode, mtime=item.mtime, link_target=item.link_target))
            continue
        for i in range(0, len(item), ARCHIVE_CHUNK_BYTES):
            yield agent_pb2.AgentCopyOut(chunk=types_pb2.ArchiveChunk(data=item[i:i + ARCHIVE_CHUNK_BYTES]))


async def tar_chunks(requests: AsyncIterator[agent_pb2.AgentCopyIn]) -> AsyncIterator[bytes]:
    async for msg in requests:
        if msg.WhichOneof("msg") != "chunk":
            raise ValueError("CopyTo: only the first message names the target; the rest are chunks")
        if len(msg.chunk.data) > ARCHIVE_CHUNK_BYTES:
            raise ValueError(f"chunk: {len(msg.chunk.data)} bytes; at most {ARCHIVE_CHUNK_BYTES}")
        yield msg.chunk.data
