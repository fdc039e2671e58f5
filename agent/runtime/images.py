"""The engine's image calls (docker image ls/pull/load/rm/prune) for the agent.

Credentials arrive with one request and go straight into that pull's X-Registry-Auth header:
nothing here keeps them, logs them or writes them to disk."""
from __future__ import annotations

import asyncio
import queue
import threading
from typing import AsyncIterator, Iterator

import docker
import docker.errors
import requests.exceptions

from shoal.agent.runtime.base import Conflict, NotFound, RuntimeFailure
from shoal.agent.runtime.image_types import Credential, Image, Progress, auth_config, image_of, line, progress_of
from shoal.agent.runtime.streams import iterate_in_thread

LOAD_QUEUE_CHUNKS = 8   # tar chunks buffered between the gRPC stream and the engine's upload


def _engine_error(exc: Exception) -> RuntimeFailure:
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(line(getattr(exc, "explanation", None) or str(exc)))
    if isinstance(exc, docker.errors.APIError):
        msg = line(getattr(exc, "explanation", None) or str(exc))
        return Conflict(msg) if exc.status_code == 409 else RuntimeFailure(msg)
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return RuntimeFailure(f"docker engine unreachable: {exc.__class__.__name__}")
    return RuntimeFailure(line(str(exc)))


class DockerImages:
    def __init__(self, client: docker.DockerClient, stream_client: docker.DockerClient):
        self._client = client
        self._stream_client = stream_client

    async def _call(self, fn, *args, **kwargs):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc

    async def list(self, all: bool) -> list[Image]:
        summaries = await self._call(self._client.api.images, all=all)
        return [image_of(s) for s in summaries]

    def pull_sync(self, image: str, platform: str, creds: tuple[Credential, ...]) -> None:
        """A blocking pull for the container-create path (`run` of an image the node lacks)."""
        self._client.images.pull(image, platform=platform or None, auth_config=auth_config(creds))

    async def pull(self, image: str, platform: str, creds: tuple[Credential, ...]) -> AsyncIterator[Progress]:
        repo, tag = docker.utils.parse_repository_tag(image)

        def open_stream() -> Iterator[dict]:
            return self._stream_client.api.pull(repo, tag=tag or "latest", stream=True, decode=True,
                                                platform=platform or None, auth_config=auth_config(creds))

        try:
            async for event in iterate_in_thread(open_stream, lambda s: getattr(s, "close", lambda: None)()):
                yield progress_of(event)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc

    async def load(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[Progress]:
        """Streams the tar to the engine as it arrives (a bounded queue: the engine's pace is the
        sender's), then yields what the engine said."""
        loop = asyncio.get_running_loop()
        feed: queue.Queue = queue.Queue(LOAD_QUEUE_CHUNKS)
        end = object()
        failed = threading.Event()

        def body() -> Iterator[bytes]:
            while True:
                item = feed.get()
                if item is end:
                    return
                yield item

        async def pump() -> None:
            try:
                async for chunk in chunks:
                    while True:
                        try:
                            await loop.run_in_executor(None, lambda c=chunk: feed.put(c, timeout=0.5))  # type: ignore[misc]
                            break
                        except queue.Full:
                            if failed.is_set():
                                return
            finally:
                await loop.run_in_executor(None, lambda: _put_end(feed, end, failed))

        def open_stream() -> Iterator[dict]:
            try:
                return iter(self._stream_client.api.load_image(body(), quiet=False))
            except BaseException:
                failed.set()
                raise

        pumping = asyncio.ensure_future(pump())
        try:
            async for event in iterate_in_thread(open_stream, lambda s: None):
                yield progress_of(event)
            await pumping
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc
        finally:
            failed.set()
            pumping.cancel()

    async def remove(self, image: str, force: bool) -> tuple[list[str], list[str]]:
        result = await self._call(self._client.api.remove_image, image, force=force)
        untagged = [r["Untagged"] for r in result or () if r.get("Untagged")]
        deleted = [r["Deleted"] for r in result or () if r.get("Deleted")]
        return untagged, deleted

    async def prune(self, all: bool) -> tuple[list[str], int]:
        result = await self._call(self._client.api.prune_images, filters={"dangling": not all})
        deleted = [r.get("Deleted") or r.get("Untagged") for r in result.get("ImagesDeleted") or ()]
        return [d for d in deleted if d], int(result.get("SpaceReclaimed") or 0)


def _put_end(feed: queue.Queue, end: object, failed: threading.Event) -> None:
    while not failed.is_set():
        try:
            feed.put(end, timeout=0.5)
            return
        except queue.Full:
            continue
