"""/shoal/nodeident/<node-id>: what the leader bound to a node once (manager/identity.py), and
what every manager and agent uses of it instead of the node's own, later, word: its name and
hostname (placement constraints, `node ls`), its address (routes, overlay peers) and its
container subnet (the only route any host makes to it, and the addresses DNS may give for it)."""
from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass

from shoal.protos.record_guard import BadRecord

MAX_TEXT = 253


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    name: str
    hostname: str = ""
    address: str = ""            # HOST:PORT, as the node advertised it when bound
    container_subnet: str = ""   # "" when none was accepted

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0].strip("[]")


def encode(ident: NodeIdentity) -> str:
    return json.dumps(asdict(ident), sort_keys=True)


def decode(raw: bytes | str) -> NodeIdentity:
    try:
        doc = json.loads(raw)
        ident = NodeIdentity(name=doc["name"], hostname=doc.get("hostname") or "", address=doc.get("address") or "",
                             container_subnet=doc.get("container_subnet") or "")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise BadRecord(f"nodeident: {type(exc).__name__}") from None
    for field in ("name", "hostname", "address", "container_subnet"):
        text = getattr(ident, field)
        if not isinstance(text, str) or len(text) > MAX_TEXT or not text.isprintable():
            raise BadRecord(f"nodeident: {field} must be printable text of at most {MAX_TEXT} characters")
    if ident.container_subnet:
        try:
            ipaddress.ip_network(ident.container_subnet)
        except ValueError:
            raise BadRecord("nodeident: container_subnet is not a network") from None
    return ident
