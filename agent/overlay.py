"""Overlay networks on one host: a bridge and a VXLAN device per network, and a veth into
each member container's network namespace (plumbed as a CNI plugin would).

Broadcast and unknown traffic of a network is flooded to every other host (one FDB entry
per peer); the VXLAN device learns where each container's MAC lives from what arrives.
It drives iproute2's `ip` and `bridge` commands: entering a container's namespace from a
threaded asyncio program is what they do reliably (pyroute2's NetNS forks a helper that
did not survive that here). Everything is blocking; the agent calls it in a thread.
"""
from __future__ import annotations

import ipaddress
import logging
import secrets
import subprocess
import threading
import time

log = logging.getLogger("shoal.agent.overlay")

VXLAN_PORT = 4789
# VXLAN adds 50 bytes; the overlay MTU leaves room for them on a 1500-byte underlay.
MTU = 1450
COMMAND_TIMEOUT = 10
# A network's devices outlive its last container by this much: a container being created
# right now may not be in the list that decided the network was unused.
PRUNE_GRACE_SECONDS = 30


class OverlayError(Exception):
    pass


def bridge_name(vni: int) -> str:
    return f"shb{vni}"


def vxlan_name(vni: int) -> str:
    return f"shx{vni}"


def _run(*argv: str, ok_if: str = "") -> None:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if r.returncode != 0 and not (ok_if and ok_if in r.stderr):
        raise OverlayError(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")


def _exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True,
                          timeout=COMMAND_TIMEOUT).returncode == 0


class Overlay:
    def __init__(self, local_ip: str):
        self.local_ip = local_ip
        self.peers: set[str] = set()
        self.networks: set[int] = set()
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def ensure_network(self, vni: int) -> None:
        with self._lock:
            br, vx = bridge_name(vni), vxlan_name(vni)
            if not _exists(br):
                _run("ip", "link", "add", br, "mtu", str(MTU), "type", "bridge", ok_if="File exists")
            if not _exists(vx):
                _run("ip", "link", "add", vx, "mtu", str(MTU), "type", "vxlan", "id", str(vni), "local", self.local_ip,
                     "dstport", str(VXLAN_PORT), "learning", ok_if="File exists")
            _run("ip", "link", "set", vx, "master", br, "up")
            _run("ip", "link", "set", br, "up")
            for peer in self.peers:
                _run("bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vx, "dst", peer, ok_if="File exists")
            self.networks.add(vni)
            self._touched[vni] = time.monotonic()

    def set_peers(self, peers: set[str]) -> None:
        """The other hosts' addresses: every network floods to all of them."""
        peers = {p for p in peers if p != self.local_ip}
        with self._lock:
            for vni in list(self.networks):
                vx = vxlan_name(vni)
                if not _exists(vx):
                    self.networks.discard(vni)
                    continue
                for peer in peers - self.peers:
                    _run("bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vx, "dst", peer, ok_if="File exists")
                for peer in self.peers - peers:
                    try:
                        _run("bridge", "fdb", "del", "00:00:00:00:00:00", "dev", vx, "dst", peer)
                    except OverlayError as exc:
                        log.info("removing flood entry to %s: %s", peer, exc)
            self.peers = peers

    def attach(self, pid: int, vni: int, ip: str, subnet: str, ifname: str) -> None:
        """Gives the container (by its process) an interface on the network; idempotent."""
        prefix = ipaddress.ip_network(subnet).prefixlen
        inside = ["nsenter", f"--net=/proc/{pid}/ns/net"]
        # Also after an agent restart: the network's devices and flood list are ours again.
        self.ensure_network(vni)
        probe = subprocess.run([*inside, "ip", "link", "show", "dev", ifname], capture_output=True,
                               timeout=COMMAND_TIMEOUT)
        if probe.returncode == 0:
            return
        host_end, temp = f"shv{secrets.token_hex(5)}", f"shp{secrets.token_hex(5)}"
        with self._lock:
            _run("ip", "link", "add", host_end, "mtu", str(MTU), "type", "veth", "peer", "name", temp)
            try:
                _run("ip", "link", "set", host_end, "master", bridge_name(vni), "up")
                _run("ip", "link", "set", temp, "netns", str(pid))
            except OverlayError:
                _run("ip", "link", "del", host_end, ok_if="Cannot find")
                raise
        _run(*inside, "ip", "link", "set", temp, "name", ifname, "mtu", str(MTU))
        _run(*inside, "ip", "addr", "add", f"{ip}/{prefix}", "dev", ifname)
        _run(*inside, "ip", "link", "set", ifname, "up")

    def prune(self, in_use: set[int]) -> None:
        """Removes the devices of networks no container on this host is on any more."""
        with self._lock:
            now = time.monotonic()
            for vni in sorted(self.networks - in_use):
                if now - self._touched.get(vni, 0.0) < PRUNE_GRACE_SECONDS:
                    continue
                for name in (vxlan_name(vni), bridge_name(vni)):
                    if _exists(name):
                        _run("ip", "link", "del", name, ok_if="Cannot find")
                self.networks.discard(vni)
                log.info("removed overlay devices of VXLAN %d", vni)
