"""The Docker Engine API over its unix socket with asyncio, for exec and attach sessions: every
call is cancellable (closing the connection ends it on the engine's side too), and a hijacked
stream starts with the first byte after the response head (asyncio's reader keeps what it read
beyond the head). Short calls open a connection each, as `Connection: close` asks."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from shoal.agent.runtime.base import Conflict, NotFound, RuntimeFailure
from shoal.agent.runtime.engine_wire import HEAD_LIMIT, Head, WireError, dechunk, error_message, parse_head, request_bytes

CALL_TIMEOUT = 30.0
BODY_LIMIT = 8 * 1024 * 1024    # inspect documents are a few KB


def _refusal(status: int, body: bytes) -> RuntimeFailure:
    message = error_message(status, body)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    return RuntimeFailure(message)


@dataclass
class Hijacked:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: Head

    def close(self) -> None:
        self.writer.close()


class EngineHttp:
    def __init__(self, socket_path: str, api_version: str):
        self.socket_path = socket_path
        self.prefix = f"/v{api_version}" if api_version else ""

    async def _open(self, method: str, path: str, body: object | None, upgrade: bool):
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=HEAD_LIMIT)
        except OSError as exc:
            raise RuntimeFailure(f"docker engine unreachable: {exc.strerror or exc}") from exc
        try:
            writer.write(request_bytes(method, self.prefix + path, body, upgrade=upgrade))
            await writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
            return reader, writer, parse_head(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, WireError) as exc:
            writer.close()
            raise RuntimeFailure(f"docker engine: {exc.__class__.__name__}: {exc}") from exc
        except BaseException:
            writer.close()
            raise

    @staticmethod
    async def _body(reader: asyncio.StreamReader, head: Head) -> bytes:
        if head.length is not None and not head.chunked:
            return await reader.readexactly(head.length)
        data = bytearray()
        while chunk := await reader.read(64 * 1024):
            data += chunk
            if len(data) > BODY_LIMIT:
                raise RuntimeFailure("docker engine: response too large")
        return dechunk(bytes(data)) if head.chunked else bytes(data)

    async def call(self, method: str, path: str, body: object | None = None,
                   timeout: float | None = CALL_TIMEOUT) -> Any:
        """A short call: its JSON answer (None for an empty one); a refusal raises in the engine's words."""
        async def go():
            reader, writer, head = await self._open(method, path, body, upgrade=False)
            try:
                data = await self._body(reader, head)
            except (OSError, asyncio.IncompleteReadError, WireError) as exc:
                raise RuntimeFailure(f"docker engine: {exc.__class__.__name__}: {exc}") from exc
            finally:
                writer.close()
            if head.status >= 400:
                raise _refusal(head.status, data)
            return json.loads(data) if data.strip() else None
        return await asyncio.wait_for(go(), timeout)

    async def _accepted(self, method: str, path: str, body: object | None, upgrade: bool):
        """The connection once the engine accepted the request; a refusal raises in its words."""
        reader, writer, head = await asyncio.wait_for(self._open(method, path, body, upgrade=upgrade), CALL_TIMEOUT)
        if head.status >= 400:
            try:
                data = await asyncio.wait_for(self._body(reader, head), CALL_TIMEOUT)
            finally:
                writer.close()
            raise _refusal(head.status, data)
        return reader, writer, head

    async def begin(self, method: str, path: str, body: object | None = None) -> "Pending":
        """A long call (a wait) whose head the engine sends at once: returns once it is
        registered, its body is awaited with Pending.result()."""
        return Pending(*await self._accepted(method, path, body, upgrade=False))

    async def hijack(self, path: str, body: object | None = None) -> Hijacked:
        return Hijacked(*await self._accepted("POST", path, body, upgrade=True))


@dataclass
class Pending:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: Head

    async def result(self) -> Any:
        try:
            data = await EngineHttp._body(self.reader, self.head)
        except (OSError, asyncio.IncompleteReadError, WireError) as exc:
            raise RuntimeFailure(f"docker engine: {exc.__class__.__name__}: {exc}") from exc
        finally:
            self.writer.close()
        return json.loads(data) if data.strip() else None

    def close(self) -> None:
        self.writer.close()
