"""`shoal manager`: the control plane over etcd. Several may run; one leads."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from shoal.manager import identity
from shoal.manager.agents import AgentPool
from shoal.manager.volumes import VolumeOps
from shoal.manager.api import ManagerService
from shoal.manager.binder import Binder
from shoal.manager.containers import ContainerOps
from shoal.manager.election import Election
from shoal.manager.networks import NetworkOps
from shoal.manager.nodes import NodeOps
from shoal.manager.orphans import sweep_orphans
from shoal.manager.placed_repair import repair_placed
from shoal.manager.peers import Peers
from shoal.manager.reconciler import Reconciler
from shoal.manager.bootstrap import init_etcd
from shoal.manager.etcd_users import EtcdUsers
from shoal.manager.membership import Membership
from shoal.manager.server import Security, build_server
from shoal.manager.services import ServiceOps
from shoal.manager.registry_auths import RegistryAuths
from shoal.manager.state import ClusterState
from shoal.manager.store import Store
from shoal.manager.tasks import TaskDriver
from shoal.manager.updater import Updater
from shoal.dns.server import DnsServer
from shoal.dns.gate import EndpointGate
from shoal.dns.zone import Zone
from shoal.pki import ca as ca_mod
from shoal.pki import files
from shoal.etcd.tls import etcd_tls
from shoal.etcd.tls import secure as etcd_secure
from shoal.pki.cluster_files import InitError, load_authority
from shoal.pki.fetch import CaMismatch
from shoal.pki.join import JoinRefused, join, join_address
from shoal.pki.renewal import Holder, keep_renewed, local_renewer
from shoal.etcd.client import EtcdClient, EtcdError, EtcdNotFound, EtcdPermissionDenied, EtcdUnavailable
from shoal.etcd.server_version import warn_if_below_minimum

log = logging.getLogger("shoal.manager")


@dataclass
class ManagerConfig:
    etcd: list[str]
    listen: str = "127.0.0.1:7000"
    advertise: str = ""
    strategy: str = "spread"
    lease_ttl: int = 10
    insecure: bool = False
    dns: str = ""                     # HOST:PORT to serve the cluster zone on; "": off
    dns_domain: str = "shoal"
    dns_upstreams: tuple[tuple[str, int], ...] = ()
    state_dir: Path = Path("/var/lib/shoal/manager")
    join_listen: str = ""             # "": the API port + 1
    join_token: str = ""              # to join an existing cluster as a further manager
    join_manager: str = ""            # API address of a manager of that cluster
    cert_lifetime: timedelta = ca_mod.DEFAULT_LIFETIME
    etcd_tls: dict[str, Path] = field(default_factory=dict)   # "ca", "cert", "key": overrides
    # Where hosts' container subnets must lie for other hosts to route to them (--container-pool).
    container_pools: tuple[ipaddress.IPv4Network, ...] = (identity.DEFAULT_CONTAINER_POOL,)


class ConfigError(Exception):
    pass


async def load_credentials(cfg: ManagerConfig) -> tuple[files.Credentials, ca_mod.Authority]:
    """The manager's certificate and the CA key: from the state dir, or by joining with a manager token."""
    try:
        # Made only to join into: a missing dir without a token is the "run cluster init" error below.
        files.ensure_private_dir(cfg.state_dir, create=bool(cfg.join_token))
    except files.StateDirError as exc:
        raise ConfigError(f"--state-dir: {exc}") from None
    creds = files.load(cfg.state_dir, "manager")
    authority = load_authority(cfg.state_dir)
    if creds is None or authority is None:
        if not cfg.join_token:
            raise ConfigError(f"--state-dir: {cfg.state_dir} holds no manager credentials; run `shoal cluster init "
                              f"--state-dir {cfg.state_dir}` for a new cluster, or give --join-token and --join")
        if not cfg.join_manager:
            raise ConfigError("--join: the API address of a manager of the cluster is needed with --join-token")
        try:
            creds, ca_key = await join(join_address(cfg.join_manager), cfg.join_token, ca_mod.ROLE_MANAGER)
        except (CaMismatch, JoinRefused, ValueError, OSError) as exc:
            raise ConfigError(str(exc)) from None
        files.write_private(cfg.state_dir / "ca.key", ca_key)
        files.save(cfg.state_dir, "manager", creds)
        authority = ca_mod.Authority.load(creds.ca, ca_key)
        log.info("joined the cluster as manager %s", creds.identity.common_name)
    if creds.ca != authority.pem:
        raise ConfigError(f"--state-dir: {cfg.state_dir}/manager.pem is not from the CA in ca.pem")
    return creds, authority


async def _first_load(store: Store) -> None:
    delay = 0.2
    while True:
        try:
            await store.load()
            return
        except EtcdError as exc:
            log.warning("etcd not reachable yet: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _first_call(call) -> None:
    delay = 0.2
    while True:
        try:
            await call()
            return
        except EtcdUnavailable as exc:
            log.warning("etcd not reachable yet: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def serve(cfg: ManagerConfig) -> None:
    if cfg.insecure:
        log.warning("WARNING: --insecure: the manager API is served WITHOUT TLS; anyone who can reach %s controls the cluster", cfg.listen)
    holder: Holder | None = None
    authority = None
    if cfg.insecure:
        manager_id = secrets.token_hex(6)
        etcd = EtcdClient(cfg.etcd, tls=etcd_tls(cfg.etcd, cfg.etcd_tls, None))
    else:
        creds, authority = await load_credentials(cfg)
        holder = Holder(cfg.state_dir, "manager", creds)
        manager_id = creds.identity.common_name
        etcd = EtcdClient(cfg.etcd, tls=etcd_tls(cfg.etcd, cfg.etcd_tls, creds))
        if etcd_secure(cfg.etcd):
            holder.listeners.append(lambda fresh: etcd.set_tls(etcd_tls(cfg.etcd, cfg.etcd_tls, fresh)))
    state = ClusterState()
    state.identity_policy = identity.policy(cfg.container_pools, (cfg.listen, cfg.advertise, *cfg.etcd))
    election = Election(etcd, manager_id, cfg.advertise or cfg.listen, cfg.lease_ttl)
    store = Store(etcd, state, term=lambda: election.term if election.is_leader else 0)
    pool = AgentPool(holder, state.node_at)
    peers = Peers(holder)
    place_lock = asyncio.Lock()
    auths = RegistryAuths()   # services' --with-registry-auth: this process's memory only
    driver = TaskDriver(state, store, pool, place_lock, cfg.strategy, auths=auths)
    updater = Updater(state, store, driver, lambda: election.is_leader)
    reconciler = Reconciler(state, store, driver, updater, lambda: election.is_leader)
    networks = NetworkOps(state, store)
    etcd_users = EtcdUsers(etcd) if authority and etcd_secure(cfg.etcd) else None
    membership = Membership(state, store, authority, cfg.cert_lifetime, etcd_users) if authority else None
    nodes = NodeOps(state, store)
    service = ManagerService(ContainerOps(state, store, pool, cfg.strategy, place_lock), nodes,
                             ServiceOps(state, store, networks, auths), networks, election, peers, membership,
                             VolumeOps(state, store, pool, nodes))
    security = None
    if holder is not None:
        security = Security(lambda: holder.current, state.revoked, cfg.join_listen or join_address(cfg.listen))
    server = build_server(cfg.listen, service, security)
    dns_server = None
    if cfg.dns:
        zone = Zone(cfg.dns_domain)
        state.dns_gate = EndpointGate(zone, state.bad)
        host, _, port = cfg.dns.rpartition(":")
        dns_server = DnsServer(zone, upstreams=cfg.dns_upstreams)
        await dns_server.start(host, int(port))
        log.info("DNS for *.%s on %s", cfg.dns_domain, cfg.dns)
    if etcd_users is not None:
        try:
            await _first_call(lambda: etcd_users.bootstrap(manager_id))
        except (EtcdPermissionDenied, EtcdNotFound) as exc:
            raise ConfigError(f"--etcd: etcd has authentication on and {manager_id} is not a root user there "
                              f"({exc}); join with a manager token instead of copying a state dir") from None
    elif not cfg.insecure:
        log.warning("WARNING: etcd at %s is plaintext: anyone who reaches it controls the cluster; use https "
                    "with client certificates", ",".join(cfg.etcd))
    await _first_load(store)
    _version_check = asyncio.create_task(warn_if_below_minimum(etcd, log), name="etcd-version")
    if authority is not None:
        # Refuses to serve a cluster whose etcd holds another CA; creates the join tokens once.
        try:
            await init_etcd(etcd, authority)
        except InitError as exc:
            raise ConfigError(f"--etcd: {exc}") from None
    await server.start()
    if security is not None:
        log.info("manager %s serving on %s with mutual TLS, joins on %s (strategy %s)", manager_id, cfg.listen,
                 security.join_listen, cfg.strategy)
    else:
        log.info("manager %s serving on %s (strategy %s)", manager_id, cfg.listen, cfg.strategy)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(store.watch(), name="watch"),
        asyncio.create_task(election.run(), name="election"),
        asyncio.create_task(reconciler.run(), name="reconciler"),
        asyncio.create_task(sweep_orphans(state, store, pool, lambda: election.is_leader), name="orphans"),
        asyncio.create_task(repair_placed(state, store, lambda: election.is_leader), name="placed-repair"),
        asyncio.create_task(Binder(state, store).run(), name="binder"),
    ]
    if holder is not None and authority is not None:
        who = holder.current.identity
        tasks.append(asyncio.create_task(keep_renewed(holder, local_renewer(authority, cfg.cert_lifetime,
                                                                            who.common_name, who.role)),
                                         name="renewal"))
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and t.exception():
                log.error("%s failed: %r", t.get_name(), t.exception())
                raise t.exception()
    finally:
        for t in (stopper, *tasks):
            t.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        await updater.stop_all()
        await driver.cancel_all()
        await server.stop(grace=2)
        if dns_server is not None:
            await dns_server.stop()
        await election.resign()
        await pool.close()
        await peers.close()
        await etcd.close()
