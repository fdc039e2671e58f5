"""`shoal manager`: the control plane over etcd. Several may run; one leads."""
from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass

from manager.agents import AgentPool
from manager.api import ManagerService
from manager.containers import ContainerOps
from manager.dns import ZoneSink
from manager.election import Election
from manager.networks import NetworkOps
from manager.nodes import NodeOps
from manager.orphans import sweep_orphans
from manager.peers import Peers
from manager.reconciler import Reconciler
from manager.server import build_server
from manager.services import ServiceOps
from manager.state import ClusterState
from manager.store import Store
from manager.tasks import TaskDriver
from manager.updater import Updater
from protos.dns.server import DnsServer
from protos.dns.zone import Zone
from protos.etcdv3.client import EtcdClient, EtcdError

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


async def serve(cfg: ManagerConfig) -> None:
    if cfg.insecure:
        log.warning("WARNING: --insecure: the manager API is served WITHOUT TLS; anyone who can reach %s controls the cluster", cfg.listen)
    manager_id = secrets.token_hex(6)
    etcd = EtcdClient(cfg.etcd)
    state = ClusterState()
    election = Election(etcd, manager_id, cfg.advertise or cfg.listen, cfg.lease_ttl)
    store = Store(etcd, state, term=lambda: election.term if election.is_leader else 0)
    pool = AgentPool(insecure=cfg.insecure)
    peers = Peers(insecure=cfg.insecure)
    place_lock = asyncio.Lock()
    driver = TaskDriver(state, store, pool, place_lock, cfg.strategy)
    updater = Updater(state, store, driver, lambda: election.is_leader)
    reconciler = Reconciler(state, store, driver, updater, lambda: election.is_leader)
    networks = NetworkOps(state, store)
    service = ManagerService(ContainerOps(state, store, pool, cfg.strategy, place_lock), NodeOps(state, store),
                             ServiceOps(state, store, networks), networks, election, peers)
    server = build_server(cfg.listen, service, insecure=cfg.insecure)
    dns_server = None
    if cfg.dns:
        zone = Zone(cfg.dns_domain)
        state.endpoint_sinks.append(ZoneSink(zone))
        host, _, port = cfg.dns.rpartition(":")
        dns_server = DnsServer(zone, upstreams=cfg.dns_upstreams)
        await dns_server.start(host, int(port))
        log.info("DNS for *.%s on %s", cfg.dns_domain, cfg.dns)
    await _first_load(store)
    await server.start()
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
    ]
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
