"""Removes containers that agents report but no record claims.

They arise when a create timed out on the manager's side yet finished on the
host, or when a record was force-removed while its node was down. A record is
always written before the agent is called, so a container without one is never
a placement still in flight.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import grpc

from shoal.manager.agents import AgentPool
from shoal.manager.state import ClusterState
from shoal.manager.store import Store
from shoal.protos.limits import UNARY_TIMEOUT
from shoal.protos.shoal.v1 import agent_pb2

log = logging.getLogger("shoal.manager.orphans")
SWEEP_SECONDS = 10.0


def find_orphans(state: ClusterState) -> list[tuple[str, str]]:
    """(node address, container id) of every reported container with no record."""
    out = []
    for node_id, reported in state.observed.items():
        if node_id not in state.nodes:
            continue
        address = state.nodes[node_id][0].address
        for cid in reported:
            if cid not in state.containers:
                out.append((address, cid))
    return out


async def sweep_orphans(state: ClusterState, store: Store, pool: AgentPool, is_leader: Callable[[], bool]) -> None:
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        if not store.healthy.is_set() or not is_leader():
            continue
        for address, cid in find_orphans(state):
            try:
                await pool.stub(address).RemoveContainer(
                    agent_pb2.RemoveContainerRequest(id=cid, force=True), timeout=UNARY_TIMEOUT
                )
                log.info("removed orphan container %s on %s", cid[:12], address)
            except grpc.aio.AioRpcError as exc:
                log.warning("could not remove orphan %s on %s: %s", cid[:12], address, exc.details())
