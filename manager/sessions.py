"""Interactive sessions (exec, attach, run -it) relayed from the CLI to the container's agent.

Any manager relays (no leader needed: the agent does the work). Each direction moves one
message at a time, so gRPC's flow control carries a slow reader's back-pressure end to end;
when either side ends or fails, the other call is cancelled at once."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

import grpc

from shoal.manager import errors
from shoal.manager.containers import ContainerOps, agent_error
from shoal.protos.session_rules import check_open
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.manager.sessions")


async def relay(containers: ContainerOps,
                incoming: AsyncIterator[types_pb2.StreamIn]) -> AsyncIterator[types_pb2.StreamOut]:
    first = await anext(aiter(incoming), None)
    if first is None or first.WhichOneof("msg") != "open":
        raise errors.InvalidArgument("open: the first message of a session must open it")
    try:
        check_open(first.open)
    except ValueError as exc:
        raise errors.InvalidArgument(str(exc)) from None
    c = containers.resolve(first.open.ref)
    verb = "exec" if first.open.command else "attach"
    if first.open.command and c.status.state != "running":
        raise errors.FailedPrecondition(f"container {c.name} is {c.status.state or 'not running'}: exec needs it running")
    if first.open.start and c.service_id:
        raise errors.FailedPrecondition(f"container {c.name} is a task of service {c.service_name}: "
                                        "its service starts it")
    opened = types_pb2.StreamIn()
    opened.CopyFrom(first)
    opened.open.ref = c.id
    call = containers.pool.stub(containers.node_address(c)).Stream(timeout=None)

    async def forward() -> None:
        await call.write(opened)
        async for m in incoming:
            if m.WhichOneof("msg") == "open":
                raise errors.InvalidArgument("open: a session is opened once")
            await call.write(m)
        await call.done_writing()

    feeder = asyncio.create_task(forward())

    def refused_input() -> errors.ApiError | None:
        """The caller's input was refused (a second opening): that, not the agent's end, is the error."""
        if feeder.done() and not feeder.cancelled() and isinstance(feeder.exception(), errors.ApiError):
            return feeder.exception()  # type: ignore[return-value]
        return None

    log.info("%s session on %s (%s, node %s)", verb, c.name, "tty" if first.open.tty else "no tty", c.node_name)
    try:
        while True:
            out = await call.read()
            if out is grpc.aio.EOF:
                break
            yield out
            if (refused := refused_input()) is not None:
                raise refused
    except grpc.aio.AioRpcError as exc:
        if (refused := refused_input()) is not None:
            raise refused from None
        raise agent_error(c.node_name, exc) from exc
    finally:
        feeder.cancel()
        call.cancel()
        with contextlib.suppress(BaseException):
            await feeder
