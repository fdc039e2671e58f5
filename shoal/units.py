"""Parsers for the CLI's human inputs. Pure; each raises ValueError with the reason."""
from __future__ import annotations

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


def parse_port(text: str) -> tuple[int, int, str]:
    """'8080:80/tcp' -> (8080, 80, 'tcp'); '80' -> (0, 80, 'tcp')."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise ValueError(f'"{text}": protocol must be tcp or udp')
    host, sep, container = spec.rpartition(":")
    if not sep:
        host, container = "", spec
    if ":" in host:
        raise ValueError(f'"{text}": binding a host IP is not supported; use [HOST_PORT:]CONTAINER_PORT[/PROTO]')
    try:
        cport = int(container)
        hport = int(host) if host else 0
    except ValueError:
        raise ValueError(f'"{text}" is not [HOST_PORT:]CONTAINER_PORT[/tcp|/udp]') from None
    if not 1 <= cport <= 65535 or (host and not 1 <= hport <= 65535):
        raise ValueError(f'"{text}": ports must be in 1-65535')
    return hport, cport, proto


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
