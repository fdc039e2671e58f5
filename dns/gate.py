"""Which agents' DNS endpoint records a DNS server may answer with. Pure: records in, zone
updates out.

An agent writes the endpoint records of its own containers (it alone knows which run and pass
their health checks), but a compromised agent can write any record under its keys. One is served
only while the manager's records vouch for every part of it:
- it is under the lease of its node's info record (it vanishes with the node);
- /shoal/placed/<cid> says the manager placed that container on that node, under that name and
  service (the node of the key, not the one the record names, is the one compared);
- its address is inside the container subnet the manager bound to that node, or is an overlay
  address the manager's IPAM gave that container.
Any of those changing re-decides the records it touches, so a record held back while its
placement was on its way is served once it lands."""
from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Protocol

from shoal.dns.zone import Endpoint, Zone
from shoal.protos import endpoints
from shoal.protos.placements import Placed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Reports(Protocol):
    """Where a refused record is told (protos/record_log.BadRecords: counted, logged at a bounded
    rate); a protocol, so that the gate stays pure."""
    def report(self, key: str, reason: str) -> None: ...


class EndpointGate:
    def __init__(self, zone: Zone, bad: Reports):
        self.zone = zone
        self.bad = bad
        self._records: dict[str, tuple[str, str, Endpoint, int]] = {}   # key -> (node, cid, endpoint, lease)
        self._by_cid: dict[str, set[str]] = {}
        self._by_node: dict[str, set[str]] = {}
        self._leases: dict[str, int] = {}           # node -> lease of its info record
        self._subnets: dict[str, Network] = {}     # node -> the container subnet the manager bound
        self._placed: dict[str, Placed] = {}        # cid -> placement
        self._ipam: dict[tuple[str, str], str] = {}     # (network, ip) -> cid
        self._addresses: dict[str, set[str]] = {}   # cid -> its overlay addresses
        self._deferred: set[str] | None = None

    # ---- feeding ----------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (a reload follows); the zone is emptied at the next flush."""
        self.__init__(self.zone, self.bad)   # type: ignore[misc]
        self._deferred = set()

    def hold(self) -> None:
        """Collect decisions until flush() (a load: one zone update, not one per record)."""
        if self._deferred is None:
            self._deferred = set()

    def flush(self) -> None:
        if self._deferred is None:
            return
        self._deferred = None
        self.zone.replace_all(ep for key in self._records if (ep := self._verdict(key)) is not None)

    def endpoint(self, key: str, node: str, cid: str, value: bytes | None, lease: int) -> None:
        self._drop(key)
        if value is not None:
            ep = endpoints.decode(key, value)
            if ep is None:
                self.bad.report(key, "not a DNS endpoint record")
            else:
                self._records[key] = (node, cid, replace(ep, node=node), lease)
                self._by_cid.setdefault(cid, set()).add(key)
                self._by_node.setdefault(node, set()).add(key)
        self._review((key,))

    def node_lease(self, node: str, lease: int | None) -> None:
        if lease:
            self._leases[node] = lease
        else:
            self._leases.pop(node, None)
        self._review(self._by_node.get(node, ()))

    def subnet(self, node: str, cidr: str | None) -> None:
        self._subnets.pop(node, None)
        if cidr:
            try:
                self._subnets[node] = ipaddress.ip_network(cidr)
            except ValueError:
                self.bad.report(f"subnet of {node}", f"{cidr[:60]!r} is not a network")
        self._review(self._by_node.get(node, ()))

    def placement(self, cid: str, placed: Placed | None) -> None:
        if placed is None:
            self._placed.pop(cid, None)
        else:
            self._placed[cid] = placed
        self._review(self._by_cid.get(cid, ()))

    def address(self, network: str, ip: str, cid: str | None) -> None:
        old = self._ipam.pop((network, ip), None)
        if old is not None:
            self._addresses.get(old, set()).discard(ip)
            if not self._addresses.get(old):
                self._addresses.pop(old, None)
            self._review(self._by_cid.get(old, ()))
        if cid is not None:
            self._ipam[(network, ip)] = cid
            self._addresses.setdefault(cid, set()).add(ip)
            self._review(self._by_cid.get(cid, ()))

    # ---- deciding ---------------------------------------------------------
    def _drop(self, key: str) -> None:
        entry = self._records.pop(key, None)
        if entry is not None:
            node, cid, _, _ = entry
            for index, k in ((self._by_cid, cid), (self._by_node, node)):
                keys = index.get(k)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[k]

    def _verdict(self, key: str) -> Endpoint | None:
        entry = self._records.get(key)
        if entry is None:
            return None
        node, cid, ep, lease = entry
        if not lease or self._leases.get(node) != lease:
            return None
        placed = self._placed.get(cid)
        if placed is None or placed.node != node or placed.name != ep.name or placed.service != ep.service:
            return None
        if ep.ip in self._addresses.get(cid, ()):
            return ep
        subnet = self._subnets.get(node)
        try:
            inside = subnet is not None and ipaddress.ip_address(ep.ip) in subnet
        except ValueError:
            inside = False
        return ep if inside else None

    def _review(self, keys) -> None:
        if self._deferred is not None:
            self._deferred.update(keys)
            return
        for key in list(keys):
            ep = self._verdict(key)
            if ep is None:
                self.zone.remove(key)
            else:
                self.zone.put(ep)

    def rejected(self) -> list[str]:
        """Keys of the records held back now (for tests and `shoal node inspect`-style reports)."""
        return sorted(k for k in self._records if self._verdict(k) is None)
