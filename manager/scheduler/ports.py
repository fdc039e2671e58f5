"""Host ports as the engine binds them: a port is taken per (port, protocol, address).

A port published on one address (`-p 127.0.0.1:8080:80`) leaves the same port free on every
other address of the host, while one published on every address ("", 0.0.0.0 or ::) takes it
on all of them, so it clashes with any binding of that port and protocol, as the engine's
bind would fail.  `::` counts as every address too: on a dual-stack host it also binds IPv4.
"""

from collections.abc import Iterable
from typing import Protocol

HostPort = tuple[int, str, str]  # (host_port, "tcp" | "udp", host_ip); "" = every address

_EVERY_ADDRESS = frozenset({"", "0.0.0.0", "::"})


class _Mapping(Protocol):  # the fields of a types_pb2.PortMapping the scheduler needs
    host_port: int
    protocol: str
    host_ip: str


def host_ports(mappings: Iterable[_Mapping]) -> frozenset[HostPort]:
    """The host ports a spec's mappings take; engine-picked ports (0) take none ahead of time."""
    return frozenset(
        (m.host_port, m.protocol or "tcp", "" if m.host_ip in _EVERY_ADDRESS else m.host_ip)
        for m in mappings if m.host_port
    )


def clash(wanted: frozenset[HostPort], used: frozenset[HostPort]) -> tuple[int, str] | None:
    """The lowest (port, protocol) of `wanted` already bound in `used`, or None.

    min() names the same port whatever the set order, so counted reasons aggregate."""
    if not wanted or not used:
        return None
    clashes = {(port, proto) for port, proto, _ in wanted & used}  # same address, or both every address
    if len(clashes) < len(wanted):
        everywhere_used = {(port, proto) for port, proto, ip in used if not ip}
        bound_used = {(port, proto) for port, proto, ip in used}
        for port, proto, ip in wanted:
            if (port, proto) in (bound_used if not ip else everywhere_used):
                clashes.add((port, proto))
    return min(clashes, default=None)
