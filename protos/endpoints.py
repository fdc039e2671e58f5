"""DNS endpoint records: written by an agent for each of its healthy, running containers
(under its lease), read by every DNS server (agents' and the manager's)."""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Port:
    port: int
    protocol: str = "tcp"
    name: str = ""          # optional port name, e.g. "http"


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str                # unique id of the record (the etcd key): updates and removal go by it
    name: str               # container name ("db") or task name ("web.3")
    service: str            # service name ("web"), "" for a plain container
    ip: str                 # IPv4 (A) or IPv6 (AAAA); anything unparsable gives no address record
    ports: tuple[Port, ...] = ()
    node: str = ""
    healthy: bool = True


# SRV names for well-known ports (_http._tcp.web.shoal); _PORT._tcp always works too.
PORT_NAMES = {21: "ftp", 22: "ssh", 25: "smtp", 53: "domain", 80: "http", 443: "https", 3306: "mysql",
              5432: "postgresql", 6379: "redis", 8080: "http-alt", 8443: "https-alt", 9090: "metrics",
              11211: "memcache", 27017: "mongodb"}


def encode(name: str, service: str, ip: str, ports: list[tuple[int, str, str]], node: str) -> str:
    return json.dumps({
        "name": name, "service": service, "ip": ip, "node": node,
        "ports": [{"port": p, "protocol": proto, "name": pname} for p, proto, pname in ports],
    }, sort_keys=True)


MAX_NAME = 253
MAX_PORTS = 256


def decode(key: str, raw: bytes | str) -> Endpoint | None:
    """None for a record this version cannot use (it is skipped, not fatal): whatever an agent
    wrote, this returns an Endpoint in bounds or None, and raises nothing."""
    try:
        doc = json.loads(raw)
        ports = doc.get("ports") or ()
        if len(ports) > MAX_PORTS:
            return None
        ep = Endpoint(
            key=key, name=str(doc["name"]), service=str(doc.get("service") or ""), ip=str(doc["ip"]),
            ports=tuple(Port(int(p["port"]), str(p.get("protocol") or "tcp"), str(p.get("name") or ""))
                        for p in ports),
            node=str(doc.get("node") or ""), healthy=True,
        )
        ipaddress.ip_address(ep.ip)
    # OverflowError: "port": 1e400; RecursionError: deep nesting; the rest: wrong shapes.
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        return None
    if len(ep.name) > MAX_NAME or len(ep.service) > MAX_NAME or not ep.name:
        return None
    if any(not 0 < p.port < 65536 or p.protocol not in ("tcp", "udp") or len(p.name) > 63 for p in ep.ports):
        return None
    return ep

