"""Pure translation between Shoal's container spec and the Docker Engine API.

No I/O here: the Docker runtime feeds it dictionaries and sends what it returns.
"""
from __future__ import annotations

import ipaddress

import json
from typing import Any, Mapping

from shoal.agent.runtime.base import (
    LABEL_ID, LABEL_MANAGED, LABEL_NAME, LABEL_NETWORKS, LABEL_NODE, LABEL_SERVICE, Attachment, Observed, Port,
    MountSpec, RunOptions, Spec,
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
    o = spec.options
    if o.dns:
        # As `docker run --dns`: the given servers replace the resolver (cluster names then do not resolve).
        kwargs["dns"] = list(o.dns)
        if o.dns_search:
            kwargs["dns_search"] = list(o.dns_search)
    elif dns and not o.network_mode:   # host and none networks have no use for the cluster's resolver
        kwargs["dns"] = list(dns)
        # The admin's search domains first, then the cluster's, so short cluster names still resolve.
        searched = [*o.dns_search, *(d for d in dns_search if d not in o.dns_search)]
        if searched:
            kwargs["dns_search"] = searched
    elif o.dns_search:
        kwargs["dns_search"] = list(o.dns_search)
    kwargs.update(option_kwargs(o))
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
        kwargs["ports"] = port_bindings(spec.ports)
    if o.publish_all:
        kwargs["publish_all_ports"] = True
    if o.platform:
        kwargs["platform"] = o.platform
    if spec.memory_bytes:
        kwargs["mem_limit"] = spec.memory_bytes
    if spec.nano_cpus:
        kwargs["nano_cpus"] = spec.nano_cpus
    return kwargs


def port_bindings(ports: tuple[Port, ...]) -> dict[str, Any]:
    """docker-py's `ports`: {"80/tcp": binding or [bindings]}, a binding being the host port (None:
    the engine picks one) or (host IP, host port)."""
    out: dict[str, list[Any]] = {}
    for p in ports:
        binding = (p.host_ip, p.host_port or None) if p.host_ip else (p.host_port or None)
        out.setdefault(f"{p.container_port}/{p.protocol}", []).append(binding)
    return {key: bindings[0] if len(bindings) == 1 else bindings for key, bindings in out.items()}


def exposed_ports(spec: Spec) -> list[tuple[str, str]]:
    """The container's exposed ports (Config.ExposedPorts) as docker-py's create_container() takes
    them: the published ones and --expose's; docker-py's create() knows only the published."""
    ports = {(str(p.container_port), p.protocol) for p in spec.ports}
    ports.update((str(port), proto) for port, proto in spec.options.expose)
    return sorted(ports)


def option_kwargs(o: RunOptions) -> dict[str, Any]:
    """docker-py's create() arguments for the isolation and runtime options; only those given,
    so an engine default is never overridden by a zero."""
    out: dict[str, Any] = {}
    plain = (("user", o.user), ("group_add", list(o.group_add)), ("cap_add", list(o.cap_add)),
             ("cap_drop", list(o.cap_drop)), ("privileged", o.privileged), ("read_only", o.read_only),
             ("security_opt", list(o.security_opt)), ("hostname", o.hostname), ("dns_opt", list(o.dns_option)),
             ("working_dir", o.workdir), ("stop_signal", o.stop_signal), ("cpu_shares", o.cpu_shares),
             ("cpuset_cpus", o.cpuset_cpus), ("pids_limit", o.pids_limit), ("shm_size", o.shm_size_bytes),
             ("ipc_mode", o.ipc), ("pid_mode", o.pid), ("mem_reservation", o.reserve_memory_bytes))
    out.update((key, value) for key, value in plain if value)
    if o.init:
        out["init"] = True
    if o.tty:
        out["tty"] = True
    if o.open_stdin:
        out["stdin_open"] = True
    if o.stdin_once:
        # docker-py sets StdinOnce (and the Attach* flags `docker run -i` sends) for a run not detached.
        out["detach"] = False
    if o.devices:
        out["devices"] = list(o.devices)
    if o.network_mode:
        out["network_mode"] = o.network_mode
    if o.extra_hosts:
        out["extra_hosts"] = [f"{name}:{address}" for name, address in o.extra_hosts]
    if o.ulimits:
        out["ulimits"] = [{"Name": name, "Soft": soft, "Hard": hard} for name, soft, hard in o.ulimits]
    if o.sysctls:
        out["sysctls"] = dict(o.sysctls)
    binds = [m for m in o.mounts if m.type == "bind" and m.create_host_path]
    if binds:
        # `-v`'s binds go as Docker's CLI sends them (HostConfig.Binds): the engine makes a missing host path.
        out["volumes"] = [f"{m.source}:{m.target}:{'ro' if m.readonly else 'rw'}" for m in binds]
    mounts = [m for m in o.mounts if m not in binds]
    if mounts:
        out["mounts"] = [_mount(m) for m in mounts]
    if o.restart and o.restart != "no":
        out["restart_policy"] = {"Name": o.restart, "MaximumRetryCount": o.restart_max_retries}
    if o.tmpfs:
        out["tmpfs"] = {target: _tmpfs_options(size, mode, flags) for target, size, mode, flags in o.tmpfs}
    return out


def _tmpfs_options(size: int, mode: int, flags: tuple[str, ...]) -> str:
    parts = list(flags)
    if size:
        parts.append(f"size={size}")
    if mode:
        parts.append(f"mode={mode:o}")
    return ",".join(parts)


def shared_with(kwargs: dict[str, Any], o: RunOptions, engine_id_of) -> dict[str, Any]:
    """The namespace and volumes a container shares with others, by their engine ids: `engine_id_of`
    maps a Shoal id to the engine's (the runtime looks it up; KeyError: not on this engine)."""
    if o.ipc_container:
        kwargs["ipc_mode"] = f"container:{engine_id_of(o.ipc_container)}"
    if o.volumes_from:
        kwargs["volumes_from"] = [f"{engine_id_of(sid)}{sep}{mode}"
                                  for sid, sep, mode in (v.partition(":") for v in o.volumes_from)]
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
            p = Port(int(b.get("HostPort") or 0), int(port), proto or "tcp", _host_ip(b))
            if p not in out:
                out.append(p)
    if not out:
        # A stopped container has no live bindings; report what was asked for.
        asked = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
        for key, bindings in sorted(asked.items()):
            port, _, proto = key.partition("/")
            for b in bindings or ():
                p = Port(int(b.get("HostPort") or 0), int(port), proto or "tcp", _host_ip(b))
                if p not in out:
                    out.append(p)
    return tuple(out)


def _host_ip(binding: Mapping[str, Any]) -> str:
    ip = str(binding.get("HostIp") or "")
    return "" if ip in ("0.0.0.0", "::") else ip


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


def _mount(m: MountSpec) -> dict[str, Any]:
    """One mount in the Engine API's own shape (HostConfig.Mounts)."""
    out: dict[str, Any] = {"Type": m.type, "Target": m.target, "ReadOnly": m.readonly}
    if m.source:
        out["Source"] = m.source
    if m.type == "volume" and m.source:
        # The engine creates a missing volume from these, as `volume create` asked for it.
        options: dict[str, Any] = {"DriverConfig": {"Name": m.driver or "local", "Options": dict(m.driver_options)}}
        if m.labels:
            options["Labels"] = dict(m.labels)
        out["VolumeOptions"] = options
    if m.type == "tmpfs" and m.tmpfs_size_bytes:
        out["TmpfsOptions"] = {"SizeBytes": m.tmpfs_size_bytes}
    return out
