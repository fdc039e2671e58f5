"""What a StreamOpen may hold: checked by the manager at its boundary and again by the agent
(which takes nothing on trust from its callers)."""
from __future__ import annotations

from shoal.protos.shoal.v1 import types_pb2

MAX_COMMAND_ARGS = 4096
MAX_COMMAND_BYTES = 128 * 1024
MAX_ENV = 1024
MAX_TERMINAL = 10_000     # rows or columns
MAX_FIELD = 1024          # user, workdir


def check_size(size: types_pb2.TerminalSize, field: str = "size") -> tuple[int, int]:
    if size.rows > MAX_TERMINAL or size.cols > MAX_TERMINAL:
        raise ValueError(f"{field}: {size.rows}x{size.cols} is not a terminal size")
    return size.rows, size.cols


def check_open(o: types_pb2.StreamOpen) -> None:
    """Raises ValueError naming the field."""
    if len(o.command) > MAX_COMMAND_ARGS or sum(len(a) for a in o.command) > MAX_COMMAND_BYTES:
        raise ValueError(f"command: {len(o.command)} arguments; at most {MAX_COMMAND_ARGS} and 128 KiB in all")
    if o.command and not o.command[0]:
        raise ValueError("command: the program name is empty")
    if any("\0" in a for a in o.command):
        raise ValueError("command: an argument holds a NUL byte")
    if len(o.env) > MAX_ENV or any(not k or "=" in k or "\0" in k + v for k, v in o.env.items()):
        raise ValueError("env: names must be non-empty, without '=' or NUL bytes; at most 1024 of them")
    for field, value in (("user", o.user), ("workdir", o.workdir)):
        if len(value) > MAX_FIELD or "\0" in value or "\n" in value:
            raise ValueError(f"{field}: not a valid value")
    if o.workdir and not o.workdir.startswith("/"):
        raise ValueError(f'workdir: "{o.workdir[:80]}" is not an absolute path')
    if o.command and (o.start or o.logs):
        raise ValueError("start: an exec session runs a command; start and logs are for attach")
    check_size(o.size)
