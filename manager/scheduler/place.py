"""place(): filter, rank, and either name a node or explain why none fits."""

import random
from collections.abc import Sequence

from .filters import explain, screen
from .strategies import STRATEGIES, chooser
from .types import NodeSnapshot, NoFit, Placement, TaskRequest

__all__ = ["STRATEGIES", "place"]


def place(
    nodes: Sequence[NodeSnapshot],
    task: TaskRequest,
    strategy: str = "spread",
    rng: random.Random | None = None,
) -> Placement | NoFit:
    choose = chooser(strategy)  # a bad strategy is a caller bug even on an empty cluster
    if not nodes:
        return NoFit(("the cluster has no nodes",))

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
        return NoFit(explain(rejected))
    node = choose(feasible, task, rng if rng is not None else random.Random())
    return Placement(node_id=node.id, dropped_soft=dropped)
