"""The bytes of the Docker Engine API's HTTP/1.1, for the calls the SDK cannot make well: the
hijacked connections of exec and attach, whose stream follows the response head on the same
socket (the SDK's buffered reader can swallow its first bytes), and waits that must be
cancellable. Pure: requests to bytes, bytes to responses and frames."""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

HEAD_LIMIT = 64 * 1024          # an engine response head is a few hundred bytes
STDOUT, STDERR, SYSTEMERR = 1, 2, 3
FRAME_HEADER = 8


class WireError(Exception):
    """The engine's answer is not HTTP as expected."""


def request_bytes(method: str, path: str, body: object | None = None, *, upgrade: bool = False) -> bytes:
    """One request. `upgrade`: ask for the connection to be handed over to the stream (docker's
    `Upgrade: tcp`), else the engine closes it after the response."""
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {quote(path, safe='/?&=:,.-_')} HTTP/1.1", "Host: docker",
             "User-Agent: shoal-agent"]
    if upgrade:
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    else:
        lines.append("Connection: close")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    elif method in ("POST", "PUT"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: dict[str, str]     # names lower-cased

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None


def parse_head(raw: bytes) -> Head:
    """The status line and headers, up to and including the blank line."""
    try:
        text = raw.decode("iso-8859-1")
        status_line, *header_lines = text.split("\r\n")
        version, code, *_ = status_line.split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError
        status = int(code)
    except ValueError:
        raise WireError(f"not an HTTP response: {raw[:60]!r}") from None
    headers = {}
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise WireError(f"bad header line: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return Head(status, headers)


def dechunk(body: bytes) -> bytes:
    """A whole chunked body (read to the end of the connection) to its bytes."""
    out = bytearray()
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise WireError("chunked body cut short")
        size_text = body[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            return bytes(out)
        start = end + 2
        if start + size > len(body):
            raise WireError("chunked body cut short")
        out += body[start:start + size]
        pos = start + size + 2


def error_message(status: int, body: bytes) -> str:
    """The engine's own words for a refusal ({"message": ...}), one line."""
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        message = body.decode("utf-8", "replace")
    message = " ".join(str(message).split())
    return message or f"engine answered HTTP {status}"


class FrameDecoder:
    """Splits the engine's multiplexed stream (no tty: stdout and stderr in one connection) into
    (stream, bytes) pieces: an 8-byte header [stream, 0, 0, 0, size (4 bytes, big-endian)]
    before each frame. A frame may arrive in many reads, and many frames in one."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._stream = 0
        self._left = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while self._buf:
            if self._left == 0:
                if len(self._buf) < FRAME_HEADER:
                    break
                header = bytes(self._buf[:FRAME_HEADER])
                del self._buf[:FRAME_HEADER]
                self._stream = header[0]
                self._left = int.from_bytes(header[4:8], "big")
                if self._stream not in (0, STDOUT, STDERR, SYSTEMERR):
                    raise WireError(f"bad stream frame header {header!r}")
                continue
            piece = bytes(self._buf[:self._left])
            del self._buf[:len(piece)]
            self._left -= len(piece)
            # stdin echoed (0) is shown as stdout, as docker's CLI does.
            out.append((STDERR if self._stream in (STDERR, SYSTEMERR) else STDOUT, piece))
        return out

    @property
    def pending(self) -> bool:
        """Bytes of an unfinished frame are held (the stream ended inside one)."""
        return bool(self._buf) or self._left > 0
