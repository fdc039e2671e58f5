"""Between the wire messages (shoal.v1) and the runtime's plain types."""
from __future__ import annotations

from agent.runtime.base import Health, Observed, Port, Spec
from protos.shoal.v1 import agent_pb2, types_pb2


def spec_from_proto(msg: types_pb2.ContainerSpec) -> Spec:
    return Spec(
        image=msg.image,
        command=tuple(msg.command),
        env=tuple(sorted(msg.env.items())),
        ports=tuple(Port(p.host_port, p.container_port, p.protocol or "tcp") for p in msg.ports),
        memory_bytes=msg.memory_bytes,
        nano_cpus=msg.nano_cpus,
        labels=tuple(sorted(msg.labels.items())),
        entrypoint=tuple(msg.entrypoint),
        health=Health(
            test=tuple(msg.health.test), interval_ns=msg.health.interval_ns, timeout_ns=msg.health.timeout_ns,
            retries=msg.health.retries, start_period_ns=msg.health.start_period_ns,
        ) if msg.health.test else None,
    )


def status_to_proto(o: Observed) -> types_pb2.ContainerStatus:
    return types_pb2.ContainerStatus(
        state=o.state,
        exit_code=o.exit_code,
        error=o.error,
        runtime_id=o.runtime_id,
        started_at=o.started_at,
        finished_at=o.finished_at,
        ports=[types_pb2.PortMapping(host_port=p.host_port, container_port=p.container_port, protocol=p.protocol)
               for p in o.ports],
        health=o.health,
        ip=o.ip,
    )


def container_to_proto(o: Observed) -> agent_pb2.AgentContainer:
    return agent_pb2.AgentContainer(id=o.id, name=o.name, image=o.image, status=status_to_proto(o))
