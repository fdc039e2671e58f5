"""Parsers for the CLI's human inputs. Pure; each raises ValueError with the reason."""
from __future__ import annotations

import ipaddress
import re
from decimal import Decimal

# The one size grammar, the CLI's and the stack files': docker/go-units' RAMInBytes, which both
# `docker run --memory` and Compose use (binary units, one optional space, optional "b"/"ib").
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kmgtp]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
SIZE_EXAMPLES = "(examples: 64M, 1g, 512m)"


def parse_size(text: str) -> int:
    """'64m' -> 67108864. Exact (Decimal): '1.5g' is 1610612736, never a float's neighbour."""
    m = _SIZE_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f'"{text}" is not a size {SIZE_EXAMPLES}')
    value = Decimal(m.group(1)) * _UNITS[m.group(2).lower()]
    if value != value.to_integral_value():
        raise ValueError(f'"{text}" is not a whole number of bytes')
    return int(value)


def parse_cpus(text: str) -> int:
    """'1.5' -> 1_500_000_000 nano-CPUs."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a number of CPUs (examples: 0.5, 2)') from None
    if not value > 0 or value > 4096:
        raise ValueError(f'"{text}" must be more than 0 and at most 4096')
    return int(round(value * 1_000_000_000))


# (host_port, container_port, protocol, host_ip): one published port; host_port 0: the engine picks,
# host_ip "": every address of the host.
PortTuple = tuple[int, int, str, str]
PUBLISH_SYNTAX = "[IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp] (each port may be a range A-B)"
MAX_PORT_RANGE = 1024   # ports one -p may expand to (the manager bounds the whole spec lower)


def parse_publish(text: str) -> list[PortTuple]:
    """docker run -p, as Docker reads it (go-connections nat.ParsePortSpec): IP:HOST:CONTAINER,
    IP::CONTAINER, HOST:CONTAINER, CONTAINER, each with /tcp or /udp; IPv6 in brackets; ranges of
    equal length expand to one mapping per port ('8000-8001:80-81' -> 8000->80, 8001->81), a
    container range alone to one random host port each."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise ValueError(f'"{text}": protocol must be tcp or udp')
    ip = ""
    if spec.startswith("["):
        inside, bracket, rest = spec[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f'"{text}" is not {PUBLISH_SYNTAX}')
        ip, ports = inside, rest[1:]
        host, sep, container = ports.rpartition(":")
        if not sep:
            raise ValueError(f'"{text}" is not {PUBLISH_SYNTAX}')
    else:
        parts = spec.split(":")
        container = parts[-1]
        host = parts[-2] if len(parts) > 1 else ""
        ip = ":".join(parts[:-2])
    if ip or spec.count(":") >= 2:
        ip = _host_ip(ip, text)
    first, last = _port_range(container, text, "container port")
    count = last - first + 1
    if count > MAX_PORT_RANGE:
        raise ValueError(f'"{text}": a range of more than {MAX_PORT_RANGE} ports')
    if not host:
        return [(0, port, proto, ip) for port in range(first, last + 1)]
    host_first, host_last = _port_range(host, text, "host port")
    if host_last - host_first + 1 != count:
        if count == 1:
            raise ValueError(f'"{text}": a host port range for one container port (the engine would pick one) '
                             "is not supported; give one host port")
        raise ValueError(f'"{text}": the host ports ({host_last - host_first + 1}) and the container ports '
                         f"({count}) must be ranges of the same length")
    return [(host_first + i, first + i, proto, ip) for i in range(count)]


def _host_ip(ip: str, text: str) -> str:
    if not ip:
        raise ValueError(f'"{text}" is not {PUBLISH_SYNTAX}')
    try:
        return str(ipaddress.ip_address(ip.strip("[]")))
    except ValueError:
        raise ValueError(f'"{text}": "{ip}" is not an IP address') from None


def _port_range(text: str, whole: str, what: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    if not _digits(low) or (dash and not _digits(high)):
        raise ValueError(f'"{whole}" is not {PUBLISH_SYNTAX}')
    first = int(low)
    last = int(high) if dash else first
    if not 1 <= first <= 65535 or not 1 <= last <= 65535:
        raise ValueError(f'"{whole}": ports must be in 1-65535')
    if last < first:
        raise ValueError(f'"{whole}": the {what} range {text} ends before it starts')
    return first, last


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def parse_port(text: str) -> tuple[int, int, str]:
    """'8080:80/tcp' -> (8080, 80, 'tcp'); '80' -> (0, 80, 'tcp'): one port on every host address
    (parse_publish takes the whole syntax)."""
    mappings = parse_publish(text)
    if len(mappings) != 1 or mappings[0][3]:
        raise ValueError(f'"{text}": one port without a host IP expected ([HOST_PORT:]CONTAINER_PORT[/PROTO])')
    host, container, proto, _ = mappings[0]
    return host, container, proto


def parse_key_value(text: str, *, value_required: bool = True) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key:
        raise ValueError(f'"{text}" is not KEY=VALUE')
    if value_required and not sep:
        raise ValueError(f'"{text}" is not KEY=VALUE')
    return key, value


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"
