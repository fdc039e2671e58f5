"""Snapshots in, a placement or the reasons out: the scheduler's whole vocabulary.

Everything is frozen so a caller can hand the same snapshot to many placements
(or to a benchmark) without the scheduler ever being able to change it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .ports import HostPort

if TYPE_CHECKING:  # constraints.py imports this module, so only the type checker may look back
    from .constraints import Constraint


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    id: str
    name: str  # node name given to the agent (defaults to hostname)
    hostname: str
    labels: Mapping[str, str]  # admin labels -> node.labels.K
    engine_labels: Mapping[str, str]  # agent --label values -> engine.labels.K
    availability: str  # "active" | "pause" | "drain"
    ready: bool  # False once the lease record is gone or the agent is unreachable
    nano_cpus: int  # capacity, 1 CPU = 1_000_000_000
    memory: int  # capacity in bytes
    reserved_nano_cpus: int = 0  # reservations, not usage: placement must not depend on load spikes
    reserved_memory: int = 0
    containers: int = 0
    used_ports: frozenset["HostPort"] = frozenset()  # (host_port, "tcp" | "udp", host_ip); see ports.py
    # Tasks of each service on the node, keyed by service id (TaskRequest.group).
    # Like labels this is a Mapping, so a snapshot holding a dict is not hashable;
    # nothing hashes snapshots (they are compared, listed and replaced, never set members).
    group_tasks: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskRequest:
    nano_cpus: int = 0
    memory: int = 0
    constraints: tuple["Constraint", ...] = ()
    host_ports: frozenset["HostPort"] = frozenset()  # ports.host_ports(spec.ports)
    group: str = ""  # service id; "" for a plain container
    # Placement preferences, label keys without the "node.labels." prefix, outermost
    # first: ("zone", "rack") spreads over zones, then over racks within a zone.
    spread_over: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    node_id: str
    dropped_soft: tuple[str, ...] = ()  # text of soft constraints given up to find a node


@dataclass(frozen=True, slots=True)
class NoFit:
    reasons: tuple[str, ...]  # one per cause, already counted: "2 nodes lack 512 MiB memory"

    @property
    def message(self) -> str:
        return "no node fits: " + ", ".join(self.reasons)
