"""Go/Docker style durations ("10s", "1m30s", "500ms", "1.5h") <-> integer nanoseconds. Pure.

parse_duration follows Go's time.ParseDuration, except that signs are refused (a negative
duration is never meaningful in a stack file or on the command line). Arithmetic is on
integers, so "1.000000001s" is exactly 1_000_000_001 ns; digits below a nanosecond are
truncated, as Go does.

format_duration writes the shortest form that parses back to the same value: zero units are
left out ("1h", "1h30s", "1m30s"), sub-second values use ms/us/ns ("500ms", "1.5us", "7ns").
"""
from __future__ import annotations

import re

__all__ = ["parse_duration", "format_duration", "MAX_DURATION_NS"]

MAX_DURATION_NS = (1 << 63) - 1  # int64, like Go's time.Duration and the protobuf *_ns fields

_NS = 1
_US = 1_000
_MS = 1_000_000
_S = 1_000_000_000
_M = 60 * _S
_H = 60 * _M

# "µ" (U+00B5, micro sign) and "μ" (U+03BC, Greek mu) are both accepted, as in Go.
_UNITS = {"ns": _NS, "us": _US, "\u00b5s": _US, "\u03bcs": _US, "ms": _MS, "s": _S, "m": _M, "h": _H}

# One component: digits, optional fraction, then the unit (everything up to the next digit or dot).
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def _reject(text: object) -> ValueError:
    shown = str(text)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueError(f'"{shown}" is not a duration (examples: 10s, 1m30s, 500ms)')


def parse_duration(text: str) -> int:
    """'1m30s' -> 90_000_000_000. Raises ValueError for anything that is not a duration."""
    if not isinstance(text, str) or not text:
        raise _reject(text)
    if text == "0":
        return 0
    total = 0
    pos = 0
    while pos < len(text):
        m = _COMPONENT.match(text, pos)
        assert m is not None   # every part of the pattern is optional: it always matches
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        if not whole and not frac:  # no digits at all (".s", "s", "-1s", " 1s")
            raise _reject(text)
        scale = _UNITS.get(unit)
        if scale is None:  # missing ("10") or unknown ("10d", "10 s") unit
            raise _reject(text)
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        if total > MAX_DURATION_NS:
            raise _reject(text)
        pos = m.end()
    return total


def _decimal(value: int, unit: int) -> str:
    """value / unit with the fraction written out exactly and trailing zeros dropped."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(rest).zfill(digits).rstrip('0')}"


def format_duration(ns: int) -> str:
    """90_000_000_000 -> '1m30s'; 0 -> '0s'; 500_000_000 -> '500ms'."""
    ns = int(ns)
    if ns < 0:
        return "-" + format_duration(-ns)
    if ns == 0:
        return "0s"
    if ns < _US:
        return f"{ns}ns"
    if ns < _MS:
        return _decimal(ns, _US) + "us"
    if ns < _S:
        return _decimal(ns, _MS) + "ms"
    hours, rest = divmod(ns, _H)
    minutes, rest = divmod(rest, _M)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if rest:
        out += _decimal(rest, _S) + "s"
    return out
