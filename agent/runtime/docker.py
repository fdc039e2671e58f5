"""The Docker Engine runtime: the Docker SDK on the host's local unix socket."""
from __future__ import annotations

import asyncio
import json
import platform
from typing import AsyncIterator

import docker
import docker.errors
import requests.exceptions

from shoal.agent.runtime import translate
from shoal.agent.runtime.base import (
    LABEL_ID, LABEL_MANAGED, Attachment, Conflict, EngineInfo, NotFound, Observed, RuntimeFailure, Spec,
)
from shoal.agent.runtime.image_types import Credential
from shoal.agent.runtime.images import DockerImages
from shoal.agent.runtime.streams import iterate_in_thread

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
                               networks: tuple[Attachment, ...] = (), auth: tuple[Credential, ...] = ()) -> Observed:
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
            if container.status == "created":
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

    def close(self) -> None:
        self._client.close()
        self._stream_client.close()
