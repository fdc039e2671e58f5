"""Builders for the objects unit tests make again and again: plain functions with keyword
defaults, imported as `from tests.unit.conftest import node_snapshot, ...`. A test file whose
cases want other defaults says so once, in a thin wrapper or a functools.partial over these."""
from __future__ import annotations

from dataclasses import replace

from google.protobuf import json_format
from google.protobuf.message import Message

from shoal.manager.scheduler import NodeSnapshot, TaskRequest, parse_constraint
from shoal.manager.state import ClusterState
from shoal.protos import etcd_keys, node_identity
from shoal.protos.node_identity import NodeIdentity
from shoal.protos.shoal.v1 import agent_pb2, types_pb2

MiB = 1 << 20
GiB = 1 << 30
CPU = 1_000_000_000


def node_snapshot(id: str = "n1", **overrides: object) -> NodeSnapshot:
    """A scheduler node: active, ready, 4 CPUs and 4 GiB, named after its id, no labels."""
    fields: dict[str, object] = dict(
        id=id,
        name=id,
        hostname=f"{id}.example",
        labels={},
        engine_labels={},
        availability="active",
        ready=True,
        nano_cpus=4 * CPU,
        memory=4 * GiB,
    )
    fields.update(overrides)
    return NodeSnapshot(**fields)  # type: ignore[arg-type]


def task_request(*constraints: str, **fields: object) -> TaskRequest:
    """A task to place, with its constraints written as expressions (parsed here)."""
    return TaskRequest(constraints=tuple(parse_constraint(e) for e in constraints), **fields)  # type: ignore[arg-type]


def charged_snapshot(node: NodeSnapshot, task: TaskRequest, *, count_group: bool = True) -> NodeSnapshot:
    """The node after one more copy of `task`, charged by hand as the manager would after a commit
    (not with the scheduler's own charge(), which the tests check against). `count_group=False`
    leaves group_tasks as it was."""
    fields: dict[str, object] = dict(
        reserved_nano_cpus=node.reserved_nano_cpus + task.nano_cpus,
        reserved_memory=node.reserved_memory + task.memory,
        containers=node.containers + 1,
        used_ports=node.used_ports | task.host_ports,
    )
    if count_group:
        fields["group_tasks"] = {**node.group_tasks, task.group: node.group_tasks.get(task.group, 0) + 1}
    return replace(node, **fields)  # type: ignore[arg-type]


def as_json(msg: Message) -> bytes:
    """A record as JSON bytes, the form earlier versions (and hostile agents) wrote to etcd."""
    return json_format.MessageToJson(msg).encode()


def node_record(id: str = "n1", name: str = "", address: str = "", **description: object) -> types_pb2.Node:
    """A node's record (types_pb2.Node); keywords go to its NodeDescription."""
    return types_pb2.Node(id=id, name=name, address=address,
                          description=types_pb2.NodeDescription(**description))  # type: ignore[arg-type]


def container(id: str = "c1", name: str = "web.1", node_id: str = "n1", image: str | None = None,
              **fields: object) -> types_pb2.Container:
    """A container (task) record; `image` is short for spec=ContainerSpec(image=image)."""
    if image is not None:
        fields["spec"] = types_pb2.ContainerSpec(image=image)
    return types_pb2.Container(id=id, name=name, node_id=node_id, **fields)  # type: ignore[arg-type]


def observed(id: str = "c1", state: str = "running", **status: object) -> agent_pb2.AgentContainer:
    """What an agent reports of a container; keywords go to its ContainerStatus."""
    return agent_pb2.AgentContainer(id=id, status=types_pb2.ContainerStatus(state=state, **status))  # type: ignore[arg-type]


def service_spec(name: str = "web", image: str = "img", **fields: object) -> types_pb2.ServiceSpec:
    """A service spec whose task runs `image`, unless a `task` keyword gives the whole ContainerSpec."""
    fields.setdefault("task", types_pb2.ContainerSpec(image=image))
    return types_pb2.ServiceSpec(name=name, **fields)  # type: ignore[arg-type]


def bind_identity(state: ClusterState, node_id: str, ident: NodeIdentity, rev: int) -> None:
    """What the leader writes when it binds a node's identity (manager/identity.py): the identity
    and the name that points back at the node."""
    state.apply(etcd_keys.node_ident(node_id), node_identity.encode(ident).encode(), rev)
    state.apply(etcd_keys.node_name(ident.name), node_id.encode(), rev)
