"""Pure translation between Shoal's container spec and the Docker Engine API.

No I/O here: the Docker runtime feeds it dictionaries and sends what it returns.
"""
from __future__ import annotations

import ipaddress

import json
from typing import Any, Mapping

from shoal.agent.runtime.base import (
    LABEL_ID, LABEL_MANAGED, LABEL_NAME, LABEL_NETWORKS, LABEL_NODE, LABEL_SERVICE, Attachment, Observed, Port,
    Spec,
)


def create_kwargs(shoal_id: str, name: str, node_id: str, spec: Spec, *, service: str = "",
                  networks: tuple[Attachment, ...] = (),
                  dns: tuple[str, ...] = (), dns_search: tuple[str, ...] = ()) -> dict[str, Any]:
    """Arguments for docker's ContainerCollection.create(). dns: the agent's own resolver,
    so containers find each other by name."""
    labels = dict(spec.labels)
    # Ours last, so a user label can never forge ownership.
    labels.update({LABEL_MANAGED: "true", LABEL_ID: shoal_id, LABEL_NAME: name, LABEL_NODE: node_id})
    if service:
        labels[LABEL_SERVICE] = service
    if networks:
        # Kept on the container so a restarted agent can re-plumb and report it.
        labels[LABEL_NETWORKS] = json.dumps([[a.network, a.vni, a.subnet, a.ip] for a in networks])
    kwargs: dict[str, Any] = {
        "image": spec.image,
        # Engine names need two characters and must not collide with a leftover of an
        # earlier container of the same Shoal name, hence the id suffix (as swarm mode does).
        "name": engine_name(shoal_id, name),
        "labels": labels,
        "environment": [f"{k}={v}" for k, v in spec.env],
        "detach": True,
    }
    if dns:
        kwargs["dns"] = list(dns)
    if dns_search:
        kwargs["dns_search"] = list(dns_search)
    if spec.command:
        kwargs["command"] = list(spec.command)
    if spec.entrypoint:
        kwargs["entrypoint"] = list(spec.entrypoint)
    if spec.health and spec.health.test:
        hc: dict[str, Any] = {"test": list(spec.health.test)}
        for key, value in (("interval", spec.health.interval_ns), ("timeout", spec.health.timeout_ns),
                           ("retries", spec.health.retries), ("start_period", spec.health.start_period_ns)):
            if value:
                hc[key] = value
        kwargs["healthcheck"] = hc
    if spec.ports:
        kwargs["ports"] = {
            f"{p.container_port}/{p.protocol}": (p.host_port or None) for p in spec.ports
        }
    if spec.memory_bytes:
        kwargs["mem_limit"] = spec.memory_bytes
    if spec.nano_cpus:
        kwargs["nano_cpus"] = spec.nano_cpus
    return kwargs


def engine_name(shoal_id: str, name: str) -> str:
    return f"{name}.{shoal_id[:12]}"


def owner_filter(node_id: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_NODE}={node_id}"]}


def _ports(attrs: Mapping[str, Any]) -> tuple[Port, ...]:
    bound = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    out: list[Port] = []
    for key, bindings in sorted(bound.items()):
        port, _, proto = key.partition("/")
        for b in bindings or ():
            # The engine lists IPv4 and IPv6 bindings of one port; one is enough.
            p = Port(int(b.get("HostPort") or 0), int(port), proto or "tcp")
            if p not in out:
                out.append(p)
    if not out:
        # A stopped container has no live bindings; report what was asked for.
        asked = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
        for key, bindings in sorted(asked.items()):
            port, _, proto = key.partition("/")
            for b in bindings or ():
                p = Port(int(b.get("HostPort") or 0), int(port), proto or "tcp")
                if p not in out:
                    out.append(p)
    return tuple(out)


_ZERO_TIME = "0001-01-01T00:00:00Z"


def observed_from_inspect(attrs: Mapping[str, Any]) -> Observed:
    """Our view of one container from the engine's inspect document."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    state = attrs.get("State") or {}
    status = state.get("Status") or "unknown"
    if status in ("removing", "paused", "restarting"):
        status = "running" if state.get("Running") else "exited"
    started = state.get("StartedAt") or ""
    finished = state.get("FinishedAt") or ""
    return Observed(
        id=labels.get(LABEL_ID, ""),
        name=labels.get(LABEL_NAME, (attrs.get("Name") or "").lstrip("/")),
        image=(attrs.get("Config") or {}).get("Image") or "",
        state=status,
        exit_code=int(state.get("ExitCode") or 0),
        error=state.get("Error") or "",
        runtime_id=attrs.get("Id") or "",
        started_at="" if started.startswith("0001-") else started,
        finished_at="" if finished.startswith("0001-") or finished == _ZERO_TIME else finished,
        ports=_ports(attrs),
        health=((state.get("Health") or {}).get("Status") or "") if status == "running" else "",
        ip=_ip(attrs) if status == "running" else "",
        exposed=_exposed(attrs),
        service=labels.get(LABEL_SERVICE, ""),
        pid=int(state.get("Pid") or 0),
        networks=_attachments(labels.get(LABEL_NETWORKS, "")),
    )


def _attachments(raw: str) -> tuple[Attachment, ...]:
    try:
        return tuple(Attachment(str(n), int(v), str(s), str(ip)) for n, v, s, ip in json.loads(raw)) if raw else ()
    except (ValueError, TypeError):
        return ()


def _exposed(attrs: Mapping[str, Any]) -> tuple[tuple[int, str], ...]:
    out = []
    for key in sorted(((attrs.get("Config") or {}).get("ExposedPorts") or {})):
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.append((int(port), proto or "tcp"))
    return tuple(out)


def _ip(attrs: Mapping[str, Any]) -> str:
    settings = attrs.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for net in (settings.get("Networks") or {}).values():
        if (net or {}).get("IPAddress"):
            return net["IPAddress"]
    return ""


def bridge_subnet(network_attrs: Mapping[str, Any]) -> tuple[str, str]:
    """(subnet, gateway) of the engine's bridge network from its inspect document."""
    for cfg in ((network_attrs.get("IPAM") or {}).get("Config") or ()):
        if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
            gateway = cfg.get("Gateway", "")
            if not gateway:
                # A stock dockerd (no --bip) reports the subnet only; its bridge takes the first address.
                try:
                    gateway = str(next(ipaddress.ip_network(cfg["Subnet"], strict=False).hosts()))
                except (ValueError, StopIteration):
                    gateway = ""
            return cfg["Subnet"], gateway
    return "", ""
