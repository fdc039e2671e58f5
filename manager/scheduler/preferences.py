"""Placement preferences (`--placement-pref spread=node.labels.K`): choose among feasible nodes.

The label keys form a tree, outermost first, as in swarm mode: with ("zone", "rack")
a node sits at the branch (zone, rack). At each level the feasible nodes are kept
only in the branches holding the fewest tasks of the service, counted over every
node of that branch, feasible or not, ready or not: a down node's tasks still sit
in its zone. A missing label reads as "" and forms a branch of its own.

Preferences only narrow a non-empty feasible set and never empty it, so they can
change which node is chosen but never turn a placement into a NoFit.
"""

from collections import Counter
from collections.abc import Sequence

from .types import NodeSnapshot, TaskRequest


def prefer(
    feasible: Sequence[NodeSnapshot], nodes: Sequence[NodeSnapshot], task: TaskRequest
) -> Sequence[NodeSnapshot]:
    """The feasible nodes in the least-loaded branch at every level of task.spread_over.

    Several branches can tie at a level; all of them are kept and the next level
    (then the strategy) decides between their nodes.
    """
    if not task.spread_over or not feasible:
        return feasible
    survivors = list(feasible)
    for depth in range(1, len(task.spread_over) + 1):
        keys = task.spread_over[:depth]
        # Branch identity is the whole path, so "rack r1" in zone a and in zone b stay apart.
        totals: Counter[tuple[str, ...]] = Counter()
        for node in nodes:
            totals[_path(node, keys)] += node.group_tasks.get(task.group, 0)
        fewest = min(totals[_path(node, keys)] for node in survivors)
        survivors = [node for node in survivors if totals[_path(node, keys)] == fewest]
    return survivors


def _path(node: NodeSnapshot, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(node.labels.get(key, "") for key in keys)
