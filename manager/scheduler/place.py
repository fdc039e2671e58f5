"""place(): filter, rank, and either name a node or explain why none fits; place_many_scan() for batches.

This is the straightforward O(nodes)-per-placement scan: the reference. index.NodeIndex gives
the same answers at O(log n) per placement and is what place_many() uses."""

import random
from collections.abc import Sequence
from dataclasses import replace

from .filters import explain, screen
from .preferences import prefer
from .strategies import STRATEGIES, Chooser, chooser
from .types import NodeSnapshot, NoFit, Placement, TaskRequest

__all__ = ["STRATEGIES", "charge", "place", "place_many_scan"]


def place(
    nodes: Sequence[NodeSnapshot],
    task: TaskRequest,
    strategy: str = "spread",
    rng: random.Random | None = None,
) -> Placement | NoFit:
    choose = chooser(strategy)  # a bad strategy is a caller bug even on an empty cluster
    result, _ = _place(nodes, task, choose, rng)
    return result


def place_many_scan(
    nodes: Sequence[NodeSnapshot],
    task: TaskRequest,
    count: int,
    strategy: str = "spread",
    rng: random.Random | None = None,
) -> tuple[list[Placement], NoFit | None]:
    """Place `count` copies of the task one after the other, each seeing the ones before.

    The caller's snapshots are not touched: a private copy is charged after every
    placement (reservations, containers, the service's task count, host ports).
    Stops at the first NoFit and returns it with the placements made before it.
    """
    choose = chooser(strategy)
    if count < 0:
        raise ValueError(f"count: {count} is negative")
    if rng is None:
        rng = random.Random()  # one generator for the whole batch
    current = list(nodes)
    # Positions by object identity, not node id: a duplicated id must not charge the wrong entry.
    position = {id(node): i for i, node in enumerate(current)}
    placements: list[Placement] = []
    for _ in range(count):
        result, node = _place(current, task, choose, rng)
        if node is None:
            assert isinstance(result, NoFit)
            return placements, result
        assert isinstance(result, Placement)
        placements.append(result)
        charged = charge(node, task)
        i = position.pop(id(node))
        current[i] = charged
        position[id(charged)] = i
    return placements, None


def _place(
    nodes: Sequence[NodeSnapshot], task: TaskRequest, choose: Chooser, rng: random.Random | None
) -> tuple[Placement | NoFit, NodeSnapshot | None]:
    if not nodes:
        return NoFit(("the cluster has no nodes",)), None

    # Soft constraints are first treated as hard; only if that leaves nothing are they all dropped.
    feasible, rejected = screen(nodes, task, task.constraints)
    dropped: tuple[str, ...] = ()
    soft = tuple(c for c in task.constraints if c.soft)
    if not feasible and soft:
        hard = tuple(c for c in task.constraints if not c.soft)
        feasible, rejected = screen(nodes, task, hard)
        dropped = tuple(c.text for c in soft)
    if not feasible:
        # With soft rules the reasons come from the hard-only run: those are what block placement.
        return NoFit(explain(rejected)), None
    # Preferences narrow the feasible set (never to nothing); the strategy ranks what is left.
    node = choose(prefer(feasible, nodes, task), task, rng if rng is not None else random.Random())
    return Placement(node_id=node.id, dropped_soft=dropped), node


def charge(node: NodeSnapshot, task: TaskRequest) -> NodeSnapshot:
    """The node as it will look once the task has landed on it."""
    group_tasks = dict(node.group_tasks)
    group_tasks[task.group] = group_tasks.get(task.group, 0) + 1
    return replace(
        node,
        reserved_nano_cpus=node.reserved_nano_cpus + task.nano_cpus,
        reserved_memory=node.reserved_memory + task.memory,
        containers=node.containers + 1,
        group_tasks=group_tasks,
        used_ports=node.used_ports | task.host_ports,
    )
