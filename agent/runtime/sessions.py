"""Exec and attach sessions on the engine: a hijacked connection per session, its output read
only as fast as the caller takes it (back-pressure to the engine), its input written as it
comes, and its end in every case: the command's exit, the caller's going, the engine's.

A session whose caller goes away before its exec ended kills that exec's process: a debugging
shell left behind in a production container is a process nobody owns (docker leaves it)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import AsyncIterator

from shoal.agent.runtime.base import Conflict, RuntimeFailure, SessionInput, SessionOpen, SessionOutput
from shoal.agent.runtime.engine_http import EngineHttp, Hijacked, Pending
from shoal.agent.runtime.engine_wire import STDERR, FrameDecoder
from shoal.protos.limits import STREAM_CHUNK_BYTES

log = logging.getLogger("shoal.agent.sessions")
EXIT_SETTLE_S = 5.0     # the engine records an exec's exit code just after its stream ends


async def _resize(engine: EngineHttp, path: str, size: object) -> None:
    rows, cols = size  # type: ignore[misc]
    if rows and cols:
        try:
            await engine.call("POST", f"{path}/resize?h={int(rows)}&w={int(cols)}")
        except RuntimeFailure as exc:
            # A resize racing the end of the process is refused; that is not the session's failure.
            log.debug("resize: %s", exc)


async def _pump_in(engine: EngineHttp, conn: Hijacked, inputs: AsyncIterator[SessionInput], resize_path: str,
                   stdin: bool) -> None:
    closed = False
    async for kind, value in inputs:
        if kind == "resize":
            await _resize(engine, resize_path, value)
        elif kind == "stdin" and stdin and not closed:
            conn.writer.write(value)  # type: ignore[arg-type]
            await conn.writer.drain()
        elif kind == "close" and stdin and not closed:
            closed = True
            # docker's CloseWrite: the process reads the end of its input; its output still comes.
            if conn.writer.can_write_eof():
                conn.writer.write_eof()


async def _pump_out(conn: Hijacked, tty: bool) -> AsyncIterator[SessionOutput]:
    frames = None if tty else FrameDecoder()
    while data := await conn.reader.read(STREAM_CHUNK_BYTES):
        if frames is None:
            yield SessionOutput("stdout", data)
            continue
        for stream, piece in frames.feed(data):
            yield SessionOutput("stderr" if stream == STDERR else "stdout", piece)


async def _with_input(engine: EngineHttp, conn: Hijacked, inputs: AsyncIterator[SessionInput], resize_path: str,
                      o: SessionOpen) -> AsyncIterator[SessionOutput]:
    """The output of a session while its input is pumped beside it. Input ending is not the
    session's end (a piped stdin closes early); output ending is."""
    feeder = asyncio.create_task(_pump_in(engine, conn, inputs, resize_path, o.stdin))
    try:
        async for out in _pump_out(conn, o.tty):
            if feeder.done() and not feeder.cancelled() and feeder.exception() is not None:
                raise RuntimeFailure(f"session input: {feeder.exception()}")
            yield out
    finally:
        feeder.cancel()
        with contextlib.suppress(BaseException):
            await feeder


async def exec_session(engine: EngineHttp, engine_id: str, o: SessionOpen,
                       inputs: AsyncIterator[SessionInput]) -> AsyncIterator[SessionOutput]:
    created = await engine.call("POST", f"/containers/{engine_id}/exec", {
        "AttachStdin": o.stdin, "AttachStdout": True, "AttachStderr": True, "Tty": o.tty,
        "Cmd": list(o.command), "User": o.user, "WorkingDir": o.workdir, "Privileged": o.privileged,
        "Env": [f"{k}={v}" for k, v in o.env],
    })
    exec_id = created["Id"]
    conn = await engine.hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": o.tty})
    ended = False
    try:
        if o.tty:
            await _resize(engine, f"/exec/{exec_id}", (o.rows, o.cols))
        yield SessionOutput("ready", text=exec_id)
        async for out in _with_input(engine, conn, inputs, f"/exec/{exec_id}", o):
            yield out
        ended = True
        yield await _exec_exit(engine, exec_id)
    finally:
        conn.close()
        if not ended:
            await asyncio.shield(_kill_exec(engine, exec_id, engine_id))


async def _exec_exit(engine: EngineHttp, exec_id: str) -> SessionOutput:
    deadline = asyncio.get_running_loop().time() + EXIT_SETTLE_S
    while True:
        doc = await engine.call("GET", f"/exec/{exec_id}/json")
        if not doc.get("Running") and doc.get("ExitCode") is not None:
            return SessionOutput("exit", exit_code=int(doc["ExitCode"]))
        if asyncio.get_running_loop().time() > deadline:
            return SessionOutput("exit", exit_code=126, text="the exec's output ended but it still runs")
        await asyncio.sleep(0.05)   # the engine's exit bookkeeping, milliseconds behind the stream


async def _kill_exec(engine: EngineHttp, exec_id: str, engine_id: str) -> None:
    """The caller went away while the exec runs: end its process. The pid is the engine's (the
    host's pid namespace); it is killed only if it is still in this container's cgroup, so a pid
    reused by another process, or an agent that does not share the engine's pid namespace,
    kills nothing."""
    try:
        doc = await engine.call("GET", f"/exec/{exec_id}/json", timeout=5)
    except (RuntimeFailure, asyncio.TimeoutError) as exc:
        log.warning("exec %s: could not be inspected after its caller left: %s", exec_id[:12], exc)
        return
    pid = int(doc.get("Pid") or 0)
    if not doc.get("Running") or pid <= 1:
        return
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            mine = engine_id in f.read()
    except OSError:
        mine = False
    if not mine:
        log.warning("exec %s: pid %d is not in container %s's cgroup here; left running", exec_id[:12], pid,
                    engine_id[:12])
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        log.info("exec %s: its caller left; killed pid %d", exec_id[:12], pid)


async def attach_session(engine: EngineHttp, engine_id: str, o: SessionOpen,
                         inputs: AsyncIterator[SessionInput]) -> AsyncIterator[SessionOutput]:
    path = f"/containers/{engine_id}"
    if not o.start:
        doc = await engine.call("GET", f"{path}/json")
        if not doc.get("State", {}).get("Running"):
            raise Conflict("the container is not running: start it first (shoal start -a)")
    query = f"stream=1&stdout=1&stderr=1&stdin={int(o.stdin)}&logs={int(o.logs)}"
    conn = await engine.hijack(f"{path}/attach?{query}")
    waiter: Pending | None = None
    try:
        # Registered before the start, so an exit at once is not missed (nor a container that
        # removes itself): the engine answers this wait's head once it is listening.
        waiter = await engine.begin("POST", f"{path}/wait?condition=next-exit")
        if o.start:
            await engine.call("POST", f"{path}/start")
        if o.tty:
            await _resize(engine, path, (o.rows, o.cols))
        yield SessionOutput("ready")
        async for out in _with_input(engine, conn, inputs, path, o):
            yield out
        yield await _attach_exit(engine, path, waiter)
    finally:
        conn.close()
        if waiter is not None:
            waiter.close()


async def _attach_exit(engine: EngineHttp, path: str, waiter: Pending) -> SessionOutput:
    try:
        doc = await asyncio.wait_for(waiter.result(), EXIT_SETTLE_S)
    except asyncio.TimeoutError:
        # The stream ended and the container did not: the caller detached (ctrl-p ctrl-q).
        state = (await engine.call("GET", f"{path}/json")).get("State", {})
        if state.get("Running"):
            return SessionOutput("exit", detached=True)
        return SessionOutput("exit", exit_code=int(state.get("ExitCode", 0)))
    error = (doc.get("Error") or {}).get("Message", "")
    return SessionOutput("exit", exit_code=int(doc.get("StatusCode", 0)), text=error)
