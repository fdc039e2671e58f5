"""The contract between the agent's API and a container engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Protocol

if TYPE_CHECKING:
    from shoal.agent.runtime.image_types import Credential, ImageEngine

# Labels that mark a container as Shoal's. They let a restarted agent re-adopt
# its containers instead of creating them again.
LABEL_MANAGED = "io.shoal.managed"
LABEL_ID = "io.shoal.id"
LABEL_NAME = "io.shoal.name"
LABEL_NODE = "io.shoal.node"
LABEL_SERVICE = "io.shoal.service"   # set by the manager on the tasks of a service
LABEL_NETWORKS = "io.shoal.networks" # JSON list of the container's overlay attachments


class RuntimeFailure(Exception):
    """The engine refused or failed; the message is fit for the admin."""


class NotFound(RuntimeFailure):
    pass


class Conflict(RuntimeFailure):
    pass


@dataclass(frozen=True, slots=True)
class Port:
    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""      # "": every address of the host


@dataclass(frozen=True, slots=True)
class Spec:
    """What the agent was asked to run (mirror of shoal.v1.ContainerSpec)."""
    image: str
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[Port, ...] = ()
    memory_bytes: int = 0
    nano_cpus: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    entrypoint: tuple[str, ...] = ()
    health: "Health | None" = None
    options: "RunOptions" = field(default_factory=lambda: RunOptions())


@dataclass(frozen=True, slots=True)
class MountSpec:
    type: str                         # volume | bind | tmpfs
    target: str
    source: str = ""
    readonly: bool = False
    tmpfs_size_bytes: int = 0
    driver: str = ""
    driver_options: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    create_host_path: bool = False


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The isolation and runtime options of `docker run` (mirror of the same ContainerSpec fields)."""
    reserve_memory_bytes: int = 0
    user: str = ""
    group_add: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    security_opt: tuple[str, ...] = ()
    hostname: str = ""
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_option: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()   # (name, address)
    workdir: str = ""
    init: bool = False
    stop_signal: str = ""
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    pids_limit: int = 0
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard)
    sysctls: tuple[tuple[str, str], ...] = ()
    shm_size_bytes: int = 0
    tmpfs: tuple[tuple[str, int, int, tuple[str, ...]], ...] = ()    # (target, size bytes, mode, flags)
    ipc: str = ""
    pid: str = ""
    mounts: tuple["MountSpec", ...] = ()
    devices: tuple[str, ...] = ()
    network_mode: str = ""            # "" | host | none
    ipc_container: str = ""           # the Shoal id of the container whose IPC namespace it joins
    volumes_from: tuple[str, ...] = ()   # "SHOAL_ID[:ro|rw]"
    restart: str = ""                 # the engine's restart policy (plain containers only)
    restart_max_retries: int = 0
    publish_all: bool = False
    expose: tuple[tuple[int, str], ...] = ()        # (port, protocol)
    pull: str = ""                                  # "" (missing) | always | missing | never
    platform: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False


@dataclass(frozen=True, slots=True)
class Health:
    test: tuple[str, ...]
    interval_ns: int = 0
    timeout_ns: int = 0
    retries: int = 0
    start_period_ns: int = 0


@dataclass(frozen=True, slots=True)
class Attachment:
    network: str
    vni: int
    subnet: str
    ip: str


@dataclass(frozen=True, slots=True)
class Observed:
    """One Shoal container as the engine reports it."""
    id: str                 # Shoal id
    name: str
    image: str
    state: str              # created | running | exited | dead | missing
    exit_code: int = 0
    error: str = ""
    runtime_id: str = ""
    started_at: str = ""
    finished_at: str = ""
    ports: tuple[Port, ...] = field(default_factory=tuple)
    health: str = ""        # "" (no check) | starting | healthy | unhealthy
    ip: str = ""            # address on the host's container network
    exposed: tuple[tuple[int, str], ...] = ()   # container ports (port, protocol)
    pid: int = 0
    networks: tuple["Attachment", ...] = ()
    service: str = ""


@dataclass(frozen=True, slots=True)
class EngineInfo:
    hostname: str
    os: str
    kernel: str
    architecture: str
    nano_cpus: int
    memory_bytes: int
    engine_version: str
    container_subnet: str = ""   # the engine's default bridge network
    container_gateway: str = ""  # the host's address on it


@dataclass(frozen=True, slots=True)
class SessionOpen:
    """An interactive session (mirror of shoal.v1.StreamOpen): exec `command`, or attach when empty."""
    shoal_id: str
    stdin: bool = False
    tty: bool = False
    command: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    env: tuple[tuple[str, str], ...] = ()
    privileged: bool = False
    start: bool = False
    rows: int = 0
    cols: int = 0
    logs: bool = False


# What a session's caller sends: ("stdin", bytes), ("close", b""), ("resize", (rows, cols)).
SessionInput = tuple[str, object]


@dataclass(frozen=True, slots=True)
class SessionOutput:
    """One piece of a session: kind "ready" (exec_id in text), "stdout"/"stderr" (data), or the
    last one, "exit" (exit_code, text: why the session failed, detached)."""
    kind: str
    data: bytes = b""
    text: str = ""
    exit_code: int = 0
    detached: bool = False


@dataclass(frozen=True, slots=True)
class StatsSample:
    """One docker stats row (engine_stats computes it from the engine's document)."""
    cpu_percent: float = 0.0
    memory_bytes: int = 0
    memory_limit_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    block_read_bytes: int = 0
    block_write_bytes: int = 0
    pids: int = 0
    read_at: str = ""


@dataclass(frozen=True, slots=True)
class PathInfo:
    """What a path in a container is (the engine's X-Docker-Container-Path-Stat)."""
    name: str
    size: int = 0
    mode: int = 0
    mtime: str = ""
    link_target: str = ""


TopTable = tuple[list[str], list[list[str]]]   # docker top: titles, then one row per process


class Runtime(Protocol):
    images: "ImageEngine"   # image ls/pull/load/rm/prune (runtime/images.py)

    async def create_and_start(self, shoal_id: str, name: str, spec: Spec, service: str = "",
                               networks: tuple[Attachment, ...] = (), *, start: bool = True,
                               auth: "tuple[Credential, ...]" = ()) -> Observed: ...
    async def stop(self, shoal_id: str, timeout: int) -> Observed: ...
    async def remove(self, shoal_id: str, force: bool) -> bool: ...
    async def remove_volume(self, name: str) -> bool: ...
    async def list(self) -> list[Observed]: ...
    async def inspect(self, shoal_id: str) -> tuple[Observed, str]: ...
    def logs(self, shoal_id: str, follow: bool, tail: int) -> AsyncIterator[tuple[str, bytes]]: ...
    async def wait(self, shoal_id: str) -> Observed: ...
    async def info(self) -> EngineInfo: ...
    def watch_changes(self) -> AsyncIterator[None]: ...
    def session(self, open_: SessionOpen, inputs: AsyncIterator[SessionInput]) -> AsyncIterator[SessionOutput]: ...
    # ---- the other container verbs (start ... cp) ----
    async def start(self, shoal_id: str) -> Observed: ...
    async def restart(self, shoal_id: str, timeout: int) -> Observed: ...
    async def kill(self, shoal_id: str, signal: str) -> Observed: ...
    async def pause(self, shoal_id: str) -> Observed: ...
    async def unpause(self, shoal_id: str) -> Observed: ...
    async def top(self, shoal_id: str, ps_args: str) -> TopTable: ...
    async def stats(self, shoal_id: str) -> tuple[Observed, StatsSample]: ...
    def copy_from(self, shoal_id: str, path: str) -> AsyncIterator[PathInfo | bytes]: ...
    async def copy_to(self, shoal_id: str, path: str, chunks: AsyncIterator[bytes], copy_uid_gid: bool) -> None: ...
