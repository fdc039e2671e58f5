"""/shoal/placed/<cid>: where the manager placed a container, under which name and service.

Written by the manager in the same transaction as the container's record, deleted with it, and
readable by agents, which cannot read the records themselves (specs hold secrets). A DNS server
answers with an agent's endpoint record only when this record vouches for it (dns/gate.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from shoal.protos.record_guard import BadRecord


@dataclass(frozen=True, slots=True)
class Placed:
    node: str
    name: str
    service: str = ""


def encode(node: str, name: str, service: str) -> str:
    return json.dumps({"node": node, "name": name, "service": service}, sort_keys=True)


def decode(raw: bytes | str) -> Placed:
    try:
        doc = json.loads(raw)
        placed = Placed(node=doc["node"], name=doc["name"], service=doc.get("service") or "")
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError) as exc:
        raise BadRecord(f"placed: {type(exc).__name__}") from None
    if not all(isinstance(v, str) for v in (placed.node, placed.name, placed.service)):
        raise BadRecord("placed: node, name and service must be strings")
    return placed
