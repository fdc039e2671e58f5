"""The CLI's end of an interactive session (exec, attach, run -i/-t): the caller's stdin and
terminal to StreamIn messages, StreamOut to its stdout and stderr.

With a tty the caller's terminal is put in raw mode, as docker's CLI does, so ctrl-C, ctrl-D and
every key go to the container's terminal, and a window resize (SIGWINCH) is sent on. Without
one, the end of stdin is sent as the end of the container's input (`echo hi | shoal exec -i c
cat`)."""
from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import termios
import threading
import tty as ttymod
from typing import Iterator

import grpc

from shoal.protos.limits import STREAM_CHUNK_BYTES
from shoal.protos.shoal.v1 import types_pb2

_END = object()


class NotATerminal(Exception):
    """-i -t with a stdin that is no terminal (docker: "the input device is not a TTY")."""


def terminal_size(fd: int) -> types_pb2.TerminalSize:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return types_pb2.TerminalSize()
    return types_pb2.TerminalSize(rows=size.lines, cols=size.columns)


def check_terminal(stdin: bool, tty: bool) -> None:
    if stdin and tty and not os.isatty(0):
        raise NotATerminal("the input device is not a TTY; drop -t to pipe into the container")


@contextlib.contextmanager
def _raw(fd: int, on: bool):
    if not on or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_stdin(out: "queue.Queue[object]", stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            data = os.read(0, STREAM_CHUNK_BYTES)
        except OSError:
            data = b""
        if not data:
            out.put(types_pb2.StreamIn(stdin_close=True))
            return
        out.put(types_pb2.StreamIn(stdin=data))


def _requests(first: types_pb2.StreamIn, pending: "queue.Queue[object]") -> Iterator[types_pb2.StreamIn]:
    yield first
    while (item := pending.get()) is not _END:
        yield item  # type: ignore[misc]


def run_session(stub, open_: types_pb2.StreamOpen) -> types_pb2.StreamExit:
    """Runs the session to its end: the StreamExit (its exit code, or why it failed). gRPC
    errors (the container unknown, its node down) are raised to the caller as they come."""
    if open_.tty:
        open_.size.CopyFrom(terminal_size(1 if os.isatty(1) else 0))
    pending: "queue.Queue[object]" = queue.Queue(maxsize=64)   # bounded: a fast stdin waits for the network
    stop = threading.Event()
    previous_winch = None
    if open_.tty and threading.current_thread() is threading.main_thread():
        def on_winch(signum, frame):
            with contextlib.suppress(queue.Full):
                pending.put_nowait(types_pb2.StreamIn(resize=terminal_size(1 if os.isatty(1) else 0)))
        previous_winch = signal.signal(signal.SIGWINCH, on_winch)
    call = stub.Stream(_requests(types_pb2.StreamIn(open=open_), pending), timeout=None)
    if open_.stdin:
        threading.Thread(target=_read_stdin, args=(pending, stop), name="stdin", daemon=True).start()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    result = [types_pb2.StreamExit(exit_code=1, error="the session ended without an exit status")]
    failure: list[BaseException] = []
    done = threading.Event()

    def read_output() -> None:
        try:
            for msg in call:
                kind = msg.WhichOneof("msg")
                if kind == "stdout":
                    out.write(msg.stdout)
                    out.flush()
                elif kind == "stderr":
                    err.write(msg.stderr)
                    err.flush()
                elif kind == "exit":
                    result[0] = msg.exit
        except BaseException as exc:   # re-raised in the main thread
            failure.append(exc)
        finally:
            done.set()

    # The output is read in a thread so the main thread stays free to run signal handlers at once:
    # a SIGWINCH must reach the container before the keys typed after it (ctrl-C too, without a tty).
    try:
        with _raw(0, open_.tty and open_.stdin):
            threading.Thread(target=read_output, name="output", daemon=True).start()
            while not done.wait(0.25):
                pass
        if failure and not (isinstance(failure[0], grpc.RpcError) and failure[0].code() == grpc.StatusCode.CANCELLED):
            raise failure[0]
    finally:
        stop.set()
        with contextlib.suppress(queue.Full):
            pending.put_nowait(_END)
        call.cancel()
        if previous_winch is not None:
            signal.signal(signal.SIGWINCH, previous_winch)
    return result[0]
