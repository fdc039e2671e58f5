"""The cluster's DNS zone: endpoint records and the answering logic, kept pure.

No sockets, no asyncio, no files: :class:`Zone` is an in-memory view that a feeder
(an etcd watch) keeps current with :meth:`Zone.put` / :meth:`Zone.remove` /
:meth:`Zone.replace_all`, and that :mod:`shoal.dns.server` asks with
:meth:`Zone.answer`.  The zone is not thread-safe: use it from one thread (the
event loop's).

Names (case-insensitive, trailing dot optional, ``D`` = the domain, "shoal" by default):

=================================  ================================================
``SERVICE``, ``SERVICE.D``         A/AAAA of every healthy endpoint of the service,
``tasks.SERVICE[.D]``              rotated round-robin per answer
``NAME``, ``NAME.D``               a container (``db``) or task (``web.3``) by name
``_PORT._tcp.SERVICE[.D]``         SRV per healthy endpoint exposing that port (by
``_PORT._udp.SERVICE[.D]``         name ``_http`` or number ``_8080``); the targets'
                                   addresses go in :attr:`Answer.additional`
``D``                              SOA and NS (``ns.D.``)
=================================  ================================================

When a name could mean several things, the first of service, container/task
name, ``tasks.`` prefix, SRV form wins.  The SRV form also accepts a container
name in place of the service; an SRV name for a port that no endpoint of a known
service exposes is NXDOMAIN (even without the domain suffix).  Record owner
names are lower case and fully qualified as asked ("web." for "web").

A name that exists but has no healthy endpoint (or no record of the asked type)
is NODATA: NOERROR, no records, the SOA in :attr:`Answer.authority`.  An unknown name inside the domain, or an unknown single
label, is NXDOMAIN with the SOA.  Any other name with a dot is not ours:
``in_zone=False`` and the server forwards it.

Each name ("node": a service, or a container/task name) keeps its healthy
endpoints sorted and its record sets built on first use; a put or remove drops
only the nodes of that endpoint, so answering costs a few dict look-ups and no
scan of the endpoints.  Round-robin: each answer for a node starts one record
further along (one counter per node, shared by every spelling of its name).
Record sets of at most ``ROTATION_CACHE_MAX`` records are answered with one
cached :class:`Answer` object per rotation step, so a repeated answer is the
*same* object until the zone changes (the server keys its encoded-packet cache
on that); larger sets get a fresh Answer per call (an O(n) tuple copy), as
caching every step would cost memory quadratic in n.  :attr:`Zone.generation`
counts the changes.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from shoal.protos.endpoints import Endpoint, Port

__all__ = ["ROTATION_CACHE_MAX", "Answer", "Endpoint", "Port", "Record", "Zone"]

SOA_REFRESH = 3600
SOA_RETRY = 600
SOA_EXPIRE = 86400
SRV_PRIORITY = 0
SRV_WEIGHT = 10
# Record sets up to this size get one cached Answer object per rotation step.
ROTATION_CACHE_MAX = 32
MAX_CACHED_ANSWERS = 1024   # per name (node): spellings x types x steps

_ADDRESS_TYPES = frozenset({"A", "AAAA", "ANY"})
_SRV_TYPES = frozenset({"SRV", "ANY"})


@dataclass(frozen=True, slots=True)
class Record:
    name: str               # owner name, lower case, fully qualified (trailing dot)
    rtype: str              # "A", "AAAA", "SRV", "SOA", "NS"
    ttl: int
    # A/AAAA: "10.0.0.5"; SRV: (priority, weight, port, target); NS: "ns.shoal.";
    # SOA: (mname, rname, serial, refresh, retry, expire, minimum)
    data: str | tuple


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: str                          # "NOERROR" | "NXDOMAIN" ("REFUSED" is the server's, never the zone's)
    records: tuple[Record, ...] = ()    # the answer section
    authority: tuple[Record, ...] = ()  # the SOA on NXDOMAIN and on NODATA
    in_zone: bool = True                # False: not our name, the server forwards it
    additional: tuple[Record, ...] = ()  # SRV targets' A/AAAA records


_OUT_OF_ZONE = Answer("NOERROR", (), (), False)

# A node is ("svc", service) or ("name", container-or-task name), both lower case.
_Node = tuple[str, str]


def _address(ip: str) -> tuple[str, str] | None:
    """("A" | "AAAA", canonical text) for a valid IP, else None."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    return ("A" if addr.version == 4 else "AAAA", addr.compressed)


def _label(name: str) -> str:
    """A container/service name as the zone indexes it: lower case, no trailing dot."""
    return name.strip().rstrip(".").lower()


def _sort_key(ep: Endpoint) -> tuple:
    addr = _address(ep.ip)
    numeric = int(ipaddress.ip_address(addr[1])) if addr else -1
    return (addr is None, addr[0] if addr else "", numeric, ep.name.lower(), ep.key)


class _NodeView:
    """Derived, cached data of one node: built on first use after a change."""

    __slots__ = ("members", "healthy", "bases", "answers", "srv")

    def __init__(self, members: dict[str, Endpoint]) -> None:
        self.members = members
        # Healthy endpoints with an address, in a stable (address, name) order.
        self.healthy: tuple[Endpoint, ...] = tuple(
            sorted((ep for ep in members.values() if ep.healthy and _address(ep.ip)), key=_sort_key))
        # (qname, qtype) -> (answer records in canonical order, additional records)
        self.bases: dict[tuple[str, str], tuple[tuple[Record, ...], tuple[Record, ...]]] = {}
        # (qname, qtype, rotation step) -> Answer, for record sets of at most ROTATION_CACHE_MAX
        self.answers: dict[tuple[str, str, int], Answer] = {}
        # (port id, protocol) -> None when no endpoint has such a port, else the healthy targets
        self.srv: dict[tuple[str, str], tuple[tuple[Endpoint, Port], ...] | None] = {}

    def remember(self, key: tuple[str, str], base: tuple[tuple[Record, ...], tuple[Record, ...]]
                 ) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
        if len(self.bases) < 64:     # bounded: a few spellings of the name times a few types
            self.bases[key] = base
        return base

    def srv_targets(self, port_id: str, proto: str) -> tuple[tuple[Endpoint, Port], ...] | None:
        key = (port_id, proto)
        if key in self.srv:
            return self.srv[key]

        def matches(port: Port) -> bool:
            return port.protocol.lower() == proto and (port.name.lower() == port_id or str(port.port) == port_id)

        # The name exists when any endpoint (healthy or not) has such a port.
        if any(matches(p) for ep in self.members.values() for p in ep.ports):
            found: tuple[tuple[Endpoint, Port], ...] | None = tuple(
                (ep, p) for ep in self.healthy if _label(ep.name) for p in ep.ports if matches(p))
        else:
            found = None
        if len(self.srv) < 64:      # bounded: port ids come from the queries
            self.srv[key] = found
        return found


class Zone:
    def __init__(self, domain: str = "shoal", ttl: int = 5) -> None:
        domain = domain.strip().rstrip(".").lower()
        if not domain or ".." in domain:
            raise ValueError(f"invalid DNS domain {domain!r}")
        if not 0 <= ttl <= 0x7FFFFFFF:
            raise ValueError(f"invalid TTL {ttl!r}")
        self.domain = domain
        self.ttl = ttl
        self._suffix = "." + domain
        self._fqdn = domain + "."
        self.generation = 0
        self._endpoints: dict[str, Endpoint] = {}
        # node -> {key: Endpoint}, every endpoint healthy or not (existence decides NODATA vs NXDOMAIN)
        self._members: dict[_Node, dict[str, Endpoint]] = {}
        self._views: dict[_Node, _NodeView] = {}
        self._rotation: dict[tuple[_Node, str], int] = {}
        self._soa_cache: tuple[int, Record, Answer, Answer] | None = None

    # ------------------------------------------------------------------ updates

    def __len__(self) -> int:
        return len(self._endpoints)

    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(self._endpoints.values())

    def put(self, ep: Endpoint) -> None:
        """Inserts the endpoint, or replaces the one with the same key."""
        old = self._endpoints.get(ep.key)
        if old == ep:
            return
        if old is not None:
            self._unlink(old)
        self._endpoints[ep.key] = ep
        self._link(ep)
        self.generation += 1

    def remove(self, key: str) -> None:
        """Removes the endpoint with this key; an unknown key is ignored."""
        old = self._endpoints.pop(key, None)
        if old is not None:
            self._unlink(old)
            self.generation += 1

    def replace_all(self, eps: Iterable[Endpoint]) -> None:
        """Makes the zone hold exactly these endpoints (the last one wins for a repeated key).

        Applied as a difference, so the caches of unchanged names stay warm."""
        wanted = {ep.key: ep for ep in eps}
        for key in [k for k in self._endpoints if k not in wanted]:
            self.remove(key)
        for ep in wanted.values():
            self.put(ep)

    @staticmethod
    def _nodes(ep: Endpoint) -> list[_Node]:
        nodes: list[_Node] = []
        name = _label(ep.name)
        if name:
            nodes.append(("name", name))
        service = _label(ep.service)
        if service:
            nodes.append(("svc", service))
        return nodes

    def _link(self, ep: Endpoint) -> None:
        for node in self._nodes(ep):
            self._members.setdefault(node, {})[ep.key] = ep
            self._views.pop(node, None)

    def _unlink(self, ep: Endpoint) -> None:
        for node in self._nodes(ep):
            members = self._members.get(node)
            if members is not None:
                members.pop(ep.key, None)
                if not members:
                    del self._members[node]
                    self._rotation.pop((node, "addr"), None)
                    self._rotation.pop((node, "srv"), None)
            self._views.pop(node, None)

    # ---------------------------------------------------------------- answering

    def _soa(self) -> tuple[Record, Answer, Answer]:
        """(SOA record, NXDOMAIN answer, NODATA answer) for the current generation."""
        cached = self._soa_cache
        if cached is None or cached[0] != self.generation:
            serial = self.generation & 0xFFFFFFFF
            soa = Record(self._fqdn, "SOA", self.ttl,
                         (f"ns.{self._fqdn}", f"hostmaster.{self._fqdn}", serial,
                          SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, self.ttl))
            cached = (self.generation, soa, Answer("NXDOMAIN", (), (soa,)), Answer("NOERROR", (), (soa,)))
            self._soa_cache = cached
        return cached[1], cached[2], cached[3]

    def _view(self, node: _Node) -> _NodeView | None:
        view = self._views.get(node)
        if view is None:
            members = self._members.get(node)
            if not members:
                return None
            view = self._views[node] = _NodeView(members)
        return view

    def _next_step(self, node: _Node, kind: str, n: int) -> int:
        key = (node, kind)
        count = self._rotation.get(key, 0)
        self._rotation[key] = count + 1
        return count % n

    def answer(self, qname: str, qtype: str) -> Answer:
        name = qname.strip().lower()
        if name.endswith("."):
            name = name[:-1]
        qtype = qtype.upper()
        if not name:
            return _OUT_OF_ZONE                      # the root: not ours
        if name == self.domain:
            return self._apex(qtype)
        in_domain = name.endswith(self._suffix)
        rel = name[: -len(self._suffix)] if in_domain else name
        fqdn = name + "."

        view = self._view(("svc", rel))
        if view is not None:
            return self._addresses(("svc", rel), view, fqdn, qtype)
        view = self._view(("name", rel))
        if view is not None:
            return self._addresses(("name", rel), view, fqdn, qtype)
        if rel.startswith("tasks."):
            node = ("svc", rel[6:])
            view = self._view(node)
            if view is not None:
                return self._addresses(node, view, fqdn, qtype)
        if rel.startswith("_"):
            found = self._srv(rel, fqdn, qtype)
            if found is not None:
                return found
        if in_domain or "." not in rel:
            return self._soa()[1]                    # NXDOMAIN
        return _OUT_OF_ZONE

    def _apex(self, qtype: str) -> Answer:
        soa, _, nodata = self._soa()
        ns = Record(self._fqdn, "NS", self.ttl, f"ns.{self._fqdn}")
        if qtype == "SOA":
            return Answer("NOERROR", (soa,))
        if qtype == "NS":
            return Answer("NOERROR", (ns,))
        if qtype == "ANY":
            return Answer("NOERROR", (soa, ns))
        return nodata

    def _addresses(self, node: _Node, view: _NodeView, fqdn: str, qtype: str) -> Answer:
        if qtype not in _ADDRESS_TYPES or not view.healthy:
            return self._soa()[2]                    # NODATA
        base = view.bases.get((fqdn, qtype))
        if base is None:
            records: list[Record] = []
            seen: set[str] = set()
            for ep in view.healthy:
                rtype, text = _address(ep.ip)  # type: ignore[misc]   # healthy ones all have one
                if (qtype == "ANY" or rtype == qtype) and text not in seen:
                    seen.add(text)
                    records.append(Record(fqdn, rtype, self.ttl, text))
            base = view.remember((fqdn, qtype), (tuple(records), ()))
        if not base[0]:
            return self._soa()[2]                    # e.g. AAAA of an IPv4-only name
        return self._rotated(node, view, "addr", (fqdn, qtype), base)

    def _srv(self, rel: str, fqdn: str, qtype: str) -> Answer | None:
        """The SRV form ``_PORT._PROTO.TARGET``; None when it names nothing of ours."""
        parts = rel.split(".", 2)
        if len(parts) != 3 or parts[1] not in ("_tcp", "_udp") or len(parts[0]) < 2:
            return None
        port_id, proto, target = parts[0][1:], parts[1][1:], parts[2]
        node: _Node = ("svc", target)
        view = self._view(node)
        if view is None:
            node = ("name", target)
            view = self._view(node)
            if view is None:
                return None
        targets = view.srv_targets(port_id, proto)
        if targets is None:
            return self._soa()[1]                    # a known target without such a port: NXDOMAIN
        if qtype not in _SRV_TYPES or not targets:
            return self._soa()[2]
        key = (fqdn, "SRV")
        base = view.bases.get(key)
        if base is None:
            records, additional, seen_srv, seen_add = [], [], set(), set()
            for ep, p in targets:
                host = f"{_label(ep.name)}.{self._fqdn}"
                data = (SRV_PRIORITY, SRV_WEIGHT, p.port, host)
                if data not in seen_srv:
                    seen_srv.add(data)
                    records.append(Record(fqdn, "SRV", self.ttl, data))
                rtype, text = _address(ep.ip)  # type: ignore[misc]
                if (host, text) not in seen_add:
                    seen_add.add((host, text))
                    additional.append(Record(host, rtype, self.ttl, text))
            base = view.remember(key, (tuple(records), tuple(additional)))
        return self._rotated(node, view, "srv", key, base)

    def _rotated(self, node: _Node, view: _NodeView, counter: str, key: tuple[str, str],
                 base: tuple[tuple[Record, ...], tuple[Record, ...]]) -> Answer:
        """The next round-robin answer over these records (one counter per node and kind).

        Small record sets get one cached Answer per rotation step (so a repeated answer
        is the same object); larger ones a fresh Answer per call, since caching every
        step would cost memory quadratic in the record count."""
        records, additional = base
        n = len(records)
        step = self._next_step(node, counter, n) if n > 1 else 0
        if n > ROTATION_CACHE_MAX:
            return Answer("NOERROR", records[step:] + records[:step], (), True, additional)
        step_key = (key[0], key[1], step)
        answer = view.answers.get(step_key)
        if answer is None:
            answer = Answer("NOERROR", records[step:] + records[:step], (), True, additional)
            if len(view.answers) < MAX_CACHED_ANSWERS:
                view.answers[step_key] = answer
        return answer
