"""The Docker Engine runtime: the Docker SDK on the host's local unix socket."""
from __future__ import annotations

import asyncio
import base64
import json
import platform
from typing import AsyncIterator, Iterator

import docker
import docker.errors
import requests.exceptions

from shoal.agent.runtime import translate
from shoal.agent.runtime.base import (
    LABEL_ID, LABEL_MANAGED, Attachment, Conflict, EngineInfo, NotFound, Observed, PathInfo, RuntimeFailure,
    SessionInput, SessionOpen, SessionOutput, Spec, StatsSample,
)
from shoal.agent.runtime.engine_http import EngineHttp
from shoal.agent.runtime.sessions import attach_session, exec_session
from shoal.agent.runtime import engine_stats
from shoal.agent.runtime.image_types import Credential
from shoal.agent.runtime.images import DockerImages
from shoal.agent.runtime.streams import iterate_in_thread
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES

API_TIMEOUT = 60


def _engine_error(exc: Exception) -> RuntimeFailure:
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(getattr(exc, "explanation", None) or str(exc))
    if isinstance(exc, docker.errors.APIError):
        msg = getattr(exc, "explanation", None) or str(exc)
        if exc.status_code == 409:
            return Conflict(msg)
        return RuntimeFailure(msg)
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return RuntimeFailure(f"docker engine unreachable: {exc.__class__.__name__}")
    return RuntimeFailure(str(exc))


class DockerRuntime:
    def __init__(self, base_url: str, node_id: str, *, dns_search: tuple[str, ...] = ()):
        if not base_url.startswith("unix://"):
            # The engine API is root on the host: it is never reached over TCP.
            raise ValueError(f'--docker: "{base_url}" must be a unix:// socket')
        self.base_url = base_url
        self.node_id = node_id
        self.dns_search = dns_search
        self.dns: tuple[str, ...] = ()   # set once the agent's resolver listens
        self._client = docker.DockerClient(base_url=base_url, timeout=API_TIMEOUT)
        # Follow-mode streams may be idle for hours: no read timeout on those.
        self._stream_client = docker.DockerClient(base_url=base_url, timeout=None)
        self.images = DockerImages(self._client, self._stream_client)

    async def _call(self, fn, *args, **kwargs):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc

    def _find_sync(self, shoal_id: str):
        found = self._client.containers.list(
            all=True, filters={"label": [f"{LABEL_MANAGED}=true", f"{LABEL_ID}={shoal_id}"]}
        )
        if not found:
            raise docker.errors.NotFound(f"no container with Shoal id {shoal_id} on this node")
        return found[0]

    async def create_and_start(self, shoal_id: str, name: str, spec: Spec, service: str = "",
                               networks: tuple[Attachment, ...] = (), *, start: bool = True,
                               auth: tuple[Credential, ...] = ()) -> Observed:
        def run() -> Observed:
            kwargs = translate.create_kwargs(shoal_id, name, self.node_id, spec, service=service, networks=networks,
                                             dns=self.dns, dns_search=self.dns_search if self.dns else ())
            try:
                translate.shared_with(kwargs, spec.options, lambda sid: self._find_sync(sid).id)
            except docker.errors.NotFound:
                raise RuntimeFailure("a container it shares a namespace or volumes with (--ipc, --volumes-from) "
                                     "is not on this node") from None
            # Create first, as `docker run` does: the image lookup and the search for an earlier
            # container of this id are engine round trips that only the rare case needs.
            pull = spec.options.pull or "missing"
            try:
                if pull == "always":
                    self._pull(spec, auth)
                try:
                    container = self._create(kwargs, spec)
                except docker.errors.ImageNotFound:
                    if pull == "never":
                        raise NotFound(f"image {spec.image} is not on this node (--pull never)") from None
                    self._pull(spec, auth)
                    container = self._create(kwargs, spec)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
                # The engine name is made from the Shoal id: it exists, so this id was created before.
                container = self._find_sync(shoal_id)
            # Idempotent per Shoal id: a container that already ran is reported, not restarted.
            # Not started (an attached run): its session starts it once attached.
            if container.status == "created" and start:
                try:
                    container.start()
                except docker.errors.APIError:
                    # Leave nothing behind that the manager does not know about.
                    container.remove(force=True)
                    raise
                container.reload()
            return translate.observed_from_inspect(container.attrs)

        return await self._call(run)

    def _pull(self, spec: Spec, auth: tuple[Credential, ...]) -> None:
        # docker-py splits the reference (a registry's port, a digest) and defaults the tag to latest;
        # the credentials (--with-registry-auth) serve this pull only.
        self.images.pull_sync(spec.image, spec.options.platform, auth)

    def _create(self, kwargs: dict, spec: Spec):
        if not spec.options.expose:
            return self._client.containers.create(**kwargs)
        # docker-py's create() exposes only the published ports; --expose needs the call below it
        # (what create() itself does, with Config.ExposedPorts completed).
        from docker.models.containers import _create_container_args
        args = _create_container_args(dict(kwargs, version=self._client.api._version))
        args["ports"] = translate.exposed_ports(spec)
        created = self._client.api.create_container(**args)
        return self._client.containers.get(created["Id"])

    async def stop(self, shoal_id: str, timeout: int) -> Observed:
        def run() -> Observed:
            container = self._find_sync(shoal_id)
            container.stop(timeout=timeout)
            container.reload()
            return translate.observed_from_inspect(container.attrs)

        return await self._call(run)

    async def remove(self, shoal_id: str, force: bool) -> bool:
        def run() -> bool:
            try:
                container = self._find_sync(shoal_id)
            except docker.errors.NotFound:
                return False
            container.remove(force=force)
            return True

        return await self._call(run)

    async def remove_volume(self, name: str) -> bool:
        """Deletes a named volume and its data; False if the engine has none by that name. An
        engine that still has a container using it refuses (Conflict, its own words)."""
        def run() -> bool:
            try:
                self._client.volumes.get(name).remove()
            except docker.errors.NotFound:
                return False
            return True

        return await self._call(run)

    async def list(self) -> list[Observed]:
        def run() -> list[Observed]:
            containers = self._client.containers.list(all=True, filters=translate.owner_filter(self.node_id))
            out = []
            for c in containers:
                # list() returns a summary; the full document has state details.
                try:
                    c.reload()
                except docker.errors.NotFound:
                    continue
                out.append(translate.observed_from_inspect(c.attrs))
            return out

        return await self._call(run)

    async def inspect(self, shoal_id: str) -> tuple[Observed, str]:
        def run() -> tuple[Observed, str]:
            container = self._find_sync(shoal_id)
            return translate.observed_from_inspect(container.attrs), json.dumps(container.attrs, sort_keys=True)

        return await self._call(run)

    async def logs(self, shoal_id: str, follow: bool, tail: int) -> AsyncIterator[tuple[str, bytes]]:
        container = await self._call(self._find_sync, shoal_id)

        def open_stream():
            return self._stream_client.api.logs(
                container.id, stream=True, follow=follow, tail="all" if tail < 0 else tail
            )

        try:
            async for chunk in iterate_in_thread(open_stream, lambda s: s.close()):
                yield "stdout", chunk
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc

    async def wait(self, shoal_id: str) -> Observed:
        def run() -> Observed:
            container = self._find_sync(shoal_id)
            self._stream_client.api.wait(container.id)
            container.reload()
            return translate.observed_from_inspect(container.attrs)

        return await self._call(run)

    async def info(self) -> EngineInfo:
        def run() -> EngineInfo:
            info = self._client.info()
            version = self._client.version()
            try:
                subnet, gateway = translate.bridge_subnet(self._client.api.inspect_network("bridge"))
            except docker.errors.NotFound:
                subnet, gateway = "", ""
            return EngineInfo(
                hostname=platform.node(),
                os=info.get("OperatingSystem", ""),
                kernel=info.get("KernelVersion", ""),
                architecture=info.get("Architecture", platform.machine()),
                nano_cpus=int(info.get("NCPU", 0)) * 1_000_000_000,
                memory_bytes=int(info.get("MemTotal", 0)),
                engine_version=version.get("Version", ""),
                container_subnet=subnet,
                container_gateway=gateway,
            )

        return await self._call(run)

    async def watch_changes(self) -> AsyncIterator[None]:
        """Yields once per engine event about one of our containers."""
        def open_stream():
            return self._stream_client.api.events(
                decode=True, filters={"type": "container", "label": [f"{LABEL_MANAGED}=true"]}
            )

        try:
            async for _ in iterate_in_thread(open_stream, lambda s: s.close()):
                yield None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc

    async def session(self, open_: SessionOpen, inputs: AsyncIterator[SessionInput]) -> AsyncIterator[SessionOutput]:
        """exec (a command given) or attach; see runtime/sessions.py."""
        container = await self._call(self._find_sync, open_.shoal_id)
        engine = EngineHttp(self.base_url[len("unix://"):], self._client.api._version)
        run = exec_session if open_.command else attach_session
        async for out in run(engine, container.id, open_, inputs):
            yield out

    # ---- the other container verbs: start ... cp (one block: other helpers add theirs apart) ----
    async def _act(self, shoal_id: str, act) -> Observed:
        def run() -> Observed:
            container = self._find_sync(shoal_id)
            act(container)
            container.reload()
            return translate.observed_from_inspect(container.attrs)

        return await self._call(run)

    async def start(self, shoal_id: str) -> Observed:
        return await self._act(shoal_id, lambda c: c.start())

    async def restart(self, shoal_id: str, timeout: int) -> Observed:
        return await self._act(shoal_id, lambda c: c.restart(timeout=timeout))

    async def kill(self, shoal_id: str, signal: str) -> Observed:
        return await self._act(shoal_id, lambda c: c.kill(signal=signal or "KILL"))

    async def pause(self, shoal_id: str) -> Observed:
        return await self._act(shoal_id, lambda c: c.pause())

    async def unpause(self, shoal_id: str) -> Observed:
        return await self._act(shoal_id, lambda c: c.unpause())

    async def top(self, shoal_id: str, ps_args: str) -> tuple[list[str], list[list[str]]]:
        def run() -> tuple[list[str], list[list[str]]]:
            got = self._find_sync(shoal_id).top(ps_args=ps_args or None)
            return list(got.get("Titles") or ()), [list(p) for p in got.get("Processes") or ()]

        return await self._call(run)

    async def stats(self, shoal_id: str) -> tuple[Observed, StatsSample]:
        """One sample; the engine waits for a second reading itself so that CPU % has a delta."""
        def run() -> tuple[Observed, StatsSample]:
            container = self._find_sync(shoal_id)
            observed = translate.observed_from_inspect(container.attrs)
            if observed.state != "running":
                return observed, StatsSample()
            return observed, engine_stats.sample(container.stats(stream=False))

        return await self._call(run)

    async def copy_from(self, shoal_id: str, path: str) -> AsyncIterator[PathInfo | bytes]:
        """The path's stat, then its tar stream in ARCHIVE_CHUNK_BYTES pieces, read from the engine
        only as fast as the caller takes them."""
        def open_archive():
            container = self._find_sync(shoal_id)
            api = self._client.api
            res = api._get(api._url("/containers/{0}/archive", container.id), params={"path": path}, stream=True)
            api._raise_for_status(res)
            return res

        res = await self._call(open_archive)
        try:
            raw = json.loads(base64.b64decode(res.headers.get("X-Docker-Container-Path-Stat", "") or b"e30=") or b"{}")
        except ValueError:
            raw = {}
        yield PathInfo(name=str(raw.get("name", "")), size=int(raw.get("size") or 0), mode=int(raw.get("mode") or 0),
                       mtime=str(raw.get("mtime", "")), link_target=str(raw.get("linkTarget", "")))
        try:
            async for chunk in iterate_in_thread(lambda: res.iter_content(ARCHIVE_CHUNK_BYTES), lambda _: res.close(),
                                                 maxsize=2):
                yield chunk
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _engine_error(exc) from exc
        finally:
            res.close()

    async def copy_to(self, shoal_id: str, path: str, chunks: AsyncIterator[bytes], copy_uid_gid: bool) -> None:
        """Streams the tar to the engine as a chunked request body: the engine's thread asks for the
        next chunk only once it sent the last, so at most one chunk is held here."""
        loop = asyncio.get_running_loop()
        container = await self._call(self._find_sync, shoal_id)

        async def next_chunk() -> bytes:
            return await chunks.__anext__()

        def body() -> Iterator[bytes]:
            while True:
                try:
                    chunk = asyncio.run_coroutine_threadsafe(next_chunk(), loop).result(timeout=API_TIMEOUT)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise RuntimeFailure(f"cp: the caller sent nothing for {API_TIMEOUT} s") from None
                if chunk:
                    yield chunk

        def run() -> None:
            api = self._client.api
            params = {"path": path, "noOverwriteDirNonDir": "true"}
            if copy_uid_gid:
                params["copyUIDGID"] = "true"
            res = api._put(api._url("/containers/{0}/archive", container.id), params=params, data=body())
            api._raise_for_status(res)

        await self._call(run)

    def close(self) -> None:
        self._client.close()
        self._stream_client.close()
