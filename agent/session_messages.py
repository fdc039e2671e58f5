"""shoal.v1.StreamIn/StreamOut to the runtime's session types and back, with the checks an
agent makes of what the manager relays (bounded sizes, one open, the first)."""
from __future__ import annotations

from typing import AsyncIterator

from shoal.agent.runtime.base import SessionInput, SessionOpen, SessionOutput
from shoal.protos.limits import STREAM_CHUNK_BYTES
from shoal.protos.session_rules import check_open, check_size
from shoal.protos.shoal.v1 import types_pb2


def session_open(first: types_pb2.StreamIn | None) -> SessionOpen:
    if first is None or first.WhichOneof("msg") != "open":
        raise ValueError("open: the first message of a session must open it")
    o = first.open
    check_open(o)
    return SessionOpen(
        shoal_id=o.ref, stdin=o.stdin, tty=o.tty, command=tuple(o.command), user=o.user, workdir=o.workdir,
        env=tuple(sorted(o.env.items())), privileged=o.privileged, start=o.start, rows=o.size.rows,
        cols=o.size.cols, logs=o.logs,
    )


async def session_inputs(messages: AsyncIterator[types_pb2.StreamIn]) -> AsyncIterator[SessionInput]:
    async for m in messages:
        kind = m.WhichOneof("msg")
        if kind == "stdin":
            if len(m.stdin) > 4 * STREAM_CHUNK_BYTES:
                raise ValueError(f"stdin: {len(m.stdin)} bytes in one message; at most {4 * STREAM_CHUNK_BYTES}")
            yield "stdin", m.stdin
        elif kind == "stdin_close":
            yield "close", b""
        elif kind == "resize":
            yield "resize", check_size(m.resize, "resize")
        elif kind == "open":
            raise ValueError("open: a session is opened once")


def stream_out(out: SessionOutput) -> types_pb2.StreamOut:
    if out.kind == "stdout":
        return types_pb2.StreamOut(stdout=out.data)
    if out.kind == "stderr":
        return types_pb2.StreamOut(stderr=out.data)
    if out.kind == "ready":
        return types_pb2.StreamOut(ready=types_pb2.StreamReady(exec_id=out.text))
    return types_pb2.StreamOut(exit=types_pb2.StreamExit(exit_code=out.exit_code, error=out.text,
                                                         detached=out.detached))
