"""The agent's gRPC servicer: a thin layer from shoal.v1.Agent to the runtime."""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from typing import Awaitable, Callable

import grpc

from shoal.agent import verbs
from shoal.agent import image_rpc
from shoal.agent.convert import container_to_proto, redact_engine_json, spec_from_proto, status_to_proto
from shoal.agent.runtime.base import Attachment, Conflict, NotFound, Observed, Runtime, RuntimeFailure
from shoal.agent.session_messages import session_inputs, session_open, stream_out
from shoal.protos.spec_rules import VOLUME_NAME_RE
from shoal.protos.limits import LOG_CHUNK_BYTES, STOP_GRACE_DEFAULT
from shoal.protos.shoal.v1 import agent_pb2, agent_pb2_grpc, types_pb2

log = logging.getLogger("shoal.agent.api")
MAX_TAIL = 100_000   # lines, as the manager's validation; -1: all
MAX_BATCH = 256      # containers per CreateContainers call
BATCH_CONCURRENCY = 8   # engine calls at once within one batch


def _show(value: str, limit: int = 80) -> str:
    """A request value quoted in a message: shortened, control characters escaped (one line)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value[:limit])


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
        raise ValueError(f'id: "{_show(value)}" is not a container id')
    return value


def _require_name(value: str) -> str:
    if not value or len(value) > 63 or not (value[0].isalnum() and all(c.isalnum() or c in "_.-" for c in value)):
        raise ValueError(f'service: "{_show(value)}" is not a valid name')
    return value


def _require_volume(value: str) -> str:
    if not VOLUME_NAME_RE.fullmatch(value):
        raise ValueError(f'name: "{_show(value)}" is not a volume name')
    return value


def _require_attachment(a: Attachment) -> None:
    try:
        net = ipaddress.ip_network(a.subnet)
        if ipaddress.ip_address(a.ip) not in net or not 1 <= a.vni < 1 << 24:
            raise ValueError
    except ValueError:
        raise ValueError(f"networks: {_show(a.network, 40)} {_show(a.ip, 40)} in {_show(a.subnet, 40)} "
                         f"(vni {a.vni}) is not valid") from None


def _unary(method):
    """Bad input -> INVALID_ARGUMENT, engine failures -> their status code; one line each."""
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
    return wrapper


class AgentService(agent_pb2_grpc.AgentServicer):
    def __init__(
        self,
        runtime: Runtime,
        describe: Callable[[], Awaitable[types_pb2.NodeDescription]],
        on_change: Callable[[], None],
        plumb: Callable[[Observed], Awaitable[None]] | None = None,
    ):
        self.plumb = plumb
        self.runtime = runtime
        self.describe = describe
        self.on_change = on_change

    @_unary
    async def CreateContainer(self, request, context):
        observed = await self._create(request)
        self.on_change()
        return status_to_proto(observed)

    async def CreateContainers(self, request, context):
        if len(request.containers) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"containers: {len(request.containers)} in one call; at most {MAX_BATCH}")
        if len({c.id for c in request.containers}) != len(request.containers):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "containers: an id is given twice")
        limit = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(req) -> agent_pb2.CreateResult:
            async with limit:
                try:
                    return agent_pb2.CreateResult(id=req.id, status=status_to_proto(await self._create(req)))
                except ValueError as exc:
                    return agent_pb2.CreateResult(id=req.id, error=str(exc), invalid=True)
                except RuntimeFailure as exc:
                    return agent_pb2.CreateResult(id=req.id, error=str(exc).splitlines()[0] if str(exc) else
                                                  exc.__class__.__name__)
        results = await asyncio.gather(*(one(req) for req in request.containers))
        self.on_change()
        return agent_pb2.CreateContainersReply(results=results)

    async def _create(self, request) -> Observed:
        _require_id(request.id)
        if not request.spec.image:
            raise ValueError("spec.image: must not be empty")
        if request.service:
            _require_name(request.service)
        networks = tuple(Attachment(a.network, a.vni, a.subnet, a.ip) for a in request.networks)
        for a in networks:
            _require_attachment(a)
        observed = await self.runtime.create_and_start(request.id, request.name, spec_from_proto(request.spec),
                                                       request.service, networks, start=not request.no_start,
                                                       auth=image_rpc.credentials(request.registry_auth))
        if networks and self.plumb is not None:
            try:
                await self.plumb(observed)
            except Exception as exc:
                # A container cut off from its networks is worse than none: take it back.
                await self.runtime.remove(request.id, True)
                raise RuntimeFailure(f"overlay interfaces: {exc}") from exc
        return observed

    @_unary
    async def StopContainer(self, request, context):
        timeout = request.timeout_seconds if request.timeout_seconds > 0 else STOP_GRACE_DEFAULT
        observed = await self.runtime.stop(_require_id(request.id), timeout)
        self.on_change()
        return status_to_proto(observed)

    @_unary
    async def RemoveContainer(self, request, context):
        removed = await self.runtime.remove(_require_id(request.id), request.force)
        self.on_change()
        return agent_pb2.RemoveContainerReply(removed=removed)

    @_unary
    async def ListContainers(self, request, context):
        observed = await self.runtime.list()
        return agent_pb2.AgentContainerList(containers=[container_to_proto(o) for o in observed])

    @_unary
    async def InspectContainer(self, request, context):
        observed, doc = await self.runtime.inspect(_require_id(request.id))
        # Config.Env holds the secret values too: never let them out.
        return agent_pb2.AgentInspectReply(container=container_to_proto(observed), engine_json=redact_engine_json(doc))

    async def Logs(self, request, context):
        try:
            if request.tail > MAX_TAIL:
                raise ValueError(f"tail: {request.tail} is more than {MAX_TAIL} lines")
            tail = request.tail if request.tail >= 0 else -1
            async for stream, data in self.runtime.logs(_require_id(request.id), request.follow, tail):
                # Chunks stay well under the message size limit.
                for i in range(0, len(data), LOG_CHUNK_BYTES):
                    yield types_pb2.LogChunk(data=data[i:i + LOG_CHUNK_BYTES], stream=stream)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)

    @_unary
    async def Wait(self, request, context):
        return status_to_proto(await self.runtime.wait(_require_id(request.id)))

    @_unary
    async def RemoveVolume(self, request, context):
        return agent_pb2.RemoveVolumeReply(removed=await self.runtime.remove_volume(_require_volume(request.name)))

    async def Stream(self, request_iterator, context):
        """exec and attach: the first message opens, the rest is the caller's input."""
        try:
            first = await anext(aiter(request_iterator), None)
            open_ = session_open(first)
            _require_id(open_.shoal_id)
            async for out in self.runtime.session(open_, session_inputs(request_iterator)):
                yield stream_out(out)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)
        finally:
            self.on_change()   # an attach may have started it, an exec changed nothing: a report is cheap

    @_unary
    async def DescribeNode(self, request, context):
        return await self.describe()

    # ---- the other container verbs: start ... cp ----
    async def _changed(self, observed: Observed) -> types_pb2.ContainerStatus:
        self.on_change()
        return status_to_proto(observed)

    @_unary
    async def StartContainer(self, request, context):
        return await self._changed(await self.runtime.start(_require_id(request.id)))

    @_unary
    async def RestartContainer(self, request, context):
        timeout = request.timeout_seconds if request.timeout_seconds > 0 else STOP_GRACE_DEFAULT
        return await self._changed(await self.runtime.restart(_require_id(request.id), timeout))

    @_unary
    async def KillContainer(self, request, context):
        return await self._changed(await self.runtime.kill(_require_id(request.id), _require_signal(request.signal)))

    @_unary
    async def PauseContainer(self, request, context):
        return await self._changed(await self.runtime.pause(_require_id(request.id)))

    @_unary
    async def UnpauseContainer(self, request, context):
        return await self._changed(await self.runtime.unpause(_require_id(request.id)))

    @_unary
    async def Top(self, request, context):
        if len(request.ps_args) > 256 or not request.ps_args.isprintable():
            raise ValueError("ps_args: at most 256 printable characters")
        titles, processes = await self.runtime.top(_require_id(request.id), request.ps_args)
        return types_pb2.TopReply(titles=titles, processes=[types_pb2.TopProcess(fields=p) for p in processes])

    async def Stats(self, request, context):
        try:
            if len(request.ids) > verbs.MAX_STATS_IDS:
                raise ValueError(f"ids: {len(request.ids)} in one call; at most {verbs.MAX_STATS_IDS}")
            async for row in verbs.stats_rounds(self.runtime, [_require_id(i) for i in request.ids], request.stream):
                yield row
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)

    async def CopyFrom(self, request, context):
        try:
            async for msg in verbs.copy_out(self.runtime, _require_id(request.id), _require_path(request.path)):
                yield msg
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RuntimeFailure as exc:
            await _abort(context, exc)

    @_unary
    async def CopyTo(self, request_iterator, context):
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("msg") != "to":
            raise ValueError("to: the first message must name the target")
        await self.runtime.copy_to(_require_id(first.to.id), _require_path(first.to.path),
                                   verbs.tar_chunks(request_iterator), first.to.copy_uid_gid)
        return agent_pb2.AgentCopyToReply()


def _require_signal(value: str) -> str:
    # As docker kill -s: a name (KILL, SIGUSR1) or a number; the engine knows which exist.
    if len(value) > 16 or not all(c.isalnum() or c == "+" for c in value):
        raise ValueError(f'signal: "{_show(value)}" is not a signal name or number')
    return value


def _require_path(value: str) -> str:
    if not value or len(value) > 4096 or "\x00" in value:
        raise ValueError("path: must be 1 to 4096 characters, without NUL")
    return value
    # ---- images (the work is in runtime/images.py) -------------------------------------------
    @_unary
    async def ListImages(self, request, context):
        return agent_pb2.AgentImageList(images=[image_rpc.image_to_proto(i)
                                                for i in await self.runtime.images.list(request.all)])

    async def PullImage(self, request, context):
        async for event in image_rpc.guarded(context, image_rpc.pull(self.runtime.images, request)):
            yield event

    async def LoadImage(self, request_iterator, context):
        async for event in image_rpc.guarded(context, image_rpc.load(self.runtime.images, request_iterator)):
            yield event

    @_unary
    async def RemoveImage(self, request, context):
        untagged, deleted = await self.runtime.images.remove(image_rpc.require_image(request.image), request.force)
        return agent_pb2.AgentRemoveImageReply(untagged=untagged, deleted=deleted)

    @_unary
    async def PruneImages(self, request, context):
        deleted, reclaimed = await self.runtime.images.prune(request.all)
        return agent_pb2.AgentPruneImagesReply(deleted=deleted, reclaimed_bytes=reclaimed)
