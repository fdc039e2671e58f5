"""`shoal manager`: the control plane over etcd."""
from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from manager.agents import AgentPool
from manager.api import ManagerService
from manager.containers import ContainerOps
from manager.nodes import NodeOps
from manager.orphans import sweep_orphans
from manager.server import build_server
from manager.state import ClusterState
from manager.store import Store
from protos.etcdv3.client import EtcdClient, EtcdError

log = logging.getLogger("shoal.manager")


@dataclass
class ManagerConfig:
    etcd: list[str]
    listen: str = "127.0.0.1:7000"
    strategy: str = "spread"
    insecure: bool = False


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
    etcd = EtcdClient(cfg.etcd)
    state = ClusterState()
    store = Store(etcd, state)
    pool = AgentPool(insecure=cfg.insecure)
    containers = ContainerOps(state, store, pool, cfg.strategy)
    server = build_server(cfg.listen, ManagerService(containers, NodeOps(state, store)), insecure=cfg.insecure)
    await _first_load(store)
    await server.start()
    log.info("manager serving on %s (strategy %s)", cfg.listen, cfg.strategy)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(store.watch()), asyncio.create_task(sweep_orphans(state, store, pool))]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and t.exception():
                raise t.exception()
    finally:
        for t in (stopper, *tasks):
            t.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        await server.stop(grace=2)
        await pool.close()
        await etcd.close()
