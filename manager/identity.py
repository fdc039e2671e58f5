"""What a node is, as the cluster knows it: the pure decision behind /shoal/nodeident/.

An agent writes its name, hostname, address and container subnet into its own info record, and
a compromised host can write anything there. The leader binds them once, the first time it sees
the node (trust on first use after the join: the host chose its name at join either way), into a
record no agent can write; from then on the cluster uses the binding and the agent's later word
changes nothing of it, except a move to a new address or a first subnet, each checked here.

No I/O: `decide` returns what to write and what was refused; manager/identity_binder.py writes it.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from manager.validation import NAME_RE
from protos.address_pools import NARROWEST_HOST_SUBNET, OVERLAY_POOL, WIDEST_HOST_SUBNET
from protos.node_identity import MAX_TEXT, NodeIdentity
from protos.shoal.v1 import types_pb2

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
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


@dataclass(frozen=True)
class Decision:
    ident: NodeIdentity | None = None   # what to write to nodeident/<id>; None: nothing
    first: bool = False                 # a new binding: nodeident/<id> and nodenames/<name> are created
    revision: int = 0                   # an update: the nodeident mod revision it compares
    refused: tuple[str, ...] = ()       # what of the node's report is not taken, and why


Bindings = Mapping[str, tuple[NodeIdentity, int]]   # node id -> (identity, mod revision)


def decide(node_id: str, reported: types_pb2.Node, bindings: Bindings, names: Mapping[str, str],
           policy: Policy) -> Decision:
    """What the leader does about a node's info record, given every binding and name guard."""
    entry = bindings.get(node_id)
    if entry is None:
        return _first(node_id, reported, bindings, names, policy)
    bound, revision = entry
    refused: list[str] = []
    if reported.name != bound.name:
        refused.append(f'name "{_show(reported.name)}": the node is bound to "{bound.name}"')
    hostname = _hostname(reported.description.hostname)
    if hostname != bound.hostname:
        refused.append(f'hostname "{_show(reported.description.hostname)}": the node is bound to '
                       f'"{bound.hostname}"')
    new = bound
    if reported.address != bound.address:
        why = address_refusal(reported.address, node_id, bindings, policy)
        if why:
            refused.append(why)
        else:
            new = replace(new, address=reported.address)
    subnet = reported.description.container_subnet
    if subnet and not bound.container_subnet:
        # A subnet is taken once: a host that had none, or had one refused, may get one later.
        taken, why = subnet_check(subnet, node_id, _with(bindings, node_id, new), policy)
        if why:
            refused.append(why)
        else:
            new = replace(new, container_subnet=taken)
    elif subnet != bound.container_subnet and (subnet or bound.container_subnet):
        refused.append(f"container subnet {_show(subnet) or '(none)'}: the node is bound to "
                       f"{bound.container_subnet}")
    if new == bound:
        return Decision(refused=tuple(refused))
    return Decision(ident=new, revision=revision, refused=tuple(refused))


def _first(node_id: str, reported: types_pb2.Node, bindings: Bindings, names: Mapping[str, str],
           policy: Policy) -> Decision:
    name = reported.name
    if not NAME_RE.fullmatch(name):
        why = f'name "{_show(name)}" is not a node name ([a-zA-Z0-9][a-zA-Z0-9_.-], at most 63 characters)'
        return Decision(refused=(why,))
    holder = names.get(name)
    if holder is not None and holder != node_id:
        return Decision(refused=(f"name {name} is taken by node {holder}",))
    why = address_refusal(reported.address, node_id, bindings, policy)
    if why:
        return Decision(refused=(why,))
    ident = NodeIdentity(name=name, hostname=_hostname(reported.description.hostname), address=reported.address)
    refused = []
    if reported.description.hostname and not ident.hostname:
        refused.append(f'hostname "{_show(reported.description.hostname)}" is not a host name: bound without one')
    subnet = reported.description.container_subnet
    if subnet:
        taken, why = subnet_check(subnet, node_id, _with(bindings, node_id, ident), policy)
        if why:
            refused.append(why)
        else:
            ident = replace(ident, container_subnet=taken)
    return Decision(ident=ident, first=True, refused=tuple(refused))


def address_refusal(address: str, node_id: str, bindings: Bindings, policy: Policy) -> str:
    """Why `address` cannot be the node's (""; it can): it must be HOST:PORT, held by no other
    node (live or down: the manager dials it expecting this node's certificate) and outside the
    pools (other hosts route to the node's subnet via it)."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or len(address) > MAX_TEXT \
            or not address.isprintable() or any(c.isspace() for c in address):
        return f'address "{_show(address)}" is not HOST:PORT'
    for other, (ident, _) in bindings.items():
        if other != node_id and ident.address == address:
            return f"address {address} is registered to node {other}"
    ip = _ip(host)
    if ip is not None:
        for pool in (*policy.container_pools, OVERLAY_POOL):
            if ip.version == pool.version and ip in pool:
                return f"address {address} is inside the pool {pool}"
    return ""


def subnet_check(text: str, node_id: str, bindings: Bindings, policy: Policy) -> tuple[str, str]:
    """(the subnet as recorded, "") when the node may have it routed to it; ("", why) when not.
    Other hosts route exactly this subnet to the node: it must be a container subnet from the
    pool, of one node only, and hold no address the cluster itself needs."""
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
    for other, (ident, _) in sorted(bindings.items()):
        if other != node_id and ident.container_subnet and _overlaps(net, ident.container_subnet):
            return "", f"container subnet {net} overlaps node {other}'s {ident.container_subnet}: no subnet recorded"
        ip = _ip(ident.host)
        if ip is not None and ip in net:
            return "", f"container subnet {net} holds the address of node {other}: no subnet recorded"
    for ip in sorted(policy.reserved, key=str):
        if ip in net:
            return "", f"container subnet {net} holds {ip}, a manager's or etcd's address: no subnet recorded"
    return str(net), ""


def unbound_note(node_id: str, reported: types_pb2.Node, bindings: Bindings, names: Mapping[str, str],
                 policy: Policy) -> str:
    """Why a node has no binding yet: what `node ls` says of it until it has one."""
    decision = _first(node_id, reported, bindings, names, policy)
    if decision.ident is None:
        return "not bound: " + "; ".join(decision.refused) + " (no placements until an admin resolves it)"
    return "not bound yet: waiting for the leader (no placements until then)"


def _hostname(text: str) -> str:
    return text if HOSTNAME_RE.fullmatch(text) else ""


def _with(bindings: Bindings, node_id: str, ident: NodeIdentity) -> dict[str, tuple[NodeIdentity, int]]:
    # Its own (new) address counts against its own subnet.
    out = dict(bindings)
    out[node_id] = (ident, out.get(node_id, (ident, 0))[1])
    return out


def _overlaps(net: ipaddress.IPv4Network, text: str) -> bool:
    try:
        return net.overlaps(ipaddress.ip_network(text, strict=False))
    except (ValueError, TypeError):
        return False


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _show(text: str, limit: int = 80) -> str:
    shown = text[:limit].encode("unicode_escape").decode("ascii")
    return shown + ("..." if len(text) > limit else "")
