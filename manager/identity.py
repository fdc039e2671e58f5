"""What a node is, as the cluster knows it: the pure decision behind /shoal/nodeident/.

An agent writes its name, hostname, address and container subnet into its own info record, and
a compromised host can write anything there. The leader binds them once, the first time it sees
the node (trust on first use after the join: the host chose its name at join either way), into a
record no agent can write; from then on the cluster uses the binding and the agent's later word
changes nothing of it, except a move to a new address or a first subnet, each checked here.

No I/O: `decide` returns what to write and what was refused; manager/binder.py writes it.
"""
from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass, replace

from shoal.protos.spec_rules import NAME_RE
from shoal.protos.address_pools import NARROWEST_HOST_SUBNET, OVERLAY_POOL, WIDEST_HOST_SUBNET
from shoal.protos.node_identity import MAX_TEXT, NodeIdentity
from shoal.protos.shoal.v1 import types_pb2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What the dev cluster's dockerds use (10.214.10.0/24, .11.0/24, ...): the manager's default pool.
DEFAULT_CONTAINER_POOL = ipaddress.IPv4Network("10.214.0.0/16")
HOSTNAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}")


@dataclass(frozen=True)
class Policy:
    """container_pools: where hosts' container subnets must lie (--container-pool).
    reserved: addresses no host's container subnet may hold (the managers', etcd's)."""
    container_pools: tuple[ipaddress.IPv4Network, ...] = (DEFAULT_CONTAINER_POOL,)
    reserved: frozenset[IPAddress] = frozenset()


def policy(pools: tuple[ipaddress.IPv4Network, ...], own_addresses: tuple[str, ...]) -> Policy:
    """own_addresses: HOST:PORT or URLs (this manager's --listen/--advertise, the etcd endpoints);
    those whose host is an IP literal are kept out of every host's container subnet."""
    reserved = set()
    for text in own_addresses:
        host = text.split("://", 1)[-1].split("/", 1)[0].rpartition(":")[0].strip("[]")
        ip = _ip(host)
        if ip is not None:
            reserved.add(ip)
    return Policy(container_pools=pools, reserved=frozenset(reserved))


def claim_of(node: types_pb2.Node) -> NodeIdentity:
    """What a node's info record claims, in the shape of a binding (compared field by field)."""
    return NodeIdentity(name=node.name, hostname=node.description.hostname, address=node.address,
                        container_subnet=node.description.container_subnet)


class Bound:
    """Every binding and name guard, indexed so that a decision costs O(log nodes), not a scan of
    every node: who holds an address, the recorded subnets as sorted ranges (pairwise disjoint,
    as this module records them) and the nodes' IPv4 addresses, sorted."""

    def __init__(self) -> None:
        self.idents: dict[str, tuple[NodeIdentity, int]] = {}   # node id -> (binding, mod revision)
        self.names: dict[str, str] = {}                          # name -> node id
        self._address: dict[str, set[str]] = {}
        self._subnets: list[tuple[int, int, str]] = []           # (first, last address, node id)
        self._hosts: list[tuple[int, str]] = []                  # (IPv4 address, node id)

    def copy(self) -> Bound:
        other = Bound()
        other.idents = dict(self.idents)
        other.names = dict(self.names)
        other._address = {k: set(v) for k, v in self._address.items()}
        other._subnets = list(self._subnets)
        other._hosts = list(self._hosts)
        return other

    def put(self, node_id: str, ident: NodeIdentity, revision: int) -> None:
        self.drop(node_id)
        self.idents[node_id] = (ident, revision)
        self._address.setdefault(ident.address, set()).add(node_id)
        subnet, host = _ranges(node_id, ident)
        if subnet is not None:
            bisect.insort(self._subnets, subnet)
        if host is not None:
            bisect.insort(self._hosts, host)

    def drop(self, node_id: str) -> None:
        entry = self.idents.pop(node_id, None)
        if entry is None:
            return
        holders = self._address.get(entry[0].address)
        if holders is not None:
            holders.discard(node_id)
            if not holders:
                del self._address[entry[0].address]
        subnet, host = _ranges(node_id, entry[0])
        for table, item in ((self._subnets, subnet), (self._hosts, host)):
            if item is not None:
                i = bisect.bisect_left(table, item)
                if i < len(table) and table[i] == item:
                    del table[i]

    def address_holder(self, address: str, other_than: str) -> str | None:
        return next((n for n in sorted(self._address.get(address, ())) if n != other_than), None)

    def subnet_overlapping(self, net: ipaddress.IPv4Network, other_than: str) -> str | None:
        """A node (not `other_than`) whose recorded subnet overlaps net."""
        first, last = int(net.network_address), int(net.broadcast_address)
        # Disjoint ranges sorted by start: of those starting before net ends, the last ends latest.
        i = bisect.bisect_right(self._subnets, (last, _MAX, "")) - 1
        while i >= 0 and self._subnets[i][1] >= first:
            if self._subnets[i][2] != other_than:
                return self._subnets[i][2]
            i -= 1
        return None

    def host_in(self, net: ipaddress.IPv4Network, other_than: str) -> str | None:
        """A node (not `other_than`) whose address lies in net."""
        first, last = int(net.network_address), int(net.broadcast_address)
        i = bisect.bisect_left(self._hosts, (first, ""))
        while i < len(self._hosts) and self._hosts[i][0] <= last:
            if self._hosts[i][1] != other_than:
                return self._hosts[i][1]
            i += 1
        return None


_MAX = 1 << 130


def _ranges(node_id: str, ident: NodeIdentity) -> tuple[tuple[int, int, str] | None, tuple[int, str] | None]:
    subnet = host = None
    try:
        net = ipaddress.ip_network(ident.container_subnet, strict=False) if ident.container_subnet else None
    except ValueError:
        net = None
    if isinstance(net, ipaddress.IPv4Network):
        subnet = (int(net.network_address), int(net.broadcast_address), node_id)
    ip = _ip(ident.host)
    if isinstance(ip, ipaddress.IPv4Address):
        host = (int(ip), node_id)
    return subnet, host


@dataclass(frozen=True)
class Decision:
    ident: NodeIdentity | None = None   # what to write to nodeident/<id>; None: nothing
    first: bool = False                 # a new binding: nodeident/<id> and nodenames/<name> are created
    revision: int = 0                   # an update: the nodeident mod revision it compares
    refused: tuple[str, ...] = ()       # what of the node's report is not taken, and why


def decide(node_id: str, claim: NodeIdentity, bound: Bound, policy: Policy) -> Decision:
    """What the leader does about what a node's info record claims (claim_of), given every binding."""
    entry = bound.idents.get(node_id)
    if entry is None:
        return _first(node_id, claim, bound, policy)
    ident, revision = entry
    refused: list[str] = []
    if claim.name != ident.name:
        refused.append(f'name "{_show(claim.name)}": the node is bound to "{ident.name}"')
    if _hostname(claim.hostname) != ident.hostname:
        refused.append(f'hostname "{_show(claim.hostname)}": the node is bound to "{ident.hostname}"')
    new = ident
    if claim.address != ident.address:
        why = address_refusal(claim.address, node_id, bound, policy)
        if why:
            refused.append(why)
        else:
            new = replace(new, address=claim.address)
    subnet = claim.container_subnet
    if subnet and not ident.container_subnet:
        # A subnet is taken once: a host that had none, or had one refused, may get one later.
        taken, why = subnet_check(subnet, node_id, new, bound, policy)
        if why:
            refused.append(why)
        else:
            new = replace(new, container_subnet=taken)
    elif subnet != ident.container_subnet and (subnet or ident.container_subnet):
        refused.append(f"container subnet {_show(subnet) or '(none)'}: the node is bound to "
                       f"{ident.container_subnet}")
    if new == ident:
        return Decision(refused=tuple(refused))
    return Decision(ident=new, revision=revision, refused=tuple(refused))


def _first(node_id: str, claim: NodeIdentity, bound: Bound, policy: Policy) -> Decision:
    name = claim.name
    if not NAME_RE.fullmatch(name):
        why = f'name "{_show(name)}" is not a node name ([a-zA-Z0-9][a-zA-Z0-9_.-], at most 63 characters)'
        return Decision(refused=(why,))
    holder = bound.names.get(name)
    if holder is not None and holder != node_id:
        return Decision(refused=(f"name {name} is taken by node {holder}",))
    why = address_refusal(claim.address, node_id, bound, policy)
    if why:
        return Decision(refused=(why,))
    ident = NodeIdentity(name=name, hostname=_hostname(claim.hostname), address=claim.address)
    refused = []
    if claim.hostname and not ident.hostname:
        refused.append(f'hostname "{_show(claim.hostname)}" is not a host name: bound without one')
    if claim.container_subnet:
        taken, why = subnet_check(claim.container_subnet, node_id, ident, bound, policy)
        if why:
            refused.append(why)
        else:
            ident = replace(ident, container_subnet=taken)
    return Decision(ident=ident, first=True, refused=tuple(refused))


def address_refusal(address: str, node_id: str, bound: Bound, policy: Policy) -> str:
    """Why `address` cannot be the node's (""; it can): it must be HOST:PORT, held by no other
    node (live or down: the manager dials it expecting this node's certificate) and outside the
    pools (other hosts route to the node's subnet via it)."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or len(address) > MAX_TEXT \
            or not address.isprintable() or any(c.isspace() for c in address):
        return f'address "{_show(address)}" is not HOST:PORT'
    other = bound.address_holder(address, node_id)
    if other is not None:
        return f"address {address} is registered to node {other}"
    ip = _ip(host)
    if ip is not None:
        for pool in (*policy.container_pools, OVERLAY_POOL):
            if ip.version == pool.version and ip in pool:
                return f"address {address} is inside the pool {pool}"
    return ""


def subnet_check(text: str, node_id: str, own: NodeIdentity, bound: Bound, policy: Policy) -> tuple[str, str]:
    """(the subnet as recorded, "") when the node may have it routed to it; ("", why) when not.
    Other hosts route exactly this subnet to the node: it must be a container subnet from the
    pool, of one node only, and hold no address the cluster itself needs (`own`: the node's own
    binding as it will be, whose address counts too)."""
    shown = _show(text)
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return "", f'container subnet "{shown}" is not a network: no subnet recorded'
    if not isinstance(net, ipaddress.IPv4Network):
        return "", f"container subnet {shown} is not IPv4: no subnet recorded"
    if net.prefixlen < WIDEST_HOST_SUBNET:
        return "", f"container subnet {net} is wider than /{WIDEST_HOST_SUBNET}: no subnet recorded"
    if net.prefixlen > NARROWEST_HOST_SUBNET:
        return "", f"container subnet {net} is narrower than /{NARROWEST_HOST_SUBNET}: no subnet recorded"
    if not any(net.subnet_of(pool) for pool in policy.container_pools):
        pools = ", ".join(str(p) for p in policy.container_pools)
        return "", f"container subnet {net} is outside the container pool ({pools}): no subnet recorded"
    if net.overlaps(OVERLAY_POOL):
        return "", f"container subnet {net} overlaps the overlay networks' pool {OVERLAY_POOL}: no subnet recorded"
    other = bound.subnet_overlapping(net, node_id)
    if other is not None:
        return "", (f"container subnet {net} overlaps node {other}'s {bound.idents[other][0].container_subnet}: "
                    f"no subnet recorded")
    own_ip = _ip(own.host)
    other = node_id if own_ip is not None and own_ip in net else bound.host_in(net, node_id)
    if other is not None:
        return "", f"container subnet {net} holds the address of node {other}: no subnet recorded"
    for ip in sorted(policy.reserved, key=str):
        if ip in net:
            return "", f"container subnet {net} holds {ip}, a manager's or etcd's address: no subnet recorded"
    return str(net), ""


def unbound_note(node_id: str, claim: NodeIdentity, bound: Bound, policy: Policy) -> str:
    """Why a node has no binding yet: what `node ls` says of it until it has one."""
    decision = _first(node_id, claim, bound, policy)
    if decision.ident is None:
        return "not bound: " + "; ".join(decision.refused) + " (no placements until an admin resolves it)"
    return "not bound yet: waiting for the leader (no placements until then)"


def _hostname(text: str) -> str:
    return text if HOSTNAME_RE.fullmatch(text) else ""


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _show(text: str, limit: int = 80) -> str:
    shown = text[:limit].encode("unicode_escape").decode("ascii")
    return shown + ("..." if len(text) > limit else "")
