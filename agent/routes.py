"""Host-gateway routing: every host routes each other host's container subnet via that
host's address, so containers reach each other across hosts on one L2 segment (like
flannel's host-gw backend). Requires distinct container subnets per host (dockerd --bip)."""
from __future__ import annotations

import asyncio
import ipaddress
import logging

from protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.agent.routes")


def wanted_routes(nodes: dict[str, types_pb2.Node], self_id: str) -> dict[str, str]:
    """Pure: {subnet: gateway} for every other node that publishes a container subnet."""
    out: dict[str, str] = {}
    for node_id, node in nodes.items():
        subnet = node.description.container_subnet
        if node_id == self_id or not subnet:
            continue
        host = node.address.rpartition(":")[0].strip("[]")
        try:
            ipaddress.ip_network(subnet)
            ipaddress.ip_address(host)
        except ValueError:
            continue
        out[subnet] = host
    return out


def peer_addresses(nodes: dict[str, types_pb2.Node], self_id: str) -> set[str]:
    return {n.address.rpartition(":")[0].strip("[]") for node_id, n in nodes.items() if node_id != self_id}


class NodeFollower:
    """Hands the latest node set to blocking syncs (routes, overlay peers) in a thread,
    one sync at a time: pyroute2's IPRoute runs an event loop of its own."""

    def __init__(self, syncs):
        self.syncs = syncs
        self._latest: dict[str, types_pb2.Node] | None = None
        self._wanted = asyncio.Event()

    def offer(self, nodes: dict[str, types_pb2.Node]) -> None:
        self._latest = nodes
        self._wanted.set()

    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            nodes, self._latest = self._latest, None
            if nodes is None:
                continue
            for sync in self.syncs:
                try:
                    await asyncio.to_thread(sync, nodes)
                except Exception as exc:
                    log.warning("host network sync failed: %s", exc)


class RouteTable:
    """Applies wanted routes with pyroute2, touching only the routes it installed."""

    def __init__(self, self_id: str):
        self.self_id = self_id
        self.installed: dict[str, str] = {}

    def sync(self, nodes: dict[str, types_pb2.Node]) -> None:
        from pyroute2 import IPRoute

        wanted = wanted_routes(nodes, self.self_id)
        with IPRoute() as ipr:
            for subnet, gateway in wanted.items():
                if self.installed.get(subnet) == gateway:
                    continue
                try:
                    ipr.route("replace", dst=subnet, gateway=gateway)
                    self.installed[subnet] = gateway
                    log.info("route %s via %s", subnet, gateway)
                except Exception as exc:  # e.g. gateway not on a local segment
                    log.warning("cannot route %s via %s: %s", subnet, gateway, exc)
            for subnet in [s for s in self.installed if s not in wanted]:
                try:
                    ipr.route("del", dst=subnet, gateway=self.installed[subnet])
                except Exception as exc:
                    log.info("removing route %s: %s", subnet, exc)
                del self.installed[subnet]
