"""Network plumbing of dev/test hosts on one machine (pyroute2).

A test "host" is a network namespace joined to a bridge in the root namespace
by a veth pair::

    root ns:   <name>-br (bridge, 10.213.7.1/24) --- <name>-h1 (veth)
                                                          |
    netns <name>-h1:                                  eth0 10.213.7.11/24, lo up,
                                                      default via 10.213.7.1

Everything here is addressed by the names the caller created, and every
removal is tolerant of the object being gone already.  Nothing here touches
interfaces or namespaces it was not given the name of.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass

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
