"""The pure parts of exec and attach: the engine's HTTP bytes, its multiplexed frames, and the
checks of a session's opening."""
from __future__ import annotations

import pytest

from shoal.agent.runtime.engine_wire import (
    FrameDecoder, WireError, dechunk, error_message, parse_head, request_bytes,
)
from shoal.protos.session_rules import check_open
from shoal.protos.shoal.v1 import types_pb2


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_requests_ask_for_the_hijack_or_a_closed_connection():
    hijack = request_bytes("POST", "/v1.41/exec/abc/start", {"Detach": False, "Tty": True}, upgrade=True)
    head, _, body = hijack.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /v1.41/exec/abc/start HTTP/1.1"
    assert b"Upgrade: tcp" in head and b"Connection: Upgrade" in head
    assert body == b'{"Detach": false, "Tty": true}' and f"Content-Length: {len(body)}".encode() in head
    plain = request_bytes("POST", "/containers/x/resize?h=40&w=120")
    assert b"Connection: close" in plain and b"Content-Length: 0" in plain and b"?h=40&w=120 " in plain


def test_response_heads_and_chunked_bodies():
    head = parse_head(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                      b"Connection: Upgrade\r\n\r\n")
    assert head.status == 101 and head.headers["connection"] == "Upgrade" and head.length is None
    head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert head.chunked
    assert dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n") == b"hello world"
    with pytest.raises(WireError, match="cut short"):
        dechunk(b"a\r\nshort")
    with pytest.raises(WireError, match="not an HTTP response"):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert error_message(404, b'{"message":"No such exec instance: x"}') == "No such exec instance: x"
    assert error_message(500, b"") == "engine answered HTTP 500"


def test_frames_split_anywhere_come_out_whole_and_in_order():
    stream = frame(1, b"out-1\n") + frame(2, b"err-1\n") + frame(1, b"") + frame(1, b"x" * 70_000)
    for step in (1, 3, 7, 8, 9, 4096, len(stream)):
        d = FrameDecoder()
        pieces = [p for i in range(0, len(stream), step) for p in d.feed(stream[i:i + step])]
        joined: dict[int, bytes] = {1: b"", 2: b""}
        for s, data in pieces:
            joined[s] += data
        assert joined == {1: b"out-1\n" + b"x" * 70_000, 2: b"err-1\n"}, step
        assert not d.pending
        # Bytes are passed on as they come (a terminal must not wait for a frame's end), in order.
        assert pieces[0][0] == 1 and b"out-1\n".startswith(pieces[0][1])
    with pytest.raises(WireError, match="bad stream frame"):
        FrameDecoder().feed(bytes([9, 0, 0, 0, 0, 0, 0, 1]) + b"x")
    d = FrameDecoder()
    d.feed(frame(1, b"abc")[:-1])
    assert d.pending


@pytest.mark.parametrize("fields, message", [
    ({"command": [""]}, "command: the program name is empty"),
    ({"command": ["sh", "a\0b"]}, "command: an argument holds a NUL byte"),
    ({"command": ["x"] * 5000}, "command: 5000 arguments"),
    ({"command": ["sh"], "env": {"A=B": "1"}}, "env: names must be non-empty"),
    ({"command": ["sh"], "workdir": "tmp"}, 'workdir: "tmp" is not an absolute path'),
    ({"command": ["sh"], "user": "a\nb"}, "user: not a valid value"),
    ({"command": ["sh"], "start": True}, "start: an exec session runs a command"),
    ({"size": types_pb2.TerminalSize(rows=99999, cols=80)}, "size: 99999x80 is not a terminal size"),
])
def test_a_bad_opening_is_refused_naming_its_field(fields, message):
    with pytest.raises(ValueError) as exc:
        check_open(types_pb2.StreamOpen(ref="c", **fields))
    assert str(exc.value).startswith(message)


def test_good_openings_pass():
    check_open(types_pb2.StreamOpen(ref="c", command=["sh", "-c", "id"], user="nobody", workdir="/tmp",
                                    env={"A": "1"}, tty=True, stdin=True,
                                    size=types_pb2.TerminalSize(rows=40, cols=120)))
    check_open(types_pb2.StreamOpen(ref="c", start=True, stdin=True, logs=True))


def test_interactive_runs_ask_the_engine_for_stdin_and_a_terminal():
    from shoal.agent.convert import spec_from_proto
    from shoal.agent.runtime.translate import create_kwargs
    spec = types_pb2.ContainerSpec(image="busybox", tty=True, open_stdin=True, stdin_once=True)
    kwargs = create_kwargs("id1", "c", "n1", spec_from_proto(spec))
    assert (kwargs["tty"], kwargs["stdin_open"], kwargs["detach"]) == (True, True, False)
    detached = create_kwargs("id1", "c", "n1", spec_from_proto(types_pb2.ContainerSpec(image="busybox", open_stdin=True)))
    assert detached["detach"] is True and detached["stdin_open"] is True and "tty" not in detached
    from docker.models.containers import _create_container_args
    args = _create_container_args(dict(kwargs, version="1.41"))
    from docker.types import ContainerConfig
    config = ContainerConfig(version="1.41", **{"command": None, **{k: v for k, v in args.items()
                                                                      if k not in ("host_config", "name", "platform")}})
    assert (config["Tty"], config["OpenStdin"], config["StdinOnce"], config["AttachStdin"]) == (True, True, True, True)
