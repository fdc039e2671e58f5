"""Where a container's named volumes pin it. Pure: records in, decisions out.

A local named volume lives on one node: a container that mounts it goes to that node, and a
service task that mounts it waits for that node rather than moving away from its data. A volume
named but not yet on a node lands with the first container that mounts it. Slot 1 of a replicated
service mounts the volume under its own name, slot N > 1 under NAME.N: two replicas never share a
local volume by accident, and scaling a one-replica service up never moves its data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from shoal.manager.scheduler import NodeSnapshot
from shoal.protos.shoal.v1 import types_pb2

DEFAULT_DRIVER = "local"


def slot_volume(name: str, slot: int) -> str:
    return name if slot <= 1 else f"{name}.{slot}"


def named_volumes(spec: types_pb2.ContainerSpec) -> list[str]:
    """The named volumes a spec mounts, in order, once each."""
    seen: list[str] = []
    for m in spec.mounts:
        if m.type == "volume" and m.source and m.source not in seen:
            seen.append(m.source)
    return seen


def for_slot(spec: types_pb2.ContainerSpec, slot: int) -> None:
    """Renames a replicated task's named volumes to its slot's (in place)."""
    for m in spec.mounts:
        if m.type == "volume" and m.source:
            m.source = slot_volume(m.source, slot)


@dataclass(frozen=True, slots=True)
class Pin:
    """The node the container must go to (empty: any), the volume that says so, and the volumes
    still to be recorded on whichever node it lands on."""
    node_id: str = ""
    node_name: str = ""
    volume: str = ""
    new: tuple[str, ...] = ()


class VolumesApart(ValueError):
    """Two named volumes of one container live on different nodes; str() names them."""


def pin(spec: types_pb2.ContainerSpec, volumes: Mapping[str, types_pb2.Volume]) -> Pin:
    node_id = node_name = by = ""
    new = []
    for name in named_volumes(spec):
        v = volumes.get(name)
        if v is None or not v.node_id:
            new.append(name)
            continue
        if node_id and v.node_id != node_id:
            raise VolumesApart(f"volume {by} is on node {node_name} and volume {name} on node {v.node_name}: "
                               f"one container cannot mount both")
        node_id, node_name, by = v.node_id, v.node_name, name
    return Pin(node_id, node_name, by, tuple(new))


def fill(spec: types_pb2.ContainerSpec, volumes: Mapping[str, types_pb2.Volume]) -> None:
    """Copies each named volume's driver, options and labels into its mounts (in place)."""
    for m in spec.mounts:
        if m.type != "volume":
            continue
        v = volumes.get(m.source) if m.source else None
        m.driver = (v.driver if v is not None else m.driver) or DEFAULT_DRIVER
        if v is not None:
            m.driver_options.clear()
            m.driver_options.update(v.options)
            m.volume_labels.clear()
            m.volume_labels.update(v.labels)


def new_records(p: Pin, spec: types_pb2.ContainerSpec, node_id: str, node_name: str, at: str,
                volumes: Mapping[str, types_pb2.Volume]) -> list[types_pb2.Volume]:
    """The records of the volumes that land with this container: those named on first use, and
    those created without a node."""
    asked = {m.source: m for m in spec.mounts if m.type == "volume" and m.source}
    out = []
    for name in p.new:
        known = volumes.get(name)
        record = types_pb2.Volume()
        if known is not None:
            record.CopyFrom(known)
        else:
            # Named on first use: as its mount asks for it (a stack file's driver_opts and labels).
            m = asked.get(name, types_pb2.Mount())
            record.name, record.driver, record.created_at, record.implicit = name, m.driver or DEFAULT_DRIVER, at, True
            record.options.update(m.driver_options)
            record.labels.update(m.volume_labels)
        record.node_id, record.node_name = node_id, node_name
        out.append(record)
    return out


def why_waiting(p: Pin, nodes: Mapping[str, NodeSnapshot]) -> str | None:
    """What `service ps` says of a task its volume keeps waiting: None when the node could take it
    (the scheduler's own reason then says what else is missing)."""
    if not p.node_id:
        return None
    node = nodes.get(p.node_id)
    if node is None or not node.ready:
        return f"volume {p.volume} is on node {p.node_name}, which is down"
    if node.availability != "active":
        state = "draining" if node.availability == "drain" else "paused"
        return f"volume {p.volume} is on node {p.node_name}, which is {state}"
    return None
