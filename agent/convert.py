"""Between the wire messages (shoal.v1) and the runtime's plain types."""
from __future__ import annotations

import json

from shoal.agent.runtime.base import Health, MountSpec, Observed, Port, RunOptions, Spec
from shoal.protos.shoal.v1 import agent_pb2, types_pb2


# The keys of a container's secret environment values, comma-separated, kept on the container
# so the agent can redact its engine document after a restart too (users cannot set io.shoal.*).
LABEL_SECRET_ENV = "io.shoal.secret-env"
SECRET_PLACEHOLDER = "<secret>"


def spec_from_proto(msg: types_pb2.ContainerSpec) -> Spec:
    labels = dict(msg.labels)
    if msg.secret_env:
        labels[LABEL_SECRET_ENV] = ",".join(sorted(set(msg.secret_env)))
    return Spec(
        image=msg.image,
        command=tuple(msg.command),
        env=tuple(sorted(msg.env.items())),
        ports=tuple(Port(p.host_port, p.container_port, p.protocol or "tcp", p.host_ip) for p in msg.ports),
        memory_bytes=msg.memory_bytes,
        nano_cpus=msg.nano_cpus,
        labels=tuple(sorted(labels.items())),
        entrypoint=tuple(msg.entrypoint),
        health=Health(
            test=tuple(msg.health.test), interval_ns=msg.health.interval_ns, timeout_ns=msg.health.timeout_ns,
            retries=msg.health.retries, start_period_ns=msg.health.start_period_ns,
        ) if msg.health.test else None,
        options=options_from_proto(msg),
    )


def mount_from_proto(m: types_pb2.Mount) -> MountSpec:
    return MountSpec(type=m.type, target=m.target, source=m.source, readonly=m.readonly,
                     tmpfs_size_bytes=m.tmpfs_size_bytes, driver=m.driver,
                     driver_options=tuple(sorted(m.driver_options.items())),
                     labels=tuple(sorted(m.volume_labels.items())), create_host_path=m.create_host_path)


def options_from_proto(msg: types_pb2.ContainerSpec) -> RunOptions:
    return RunOptions(
        reserve_memory_bytes=msg.reserve_memory_bytes, user=msg.user, group_add=tuple(msg.group_add),
        cap_add=tuple(msg.cap_add), cap_drop=tuple(msg.cap_drop), privileged=msg.privileged, read_only=msg.read_only,
        security_opt=tuple(msg.security_opt), hostname=msg.hostname, dns=tuple(msg.dns),
        dns_search=tuple(msg.dns_search), dns_option=tuple(msg.dns_option),
        extra_hosts=tuple((n, a) for n, _, a in (h.partition(":") for h in msg.extra_hosts)),
        workdir=msg.workdir, init=msg.init, stop_signal=msg.stop_signal, cpu_shares=msg.cpu_shares,
        cpuset_cpus=msg.cpuset_cpus, pids_limit=msg.pids_limit,
        ulimits=tuple((u.name, u.soft, u.hard) for u in msg.ulimits), sysctls=tuple(sorted(msg.sysctls.items())),
        shm_size_bytes=msg.shm_size_bytes, tmpfs=tuple((t.target, t.size_bytes, t.mode, tuple(t.options)) for t in msg.tmpfs),
        ipc=msg.ipc if not msg.ipc.startswith("container:") else "", pid=msg.pid,
        mounts=tuple(mount_from_proto(m) for m in msg.mounts), devices=tuple(msg.devices),
        network_mode=msg.network_mode, ipc_container=msg.ipc_container, volumes_from=tuple(msg.volumes_from_ids),
        restart=msg.restart, restart_max_retries=msg.restart_max_retries,
        publish_all=msg.publish_all,
        expose=tuple((int(port), proto or "tcp") for port, _, proto in (e.partition("/") for e in msg.expose)),
        pull=msg.pull, platform=msg.platform, tty=msg.tty, open_stdin=msg.open_stdin, stdin_once=msg.stdin_once,
    )


def status_to_proto(o: Observed) -> types_pb2.ContainerStatus:
    return types_pb2.ContainerStatus(
        state=o.state,
        exit_code=o.exit_code,
        error=o.error,
        runtime_id=o.runtime_id,
        started_at=o.started_at,
        finished_at=o.finished_at,
        ports=[types_pb2.PortMapping(host_port=p.host_port, container_port=p.container_port, protocol=p.protocol,
                                     host_ip=p.host_ip)
               for p in o.ports],
        health=o.health,
        ip=o.ip,
    )


def container_to_proto(o: Observed) -> agent_pb2.AgentContainer:
    return agent_pb2.AgentContainer(id=o.id, name=o.name, image=o.image, status=status_to_proto(o))


def redact_engine_json(doc: str) -> str:
    """The engine's inspect document with the values of the secret environment variables (named
    by the container's LABEL_SECRET_ENV) replaced by a placeholder. A document that cannot be
    read is dropped rather than passed on."""
    if not doc:
        return doc
    try:
        data = json.loads(doc)
        config = data.get("Config") or {}
        keys = set(filter(None, str((config.get("Labels") or {}).get(LABEL_SECRET_ENV, "")).split(",")))
        env = config.get("Env")
    except (ValueError, AttributeError):
        return ""
    if not keys or not env:
        return doc
    if not isinstance(env, list):
        return ""
    config["Env"] = [f"{str(item).partition('=')[0]}={SECRET_PLACEHOLDER}"
                     if str(item).partition("=")[0] in keys else item for item in env]
    return json.dumps(data, sort_keys=True)
