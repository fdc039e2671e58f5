"""Host-gateway routing: every host routes each other host's container subnet via that
host's address, so containers reach each other across hosts on one L2 segment (like
flannel's host-gw backend). Requires distinct container subnets per host (dockerd --bip)."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Iterable

from shoal.protos.address_pools import NARROWEST_HOST_SUBNET, OVERLAY_POOL, WIDEST_HOST_SUBNET
from shoal.protos.shoal.v1 import types_pb2

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger("shoal.agent.routes")


def wanted_routes(nodes: dict[str, types_pb2.Node], self_id: str,
                  local_networks: Iterable[Network] = ()) -> dict[str, str]:
    """Pure: {subnet: gateway} for every other node that has a container subnet bound to it.

    `nodes` carry what the leader bound (agent/cluster_view.py), and even so a route is refused
    when it could take traffic that is not that node's: a subnet wider than a /16 (a default
    route above all), one overlapping another node's subnet (both are refused), this host's own
    networks, the overlay pool, or one whose gateway lies inside some container subnet."""
    candidates: dict[str, tuple[Network, str]] = {}
    for node_id, node in nodes.items():
        subnet = node.description.container_subnet
        if not subnet:
            continue
        host = node.address.rpartition(":")[0].strip("[]")
        try:
            net = ipaddress.ip_network(subnet)
            gateway = ipaddress.ip_address(host)
        except ValueError:
            continue
        if net.version != 4 or not WIDEST_HOST_SUBNET <= net.prefixlen <= NARROWEST_HOST_SUBNET \
                or gateway.version != 4:
            continue
        candidates[node_id] = (net, host)
    forbidden = [OVERLAY_POOL, *local_networks]
    out: dict[str, str] = {}
    for node_id, (net, host) in candidates.items():
        if node_id == self_id:
            continue
        others = [n for other, (n, _) in candidates.items() if other != node_id]
        if any(net.overlaps(n) for n in others + forbidden if n.version == net.version):
            continue
        if any(ipaddress.ip_address(host) in n for n, _ in candidates.values()):
            continue
        out[str(net)] = host
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

        with IPRoute() as ipr:
            wanted = wanted_routes(nodes, self.self_id, _local_networks(ipr))
            for subnet, gateway in wanted.items():
                if self.installed.get(subnet) == gateway:
                    continue
                try:
                    # Only a route we made is ever replaced: "add" fails on one that someone else made.
                    ipr.route("replace" if subnet in self.installed else "add", dst=subnet, gateway=gateway)
                    self.installed[subnet] = gateway
                    log.info("route %s via %s", subnet, gateway)
                except Exception as exc:  # e.g. gateway not on a local segment, or a route exists
                    log.warning("cannot route %s via %s: %s", subnet, gateway, exc)
            for subnet in [s for s in self.installed if s not in wanted]:
                try:
                    ipr.route("del", dst=subnet, gateway=self.installed[subnet])
                except Exception as exc:
                    log.info("removing route %s: %s", subnet, exc)
                del self.installed[subnet]


def _local_networks(ipr) -> list[Network]:
    """The networks of this host's own addresses, but its containers' bridge (which is not
    another host's to claim either: its own subnet is among the bound ones it skips)."""
    out: list[Network] = []
    for msg in ipr.get_addr():
        addr, prefix = msg.get_attr("IFA_ADDRESS"), msg.get("prefixlen")
        if addr and prefix is not None:
            try:
                net = ipaddress.ip_interface(f"{addr}/{prefix}").network
            except ValueError:
                continue
            if not net.is_loopback and not net.is_link_local:
                out.append(net)
    return out
