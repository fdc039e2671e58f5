"""The feasibility filters, in their fixed order, and the "why not" they report.

Each node is charged to the first filter that rejects it, so a drained node that
also lacks memory is reported once, as draining: the earliest reason is the one
an operator has to fix first.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .constraints import Constraint
from .ports import clash
from .types import NodeSnapshot, TaskRequest
from .units import format_bytes, format_cpus


@dataclass(frozen=True, slots=True)
class Rejection:
    """One cause of rejection; equal causes are counted together."""

    order: tuple[int | str, ...]  # filter position first, so reasons read in filter order
    one: str  # predicate for a single node: "is draining"
    many: str  # predicate for several: "are draining"

    def reason(self, count: int) -> str:
        if count == 1:
            return f"1 node {self.one}"
        return f"{count} nodes {self.many}"


_DOWN = Rejection((0, 0), "is down", "are down")
_BY_AVAILABILITY = {
    "pause": Rejection((0, 1), "is paused", "are paused"),
    "drain": Rejection((0, 2), "is draining", "are draining"),
}


def check_health(node: NodeSnapshot) -> Rejection | None:
    if not node.ready:
        return _DOWN
    if node.availability == "active":
        return None
    known = _BY_AVAILABILITY.get(node.availability)
    if known is not None:
        return known
    # An availability this code does not know is never a licence to schedule.
    what = f'unknown availability "{node.availability}"'
    return Rejection((0, 3, node.availability), f"has {what}", f"have {what}")


def check_constraints(node: NodeSnapshot, constraints: Sequence[Constraint]) -> Rejection | None:
    for position, constraint in enumerate(constraints):
        if not constraint.matches(node):
            return Rejection(
                (1, position),
                f"does not match {constraint.text}",
                f"do not match {constraint.text}",
            )
    return None


def check_cpu(node: NodeSnapshot, task: TaskRequest) -> Rejection | None:
    if task.nano_cpus <= 0 or node.reserved_nano_cpus + task.nano_cpus <= node.nano_cpus:
        return None
    amount = format_cpus(task.nano_cpus)
    return Rejection((2,), f"lacks {amount}", f"lack {amount}")


def check_memory(node: NodeSnapshot, task: TaskRequest) -> Rejection | None:
    if task.memory <= 0 or node.reserved_memory + task.memory <= node.memory:
        return None
    amount = format_bytes(task.memory)
    return Rejection((3,), f"lacks {amount} memory", f"lack {amount} memory")


def check_ports(node: NodeSnapshot, task: TaskRequest) -> Rejection | None:
    taken = clash(task.host_ports, node.used_ports)
    if taken is None:
        return None
    port, protocol = taken
    return Rejection(
        (4, port, protocol),
        f"already publishes port {port}/{protocol}",
        f"already publish port {port}/{protocol}",
    )


def first_rejection(
    node: NodeSnapshot, task: TaskRequest, constraints: Sequence[Constraint]
) -> Rejection | None:
    """The first filter, in the fixed order, that rejects the node; None if it fits."""
    # `or` short-circuits, so later (costlier) filters only run on nodes that got that far.
    return (
        check_health(node)
        or check_constraints(node, constraints)
        or check_cpu(node, task)
        or check_memory(node, task)
        or check_ports(node, task)
    )


def screen(
    nodes: Iterable[NodeSnapshot], task: TaskRequest, constraints: Sequence[Constraint]
) -> tuple[list[NodeSnapshot], Counter[Rejection]]:
    """Split nodes into the feasible ones and counted rejections.

    `constraints` is passed separately from the task so the soft-constraint retry
    can screen the same task with and without its soft rules.
    """
    feasible: list[NodeSnapshot] = []
    rejected: Counter[Rejection] = Counter()
    for node in nodes:
        rejection = first_rejection(node, task, constraints)
        if rejection is None:
            feasible.append(node)
        else:
            rejected[rejection] += 1
    return feasible, rejected


def explain(rejected: Counter[Rejection]) -> tuple[str, ...]:
    ordered = sorted(rejected.items(), key=lambda item: item[0].order)
    return tuple(rejection.reason(count) for rejection, count in ordered)
