"""The agent's gRPC servicer: a thin layer from shoal.v1.Agent to the runtime."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

import grpc

from agent.convert import container_to_proto, spec_from_proto, status_to_proto
from agent.runtime.base import Conflict, NotFound, Runtime, RuntimeFailure
from protos.limits import LOG_CHUNK_BYTES, STOP_GRACE_DEFAULT
from protos.shoal.v1 import agent_pb2, agent_pb2_grpc, types_pb2

log = logging.getLogger("shoal.agent.api")


async def _abort(context: grpc.aio.ServicerContext, exc: RuntimeFailure):
    code = grpc.StatusCode.INTERNAL
    if isinstance(exc, NotFound):
        code = grpc.StatusCode.NOT_FOUND
    elif isinstance(exc, Conflict):
        code = grpc.StatusCode.ALREADY_EXISTS
    await context.abort(code, str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)


def _require_id(value: str) -> str:
    # Ids are made by the manager; anything else is a caller bug, not a name to look up.
    if not value or len(value) > 64 or not value.isalnum():
        raise ValueError(f'id: "{value[:80]}" is not a container id')
    return value


def _require_name(value: str) -> str:
    if not value or len(value) > 63 or not (value[0].isalnum() and all(c.isalnum() or c in "_.-" for c in value)):
        raise ValueError(f'service: "{value[:80]}" is not a valid name')
    return value


class AgentService(agent_pb2_grpc.AgentServicer):
    def __init__(
        self,
        runtime: Runtime,
        describe: Callable[[], Awaitable[types_pb2.NodeDescription]],
        on_change: Callable[[], None],
    ):
        self.runtime = runtime
        self.describe = describe
        self.on_change = on_change

    async def CreateContainer(self, request, context):
        try:
            _require_id(request.id)
            if not request.spec.image:
                raise ValueError("spec.image: must not be empty")
            if request.service:
                _require_name(request.service)
            observed = await self.runtime.create_and_start(request.id, request.name, spec_from_proto(request.spec),
                                                           request.service)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
        self.on_change()
        return status_to_proto(observed)

    async def StopContainer(self, request, context):
        try:
            timeout = request.timeout_seconds if request.timeout_seconds > 0 else STOP_GRACE_DEFAULT
            observed = await self.runtime.stop(_require_id(request.id), timeout)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
        self.on_change()
        return status_to_proto(observed)

    async def RemoveContainer(self, request, context):
        try:
            removed = await self.runtime.remove(_require_id(request.id), request.force)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
        self.on_change()
        return agent_pb2.RemoveContainerReply(removed=removed)

    async def ListContainers(self, request, context):
        try:
            observed = await self.runtime.list()
        except RuntimeFailure as exc:
            await _abort(context, exc)
        return agent_pb2.AgentContainerList(containers=[container_to_proto(o) for o in observed])

    async def InspectContainer(self, request, context):
        try:
            observed, doc = await self.runtime.inspect(_require_id(request.id))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
        return agent_pb2.AgentInspectReply(container=container_to_proto(observed), engine_json=doc)

    async def Logs(self, request, context):
        try:
            tail = request.tail if request.tail >= 0 else -1
            async for stream, data in self.runtime.logs(_require_id(request.id), request.follow, tail):
                # Chunks stay well under the message size limit.
                for i in range(0, len(data), LOG_CHUNK_BYTES):
                    yield types_pb2.LogChunk(data=data[i:i + LOG_CHUNK_BYTES], stream=stream)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)

    async def Wait(self, request, context):
        try:
            observed = await self.runtime.wait(_require_id(request.id))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
        return status_to_proto(observed)

    async def DescribeNode(self, request, context):
        try:
            return await self.describe()
        except RuntimeFailure as exc:
            await _abort(context, exc)
