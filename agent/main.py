"""`shoal agent`: one per host. Serves the manager, drives the local engine, registers in etcd."""
from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from shoal.agent.api import AgentService
from shoal.agent.cluster_view import ClusterView
from shoal.agent.registration import Registration
from shoal.agent.overlay import Overlay
from shoal.agent.routes import NodeFollower, RouteTable, peer_addresses
from shoal.agent.runtime.base import Observed
from shoal.agent.runtime.base import Runtime, RuntimeFailure
from shoal.agent.runtime.docker import DockerRuntime
from shoal.agent import revocations
from shoal.agent.server import build_server
from shoal.pki import ca as ca_mod
from shoal.pki import files
from shoal.etcd.tls import etcd_tls
from shoal.etcd.tls import secure as etcd_secure
from shoal.pki.grpc_tls import Revocations
from shoal.pki.fetch import CaMismatch
from shoal.pki.join import JoinRefused, join, join_address, remote_renewer
from shoal.pki.renewal import Holder, keep_renewed
from shoal.dns.server import DnsServer
from shoal.dns.zone import Zone
from shoal.etcd.client import EtcdClient
from shoal.etcd.server_version import warn_if_below_minimum
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.agent")
VERSION = "0.1.0"


@dataclass
class AgentConfig:
    etcd: list[str]
    advertise: str
    listen: str
    docker: str = "unix:///var/run/docker.sock"
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    state_dir: Path = Path("/var/lib/shoal/agent")
    lease_ttl: int = 10
    memory_bytes: int = 0     # 0: what the engine reports
    nano_cpus: int = 0
    insecure: bool = False
    dns_listen: str = ""      # "": the host's address on the container network, port 53; "none": off
    dns_domain: str = "shoal"
    dns_upstreams: list[tuple[str, int]] | None = None   # None: the host's /etc/resolv.conf
    dns_ttl: int = 5
    host_routes: bool = False
    join_token: str = ""
    managers: list[str] = field(default_factory=list)   # API addresses: joins go to port + 1
    etcd_tls: dict[str, Path] = field(default_factory=dict)


class ConfigError(Exception):
    pass


async def node_credentials(cfg: AgentConfig, node_id: str) -> files.Credentials:
    """The node's certificate from the state dir, or a new one by joining with the token."""
    creds = files.load(cfg.state_dir, "node")
    if creds is not None and creds.identity.node_id == node_id and \
            creds.identity.not_after > datetime.now(timezone.utc):
        return creds
    if not cfg.join_token:
        why = "has expired" if creds is not None else "does not exist yet"
        raise ConfigError(f"--join-token: this node's certificate {why}; give the agent join token "
                          "(`shoal cluster join-token agent` prints it)")
    last = ""
    for manager in cfg.managers:
        try:
            creds, _ = await join(join_address(manager), cfg.join_token, ca_mod.ROLE_AGENT, node_id)
        except CaMismatch as exc:
            # A manager that is not of the token's cluster: an attack or a mistake; stop at once.
            raise ConfigError(str(exc)) from None
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        except (JoinRefused, OSError) as exc:
            last = str(exc)
            log.warning("join via %s failed: %s", manager, exc)
            continue
        files.save(cfg.state_dir, "node", creds)
        log.info("joined the cluster as node %s (certificate serial %s)", node_id, creds.identity.serial)
        return creds
    raise ConfigError(f"--join-token: could not join ({last})")


def load_node_id(state_dir: Path) -> str:
    """A node keeps its id across restarts, so its containers stay its own."""
    try:
        files.ensure_private_dir(state_dir)   # the node's key is written here
    except files.StateDirError as exc:
        raise ConfigError(f"--state-dir: {exc}") from None
    path = state_dir / "node-id"
    if path.exists():
        node_id = path.read_text().strip()
        if node_id.isalnum() and 8 <= len(node_id) <= 64:
            return node_id
        raise ValueError(f"{path}: corrupt node id {node_id[:80]!r}; remove the file to make a new one")
    node_id = secrets.token_hex(10)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(node_id + "\n")
    tmp.replace(path)
    return node_id


def resolv_conf_upstreams(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    out.append((parts[1], 53))
    except OSError:
        pass
    return out


async def serve(cfg: AgentConfig, *, runtime: Runtime | None = None, stop: asyncio.Event | None = None,
                follow_cluster: bool = True) -> None:
    """Runs the agent until SIGTERM/SIGINT, or until `stop` is set when the caller gives one (then
    no signal handler is installed). bench/simulated_agents.py runs hundreds of agents in one
    process, each on its own `runtime`, with follow_cluster=False: each would otherwise follow
    every record of the cluster (for DNS and host routes), a cost a real host pays on its own CPU."""
    if cfg.insecure:
        log.warning("WARNING: --insecure: the agent API is served WITHOUT TLS; anyone who can reach %s controls this host's containers", cfg.listen)
    node_id = load_node_id(cfg.state_dir)
    holder: Holder | None = None
    if not cfg.insecure:
        holder = Holder(cfg.state_dir, "node", await node_credentials(cfg, node_id))
    revoked = Revocations()
    if runtime is None:
        runtime = DockerRuntime(cfg.docker, node_id, dns_search=(cfg.dns_domain,))
    registered_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    engine = await runtime.info()
    dns_address = ""
    zone = Zone(cfg.dns_domain, cfg.dns_ttl)
    dns_server: DnsServer | None = None
    if cfg.dns_listen != "none":
        host, _, port = (cfg.dns_listen or f"{engine.container_gateway}:53").rpartition(":")
        if not host:
            raise ValueError("--dns-listen: the engine reports no bridge gateway; give HOST:PORT or none")
        upstreams = cfg.dns_upstreams if cfg.dns_upstreams is not None else resolv_conf_upstreams()
        dns_server = DnsServer(zone, upstreams=upstreams)
        await dns_server.start(host, int(port))
        dns_address = f"{host}:{port}"
        if int(port) == 53:
            # Containers can only be given a resolver on port 53.
            runtime.dns = (host,)
        log.info("DNS for *.%s on %s (upstreams: %s)", cfg.dns_domain, dns_address,
                 ", ".join(f"{h}:{p}" for h, p in upstreams) or "none")

    async def describe() -> types_pb2.NodeDescription:
        info = await runtime.info()
        return types_pb2.NodeDescription(
            hostname=info.hostname,
            os=info.os,
            kernel=info.kernel,
            architecture=info.architecture,
            nano_cpus=cfg.nano_cpus or info.nano_cpus,
            memory_bytes=cfg.memory_bytes or info.memory_bytes,
            engine_version=info.engine_version,
            engine_labels=cfg.labels,
            agent_version=VERSION,
            container_subnet=info.container_subnet if cfg.host_routes else "",
            dns_address=dns_address,
        )

    async def node_record() -> types_pb2.Node:
        desc = await describe()
        return types_pb2.Node(
            id=node_id, name=cfg.name or desc.hostname, address=cfg.advertise,
            description=desc, registered_at=registered_at,
        )

    overlay = Overlay(cfg.advertise.rpartition(":")[0].strip("[]"))
    plumbed: set[str] = set()
    plumbing = asyncio.Lock()   # the create call and the status sync may both try; one at a time

    async def plumb(o: Observed) -> None:
        """Overlay interfaces for a running container (idempotent; also re-adopts after a restart)."""
        if not o.networks or o.state != "running" or not o.pid:
            return
        async with plumbing:
            if o.id in plumbed:
                return
            for i, a in enumerate(o.networks):
                await asyncio.to_thread(overlay.attach, o.pid, a.vni, a.ip, a.subnet, f"eth{i + 1}")
            plumbed.add(o.id)

    etcd = EtcdClient(cfg.etcd, tls=etcd_tls(cfg.etcd, cfg.etcd_tls, holder.current if holder else None))
    if holder is not None and etcd_secure(cfg.etcd):
        holder.listeners.append(lambda creds: etcd.set_tls(etcd_tls(cfg.etcd, cfg.etcd_tls, creds)))
    _version_check = asyncio.create_task(warn_if_below_minimum(etcd, log), name="etcd-version")
    async def networks_in_use(vnis: set[int]) -> None:
        async with plumbing:
            await asyncio.to_thread(overlay.prune, vnis)

    registration = Registration(etcd, node_id, cfg.lease_ttl, node_record, runtime, plumb=plumb,
                                plumbed=plumbed.__contains__, networks_in_use=networks_in_use)
    service = AgentService(runtime, describe, registration.request_sync, plumb=plumb)
    server = build_server(cfg.listen, service, (lambda: holder.current) if holder else None, revoked)
    await server.start()
    log.info("agent %s (%s) serving on %s, advertised as %s", cfg.name, node_id, cfg.listen, cfg.advertise)

    async def watch_engine() -> None:
        delay = 0.2
        while True:
            try:
                async for _ in runtime.watch_changes():
                    delay = 0.2
                    registration.request_sync()
            except RuntimeFailure as exc:
                log.warning("engine event stream ended: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            registration.request_sync()

    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(registration.run(), name="registration"),
             asyncio.create_task(watch_engine(), name="engine-events")]
    if follow_cluster:
        routes = RouteTable(node_id) if cfg.host_routes else None
        follower = NodeFollower(([routes.sync] if routes else [])
                                + [lambda nodes: overlay.set_peers(peer_addresses(nodes, node_id))])
        view = ClusterView(etcd, zone, follower.offer)
        tasks.append(asyncio.create_task(view.run(), name="cluster-view"))
        tasks.append(asyncio.create_task(follower.run(), name="host-network"))
    tasks.append(asyncio.create_task(revocations.follow(etcd, revoked), name="revocations"))
    if holder is not None:
        tasks.append(asyncio.create_task(
            keep_renewed(holder, remote_renewer(cfg.managers, lambda: holder.current)), name="renewal"))
    stopper = asyncio.create_task(stop.wait())
    try:
        # A loop that dies must take the agent down (and be restarted by its supervisor),
        # never leave it half-working.
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and t.exception():
                log.error("%s failed: %r", t.get_name(), t.exception())
                raise t.exception()
    finally:
        log.info("shutting down")
        for t in (stopper, *tasks):
            t.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        await server.stop(grace=2)
        if dns_server is not None:
            await dns_server.stop()
        await registration.deregister()
        await etcd.close()
        runtime.close()
