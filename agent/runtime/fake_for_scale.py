"""FakeRuntimeForScale: an in-memory engine for scale simulation and benchmarks ONLY.

It runs nothing: a "container" is a record that is running as soon as it is created. It lets one
process host hundreds of agents (each with its real gRPC server, etcd registration and mTLS) so
the manager can be measured at a scale this machine's dockerds could never reach. Integration
tests use real Docker Engines; nothing in the product selects this runtime.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import AsyncIterator

from shoal.agent.runtime.base import (
    Attachment, EngineInfo, NotFound, Observed, PathInfo, RuntimeFailure, SessionInput, SessionOpen, SessionOutput,
    Spec, StatsSample,
)
from shoal.agent.runtime.image_types import Credential, Image, Progress


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class _NoImages:
    """The fake runs nothing, so it holds no images; pulls and loads are refused in one line."""
    async def list(self, all: bool) -> list[Image]:
        return []

    async def pull(self, image: str, platform: str, creds: tuple[Credential, ...]) -> AsyncIterator[Progress]:
        raise RuntimeFailure("FakeRuntimeForScale pulls no images")
        yield  # an async generator

    async def load(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[Progress]:
        raise RuntimeFailure("FakeRuntimeForScale loads no images")
        yield

    async def remove(self, image: str, force: bool) -> tuple[list[str], list[str]]:
        raise NotFound(f"No such image: {image}")

    async def prune(self, all: bool) -> tuple[list[str], int]:
        return [], 0


class FakeRuntimeForScale:
    def __init__(self, hostname: str, *, nano_cpus: int = 64_000_000_000, memory_bytes: int = 256 << 30):
        self.hostname = hostname
        self.nano_cpus = nano_cpus
        self.memory_bytes = memory_bytes
        self.dns: tuple[str, ...] = ()
        self.images = _NoImages()
        self._containers: dict[str, Observed] = {}
        self._changed = asyncio.Event()
        self._closed = False

    def _set(self, observed: Observed) -> Observed:
        self._containers[observed.id] = observed
        self._changed.set()
        return observed

    async def create_and_start(self, shoal_id: str, name: str, spec: Spec, service: str = "",
                               networks: tuple[Attachment, ...] = (), *, start: bool = True,
                               auth: tuple[Credential, ...] = ()) -> Observed:
        existing = self._containers.get(shoal_id)
        if existing is not None:
            return existing   # idempotent, as the Docker runtime is for a retried call
        return self._set(Observed(id=shoal_id, name=name, image=spec.image, state="running",
                                  runtime_id=f"fake-{shoal_id[:12]}", started_at=_now(), ports=spec.ports,
                                  networks=networks, service=service,
                                  health="starting" if spec.health is not None else ""))

    async def stop(self, shoal_id: str, timeout: int) -> Observed:
        o = self._get(shoal_id)
        return self._set(Observed(**{**_fields(o), "state": "exited", "finished_at": _now()}))

    async def remove_volume(self, name: str) -> bool:
        return False   # the scale fake keeps no volumes

    async def remove(self, shoal_id: str, force: bool) -> bool:
        if self._containers.pop(shoal_id, None) is None:
            return False
        self._changed.set()
        return True

    async def list(self) -> list[Observed]:
        return list(self._containers.values())

    async def inspect(self, shoal_id: str) -> tuple[Observed, str]:
        o = self._get(shoal_id)
        return o, "{}"

    async def logs(self, shoal_id: str, follow: bool, tail: int) -> AsyncIterator[tuple[str, bytes]]:
        self._get(shoal_id)
        return
        yield  # an async generator with no output: the fake has no logs

    async def wait(self, shoal_id: str) -> Observed:
        while True:
            o = self._get(shoal_id)
            if o.state != "running":
                return o
            self._changed.clear()
            await self._changed.wait()

    async def info(self) -> EngineInfo:
        return EngineInfo(hostname=self.hostname, os="FakeRuntimeForScale", kernel="-", architecture="x86_64",
                          nano_cpus=self.nano_cpus, memory_bytes=self.memory_bytes, engine_version="fake")

    async def watch_changes(self) -> AsyncIterator[None]:
        while not self._closed:
            await self._changed.wait()
            self._changed.clear()
            yield None

    async def session(self, open_: SessionOpen, inputs: AsyncIterator[SessionInput]) -> AsyncIterator[SessionOutput]:
        self._get(open_.shoal_id)
        raise RuntimeFailure("the scale fake runs no processes: no exec or attach")
        yield SessionOutput("exit")   # pragma: no cover (makes this an async generator)

    # ---- the other container verbs: states only, the fake runs no processes ----
    def _with_state(self, shoal_id: str, state: str) -> Observed:
        return self._set(Observed(**{**_fields(self._get(shoal_id)), "state": state}))

    async def start(self, shoal_id: str) -> Observed:
        return self._with_state(shoal_id, "running")

    async def restart(self, shoal_id: str, timeout: int) -> Observed:
        return self._with_state(shoal_id, "running")

    async def kill(self, shoal_id: str, signal: str) -> Observed:
        return self._with_state(shoal_id, "exited") if signal in ("", "KILL", "SIGKILL", "9") else self._get(shoal_id)

    async def pause(self, shoal_id: str) -> Observed:
        return self._with_state(shoal_id, "paused")

    async def unpause(self, shoal_id: str) -> Observed:
        return self._with_state(shoal_id, "running")

    async def top(self, shoal_id: str, ps_args: str) -> tuple[list[str], list[list[str]]]:
        self._get(shoal_id)
        return ["PID", "CMD"], []

    async def stats(self, shoal_id: str) -> tuple[Observed, StatsSample]:
        return self._get(shoal_id), StatsSample(read_at=_now())

    async def copy_from(self, shoal_id: str, path: str) -> AsyncIterator[PathInfo | bytes]:
        self._get(shoal_id)
        raise NotFound(f"Could not find the file {path} in container {shoal_id}")
        yield b""  # an async generator: the fake has no files

    async def copy_to(self, shoal_id: str, path: str, chunks: AsyncIterator[bytes], copy_uid_gid: bool) -> None:
        self._get(shoal_id)
        raise RuntimeFailure("the scale fake keeps no files")

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    def _get(self, shoal_id: str) -> Observed:
        o = self._containers.get(shoal_id)
        if o is None:
            raise NotFound(f"no container with Shoal id {shoal_id} on this node")
        return o


def _fields(o: Observed) -> dict:
    return {name: getattr(o, name) for name in o.__dataclass_fields__}
