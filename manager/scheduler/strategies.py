"""Ranking among feasible nodes: spread, binpack, random.

A plain O(n) scan on purpose: it is the reference that the indexed version
(index.py, a heap per strategy) is checked and benchmarked against.
"""

import random
from collections.abc import Callable, Sequence

from .types import NodeSnapshot, TaskRequest

Chooser = Callable[[Sequence[NodeSnapshot], TaskRequest, random.Random], NodeSnapshot]


def score(node: NodeSnapshot, task: TaskRequest) -> float:
    """Mean share of CPU and memory reserved once the task lands; above 1 means overcommitted."""
    cpu = _share(node.reserved_nano_cpus + task.nano_cpus, node.nano_cpus)
    memory = _share(node.reserved_memory + task.memory, node.memory)
    return (cpu + memory) / 2


def _share(used: int, capacity: int) -> float:
    # A node that declares no capacity for a resource cannot be ranked on it.
    return used / capacity if capacity > 0 else 0.0


def _spread(feasible: Sequence[NodeSnapshot], task: TaskRequest, rng: random.Random) -> NodeSnapshot:
    # name then id make the choice independent of the order nodes were listed in.
    if task.group:
        # A service spreads its own tasks first; other load only breaks the ties.
        group = task.group
        return min(
            feasible,
            key=lambda n: (n.group_tasks.get(group, 0), score(n, task), n.containers, n.name, n.id),
        )
    return min(feasible, key=lambda n: (score(n, task), n.containers, n.name, n.id))


def _binpack(feasible: Sequence[NodeSnapshot], task: TaskRequest, rng: random.Random) -> NodeSnapshot:
    return min(feasible, key=lambda n: (-score(n, task), -n.containers, n.name, n.id))


def _random(feasible: Sequence[NodeSnapshot], task: TaskRequest, rng: random.Random) -> NodeSnapshot:
    # Sorting first makes a seeded rng pick the same node however the caller ordered them.
    return rng.choice(sorted(feasible, key=lambda n: n.id))


_CHOOSERS: dict[str, Chooser] = {"spread": _spread, "binpack": _binpack, "random": _random}
STRATEGIES: tuple[str, ...] = tuple(_CHOOSERS)


def chooser(strategy: str) -> Chooser:
    try:
        return _CHOOSERS[strategy]
    except KeyError:
        raise ValueError(f'strategy: "{strategy}" is not one of {", ".join(STRATEGIES)}') from None
