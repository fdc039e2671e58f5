"""Network plumbing of dev/test hosts on one machine (pyroute2).

A test "host" is a network namespace joined to a bridge in the root namespace
by a veth pair::

    root ns:   <name>-br (bridge, 10.213.7.1/24) --- <name>-h1 (veth)
                                                          |
    netns <name>-h1:                                  eth0 10.213.7.11/24, lo up,
                                                      default via 10.213.7.1

Everything here is addressed by the names the caller created, and every
removal is tolerant of the object being gone already.  Nothing here touches
interfaces or namespaces it was not given the name of, nor routes it did not
make (ROUTE_PROTO marks them).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

NETNS_DIR = "/run/netns"
IFNAMSIZ = 15  # usable characters of a Linux interface name

__all__ = [
    "DevHostsError",
    "HostNet",
    "IFNAMSIZ",
    "NETNS_DIR",
    "check_ifname",
    "netns_path",
    "netns_exists",
    "link_exists",
    "create_bridge",
    "create_host",
    "delete_host",
    "delete_link",
    "delete_netns",
    "links_with_prefix",
    "netns_with_prefix",
    "bridge_forward_rule",
    "ensure_bridge_forwarding",
    "remove_bridge_forwarding",
    "ROUTE_PROTO",
    "add_container_routes",
    "forward_rules",
    "remove_container_routes",
]


class DevHostsError(RuntimeError):
    pass


@dataclass(frozen=True)
class HostNet:
    """What one host's plumbing consists of (all names we create)."""

    netns: str  # name under /run/netns
    veth: str  # root-namespace end, enslaved to the bridge
    ip: str  # address of eth0 inside the netns
    prefixlen: int
    gateway: str  # the bridge's address
    inner_ifname: str = "eth0"


def check_ifname(name: str) -> str:
    if not name or len(name) > IFNAMSIZ or "/" in name or any(c.isspace() for c in name):
        raise DevHostsError(f"bad interface name {name!r} (1..{IFNAMSIZ} chars, no '/' or blanks)")
    return name


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def netns_exists(name: str) -> bool:
    return name in netns.listnetns()


def netns_with_prefix(prefix: str) -> list[str]:
    return sorted(n for n in netns.listnetns() if n.startswith(prefix))


def _ifindex(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return _ifindex(ipr, name) is not None


def links_with_prefix(prefix: str) -> list[str]:
    """Interface names in the root namespace that start with prefix."""
    with IPRoute() as ipr:
        names = [m.get_attr("IFLA_IFNAME") for m in ipr.get_links()]
    return sorted(n for n in names if n and n.startswith(prefix))


def create_bridge(name: str, address: str) -> bool:
    """Create bridge `name` with `address` ("10.213.7.1/24") and bring it up.

    Returns True if this call created it, False if it existed already (then
    the address is still ensured).  Fails if `name` exists and is no bridge.
    """
    check_ifname(name)
    iface = ipaddress.ip_interface(address)
    created = False
    with IPRoute() as ipr:
        idx = _ifindex(ipr, name)
        if idx is None:
            ipr.link("add", ifname=name, kind="bridge")
            created = True
            idx = _ifindex(ipr, name)
        else:
            (link,) = ipr.get_links(idx)
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info else None
            if kind != "bridge":
                raise DevHostsError(f"interface {name} exists and is not a bridge ({kind})")
        have = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=2)
        }
        if (str(iface.ip), iface.network.prefixlen) not in have:
            ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        ipr.link("set", index=idx, state="up")
    return created


def create_host(bridge: str, host: HostNet) -> None:
    """Create netns `host.netns`, a veth pair `host.veth` <-> eth0 (inside),
    enslave the root end to `bridge`, address eth0, bring lo/eth0 up and add
    a default route via the bridge.  Refuses if the netns or veth exists."""
    check_ifname(host.veth)
    if netns_exists(host.netns):
        raise DevHostsError(f"network namespace {host.netns} exists already")
    if link_exists(host.veth):
        raise DevHostsError(f"interface {host.veth} exists already")
    netns.create(host.netns)
    try:
        with IPRoute() as ipr:
            br = _ifindex(ipr, bridge)
            if br is None:
                raise DevHostsError(f"bridge {bridge} does not exist")
            ipr.link(
                "add",
                ifname=host.veth,
                kind="veth",
                peer={"ifname": host.inner_ifname, "net_ns_fd": host.netns},
            )
            idx = _ifindex(ipr, host.veth)
            ipr.link("set", index=idx, master=br)
            ipr.link("set", index=idx, state="up")
        with IPRoute(netns=host.netns, flags=0) as ns:
            lo = _ifindex(ns, "lo")
            ns.link("set", index=lo, state="up")
            eth = _ifindex(ns, host.inner_ifname)
            if eth is None:
                raise DevHostsError(f"{host.inner_ifname} did not appear in netns {host.netns}")
            ns.addr("add", index=eth, address=host.ip, prefixlen=host.prefixlen)
            ns.link("set", index=eth, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=host.gateway)
    except Exception:
        delete_host(host)
        raise


def delete_link(name: str) -> bool:
    """Delete root-namespace interface `name`; False if it was not there."""
    with IPRoute() as ipr:
        idx = _ifindex(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except NetlinkError as e:
            if e.code == 19:  # ENODEV: gone meanwhile
                return False
            raise
    return True


def delete_netns(name: str) -> bool:
    """Remove the named netns (its veth end and anything else inside goes with
    it once no process holds the namespace); False if it was not there."""
    path = netns_path(name)
    if not os.path.exists(path):
        return False
    netns.remove(name)
    return True


def delete_host(host: HostNet) -> None:
    # deleting the root end removes the pair even while something still
    # holds the namespace open
    delete_link(host.veth)
    delete_netns(host.netns)


# -- forwarding on the bridge --------------------------------------------------
#
# Traffic between two hosts is bridged in the root namespace.  With
# br_netfilter loaded and bridge-nf-call-iptables=1, bridged IPv4 frames pass
# the iptables FORWARD chain, so a FORWARD policy of DROP (which any dockerd
# started with --iptables=true sets) silently drops host-to-host traffic.
# We never change the policy; if it is not ACCEPT we insert one rule that
# accepts traffic within our bridge, and remove exactly that rule later.


def bridge_forward_rule(bridge: str) -> list[str]:
    return [
        "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT",
        "-m", "comment", "--comment", f"shoal-dev {bridge}",
    ]  # fmt: skip


def _iptables() -> str | None:
    return shutil.which("iptables")


def _forward_needs_rule() -> bool:
    ipt = _iptables()
    if ipt is None:
        return False
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            if f.read().strip() == "0":
                return False
    except OSError:
        return False  # br_netfilter not loaded: bridged frames skip iptables
    out = subprocess.run([ipt, "-S", "FORWARD"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return False
    return "-P FORWARD ACCEPT" not in out.stdout.splitlines()


def ensure_bridge_forwarding(bridge: str) -> bool:
    """Insert the accept rule for `bridge` if the FORWARD chain would drop
    bridged traffic.  Returns True if a rule was inserted (the caller records
    that and later calls remove_bridge_forwarding)."""
    if not _forward_needs_rule():
        return False
    ipt = _iptables()
    rule = bridge_forward_rule(bridge)
    if subprocess.run([ipt, "-C", *rule], capture_output=True, timeout=30).returncode == 0:
        return True
    r = subprocess.run([ipt, "-I", *rule], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise DevHostsError(f"iptables -I {' '.join(rule)}: {r.stderr.strip()}")
    return True


def remove_bridge_forwarding(bridge: str) -> None:
    ipt = _iptables()
    if ipt is None:
        return
    rule = bridge_forward_rule(bridge)
    for _ in range(10):  # remove duplicates, if any
        if subprocess.run([ipt, "-D", *rule], capture_output=True, timeout=30).returncode != 0:
            break


# -- routes back to the containers, and nothing past the machine ---------------------
#
# A host's containers (dockerd's --bip subnet, inside the host) talk to the bridge address, the
# root namespace's own; with no route back to their subnet, the root namespace answered them by
# its default route, off the machine. So in the root namespace: each host's container subnet is
# routed via that host's address on the bridge, the rest of the address pools is unreachable, and
# what comes in from the bridge is forwarded into the pools only (where ip_forward is on, a host
# would otherwise reach past the machine through it). Every route made here carries ROUTE_PROTO,
# every rule names our bridge, and nothing else is ever removed.

ROUTE_PROTO = 213   # rtnetlink's protocol field: 0-4 are the kernel's; iproute2 names no 213
KEEP_PROTO = 214    # the machine's own resolvers inside a pool: kept reachable the way they were
RESOLV_CONF = "/etc/resolv.conf"
FORWARD_RULE_PRIORITY = 30213   # and +1: after `local` (0), before `main` (32766)
ROUTES_LOCK = "/run/shoal-dev-routes.lock"   # the pools' routes are shared by every dev cluster
MAIN_TABLE = 254
RTN_UNICAST, RTN_UNREACHABLE = 1, 7
FR_ACT_TO_TBL, FR_ACT_UNREACHABLE = 1, 7
ESRCH, ENOENT = 3, 2


@contextlib.contextmanager
def _routes_lock() -> Iterator[None]:
    fd = os.open(ROUTES_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _main_routes(ipr: IPRoute) -> list[Any]:
    return list(ipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE))


def _prefix(route: Any) -> str:
    return f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}"


def _describe(route: Any) -> str:
    via = route.get_attr("RTA_GATEWAY")
    return f"{_prefix(route)} type {route['type']} proto {route['proto']}" + (f" via {via}" if via else "")


def _bridge_rules(ipr: IPRoute, bridge: str) -> list[Any]:
    return [r for r in ipr.get_rules(family=socket.AF_INET)
            if r.get_attr("FRA_IIFNAME") == bridge
            and r.get_attr("FRA_PRIORITY") in (FORWARD_RULE_PRIORITY, FORWARD_RULE_PRIORITY + 1)]


def _rule(priority: int, action: int, dst: str | None = None, dst_len: int = 0) -> tuple[int, int, str | None, int]:
    return (priority, action, dst, dst_len)


def _rule_of(rule: Any) -> tuple[int, int, str | None, int]:
    return _rule(rule.get_attr("FRA_PRIORITY"), rule["action"], rule.get_attr("FRA_DST"), rule["dst_len"])


def forward_rules(pools: list[str]) -> list[tuple[int, int, str | None, int]]:
    """What comes in from the bridge to be forwarded: into a pool by the main table (a host's
    container subnet, or unreachable), anything else unreachable."""
    into = [_rule(FORWARD_RULE_PRIORITY, FR_ACT_TO_TBL, str(n.network_address), n.prefixlen)
            for n in map(ipaddress.ip_network, pools)]
    return [*into, _rule(FORWARD_RULE_PRIORITY + 1, FR_ACT_UNREACHABLE)]


def resolvers(text: str) -> list[str]:
    """The IPv4 nameservers of a resolv.conf."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                found.append(str(ipaddress.IPv4Address(parts[1])))
            except ValueError:
                continue   # IPv6 or junk: the pools are IPv4
    return found


def in_pools(addresses: list[str], pools: list[str]) -> list[str]:
    nets = [ipaddress.ip_network(p) for p in pools]
    return [a for a in addresses if any(ipaddress.ip_address(a) in n for n in nets)]


def _machine_resolvers() -> list[str]:
    try:
        with open(RESOLV_CONF) as f:
            return resolvers(f.read())
    except OSError:
        return []


def _keep_reachable(ipr: IPRoute, addresses: list[str], routes: list[Any]) -> None:
    """A /32 route for each address the way the kernel routes it now, before a pool's unreachable
    route would swallow it. Seen here: the overlay pool 10.240.0.0/12 holds this machine's
    resolver (10.255.255.53), and the blackhole took the machine's DNS with it."""
    for address in addresses:
        if any(_prefix(r) == f"{address}/32" for r in routes):
            continue
        try:
            now = ipr.route("get", dst=address)[0]
        except (NetlinkError, IndexError):
            continue   # no way there now: nothing to keep
        if now["type"] != RTN_UNICAST:
            continue
        via, oif = now.get_attr("RTA_GATEWAY"), now.get_attr("RTA_OIF")
        ipr.route("add", dst=f"{address}/32", oif=oif, proto=KEEP_PROTO, table=MAIN_TABLE,
                  **({"gateway": via} if via else {}))


def add_container_routes(bridge: str, subnets: dict[str, str], pools: list[str]) -> None:
    """Routes over `bridge` to each host's container subnet (subnet -> that host's address), an
    unreachable route for each pool with no route of exactly its prefix yet (one there already,
    ours or not, is left as it is; the machine's resolvers inside a pool keep a /32 route the way
    they were reached), and `bridge`'s forwarding rules. Idempotent. Refuses a subnet
    routed elsewhere already: its containers' replies would go there."""
    with _routes_lock(), IPRoute() as ipr:
        br = _ifindex(ipr, bridge)
        if br is None:
            raise DevHostsError(f"bridge {bridge} does not exist")
        routes = _main_routes(ipr)
        _keep_reachable(ipr, in_pools(_machine_resolvers(), pools), routes)
        for pool in pools:
            if not any(_prefix(r) == pool for r in routes):
                ipr.route("add", dst=pool, type=RTN_UNREACHABLE, proto=ROUTE_PROTO, table=MAIN_TABLE)
        for subnet, via in subnets.items():
            have = [r for r in routes if _prefix(r) == subnet]
            if any(r.get_attr("RTA_GATEWAY") == via and r.get_attr("RTA_OIF") == br for r in have):
                continue
            if have:
                raise DevHostsError(f"{subnet} is routed already ({_describe(have[0])}): its containers' replies "
                                    "would go there (another network, or a dev cluster with the same docker_bip_base?)")
            ipr.route("add", dst=subnet, gateway=via, oif=br, proto=ROUTE_PROTO, table=MAIN_TABLE)
        present = {_rule_of(r) for r in _bridge_rules(ipr, bridge)}
        for priority, action, dst, dst_len in forward_rules(pools):
            if (priority, action, dst, dst_len) not in present:
                where = {"dst": dst, "dst_len": dst_len, "table": MAIN_TABLE} if dst else {}
                ipr.rule("add", iifname=bridge, priority=priority, action=action, **where)


def remove_container_routes(bridge: str, pools: list[str]) -> None:
    """Our routes over `bridge` and its rules; then the pools' unreachable routes that a dev
    cluster made, once no other dev cluster's routes remain. Tolerant of all of it being gone."""
    pool_set = set(pools)
    with _routes_lock(), IPRoute() as ipr:
        br = _ifindex(ipr, bridge)
        for rule in _bridge_rules(ipr, bridge):
            _tolerant(ipr.rule, "del", iifname=bridge, priority=rule.get_attr("FRA_PRIORITY"), action=rule["action"],
                      table=rule.get_attr("FRA_TABLE"), dst=rule.get_attr("FRA_DST"), dst_len=rule["dst_len"])
        ours = [r for r in _main_routes(ipr) if r["proto"] == ROUTE_PROTO]
        for r in ours:
            if br is not None and r.get_attr("RTA_OIF") == br:
                _tolerant(ipr.route, "del", dst=_prefix(r), gateway=r.get_attr("RTA_GATEWAY"), oif=br,
                          proto=ROUTE_PROTO, table=MAIN_TABLE)
        if any(r.get_attr("RTA_OIF") not in (None, br) for r in ours):
            return   # another dev cluster is up: the pools stay unreachable for it
        for r in ours:
            if _prefix(r) in pool_set and r["type"] == RTN_UNREACHABLE:
                _tolerant(ipr.route, "del", dst=_prefix(r), type=RTN_UNREACHABLE, proto=ROUTE_PROTO, table=MAIN_TABLE)
        for r in _main_routes(ipr):
            if r["proto"] == KEEP_PROTO:
                _tolerant(ipr.route, "del", dst=_prefix(r), proto=KEEP_PROTO, table=MAIN_TABLE)


def _tolerant(op: Callable[..., object], *args: object, **kwargs: object) -> None:
    try:
        op(*args, **kwargs)
    except NetlinkError as e:
        if e.code not in (ESRCH, ENOENT):   # gone meanwhile
            raise
