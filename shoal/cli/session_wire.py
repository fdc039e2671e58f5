"""What the `shoal` command and its CLI session say to each other over the session's Unix socket.

Request (client -> session), one message with the client's stdin, stdout and stderr attached
(SCM_RIGHTS): a 4-byte length, then NUL-separated fields — magic, the interpreter, the module
path, the working directory, the umask, the process context (namespaces, group ids), then counted
lists of argv and of environment entries.
POSIX forbids NUL inside argv and the environment, so no field needs escaping.

Replies (session -> client), 5 bytes each: STARTED + the command's pid, then EXITED + its exit
status (negative: killed by that signal); or REFUSED alone, and the client runs the command itself
(REFUSED's value: ENDING, the session's code changed and it ends, so the client starts a fresh one;
NOT_YOURS, the session serves other callers and stays).

Imported by the `shoal` command before anything else: it uses nothing but builtins.
"""
from __future__ import annotations

MAGIC = b"shoal-session/1"
MAX_REQUEST = 4 << 20   # argv and environment together; Linux's ARG_MAX is 2 MiB by default
STARTED, EXITED, REFUSED = b"P", b"X", b"R"
NOT_YOURS, ENDING = 0, 1
REPLY_SIZE = 5


class Request:
    __slots__ = ("executable", "path", "cwd", "umask", "context", "argv", "env")

    def __init__(self, executable: bytes, path: list[bytes], cwd: bytes, umask: int, context: bytes,
                 argv: list[bytes], env: dict[bytes, bytes]) -> None:
        self.executable, self.path, self.cwd, self.umask, self.context, self.argv, self.env = \
            executable, path, cwd, umask, context, argv, env


def encode_request(req: Request) -> bytes:
    fields = [MAGIC, req.executable, b"%d" % len(req.path), *req.path, req.cwd, b"%d" % req.umask, req.context,
              b"%d" % len(req.argv), *req.argv, *(k + b"=" + v for k, v in req.env.items())]
    body = b"\0".join(fields)
    if len(body) > MAX_REQUEST:
        raise ValueError(f"request: {len(body)} bytes; at most {MAX_REQUEST}")
    return len(body).to_bytes(4, "big") + body


def decode_request(body: bytes) -> Request:
    """The body after its length; ValueError names what is wrong."""
    fields = body.split(b"\0")
    if fields[0] != MAGIC:
        raise ValueError("request: not a shoal session request (magic)")
    at = 1

    def take(count: int = 1) -> list[bytes]:
        nonlocal at
        if count < 0 or at + count > len(fields):
            raise ValueError("request: truncated")
        got, at = fields[at:at + count], at + count
        return got

    def count(what: str) -> int:
        raw = take()[0]
        if not raw.isdigit():
            raise ValueError(f"request: {what} count is not a number")
        return int(raw)

    executable = take()[0]
    path = take(count("path"))
    cwd = take()[0]
    umask_raw = take()[0]
    if not umask_raw.isdigit() or int(umask_raw) > 0o777:
        raise ValueError("request: umask is not a number in 0..0777")
    context = take()[0]
    argv = take(count("argv"))
    env = {}
    for entry in fields[at:]:
        key, sep, value = entry.partition(b"=")
        if not sep or not key:
            raise ValueError("request: an environment entry has no NAME=")
        env[key] = value
    if not cwd.startswith(b"/"):
        raise ValueError("request: the working directory is not absolute")
    return Request(executable, path, cwd, int(umask_raw), context, argv, env)


def reply(kind: bytes, value: int = 0) -> bytes:
    return kind + value.to_bytes(4, "big", signed=True)


def parse_reply(raw: bytes) -> tuple[bytes, int]:
    return raw[:1], int.from_bytes(raw[1:5], "big", signed=True)
