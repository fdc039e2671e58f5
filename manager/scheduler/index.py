"""NodeIndex: the scan's placements (place.place_many_scan) at O(log n) each.

The index keeps every node's reservations in place (no snapshot copied per placement) and a
map from (constraint key, value) to node ids, so a literal `KEY==VALUE` constraint is a lookup.
A batch of identical tasks is screened once; then a heap per strategy hands out nodes:

* spread and binpack rank on a key that changes only for the node just charged, so each
  placement is one `heapreplace` (or a pop, once the node no longer fits);
* random keeps the fitting nodes sorted by id, which is what the scan draws from, so the same
  seeded generator picks the same nodes.

Charging never makes a node fit again within a batch (reservations, containers and ports only
grow), which is why a node that stops fitting can leave the heap for good.  Placement
preferences (spread_over) count tasks over whole label branches and are left to the scan,
one placement at a time, over the index's current snapshots.
"""

import random
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace
from heapq import heapify, heappop, heapreplace
from typing import cast

from .constraints import Constraint, indexed_values
from .filters import explain, screen
from .place import _place, place_many_scan
from .ports import clash
from .strategies import chooser
from .types import NodeSnapshot, NoFit, Placement, TaskRequest

__all__ = ["NodeIndex", "place_many"]


def place_many(
    nodes: Sequence[NodeSnapshot],
    task: TaskRequest,
    count: int,
    strategy: str = "spread",
    rng: random.Random | None = None,
) -> tuple[list[Placement], NoFit | None]:
    """Place `count` copies of the task one after the other, each seeing the ones before.

    The caller's snapshots are not touched. Stops at the first NoFit and returns it with the
    placements made before it. Same answers as place_many_scan, from an index.
    """
    if len({node.id for node in nodes}) != len(nodes):
        # Duplicated ids cannot be keyed; the scan tells them apart by position.
        return place_many_scan(nodes, task, count, strategy, rng)
    return NodeIndex(nodes).place_many(task, count, strategy, rng)


class _Entry:
    """One node: its snapshot (fixed fields) and what placements have charged to it since."""

    __slots__ = ("node", "cpus", "memory", "containers", "ports", "groups", "charged")

    def __init__(self, node: NodeSnapshot):
        self.node = node
        self.cpus = node.reserved_nano_cpus
        self.memory = node.reserved_memory
        self.containers = node.containers
        self.ports = node.used_ports
        self.groups = node.group_tasks
        self.charged = False

    def charge(self, task: TaskRequest) -> None:
        if not self.charged:
            # Copy on first write: the snapshot's mappings belong to the caller.
            self.groups = dict(self.groups)
            self.charged = True
        self.cpus += task.nano_cpus
        self.memory += task.memory
        self.containers += 1
        groups = cast(dict[str, int], self.groups)   # our own copy, made above
        groups[task.group] = groups.get(task.group, 0) + 1
        if task.host_ports:
            self.ports = self.ports | task.host_ports

    def snapshot(self) -> NodeSnapshot:
        if not self.charged:
            return self.node
        return replace(
            self.node,
            reserved_nano_cpus=self.cpus,
            reserved_memory=self.memory,
            containers=self.containers,
            used_ports=frozenset(self.ports),
            group_tasks=dict(self.groups),
        )


class NodeIndex:
    """The cluster's nodes, indexed for placement; node ids must be unique."""

    def __init__(self, nodes: Iterable[NodeSnapshot] = ()):
        self._entries: dict[str, _Entry] = {}
        self._by_value: dict[tuple[str, str], set[str]] = {}
        self._schedulable: set[str] = set()  # ready and active: what the health filter lets through
        for node in nodes:
            if node.id in self._entries:
                raise ValueError(f"node id {node.id!r} is listed twice")
            self.upsert(node)

    def __len__(self) -> int:
        return len(self._entries)

    def upsert(self, node: NodeSnapshot) -> None:
        """Adds the node, or replaces it (and what was charged to it) with this snapshot."""
        self.remove(node.id)
        self._entries[node.id] = _Entry(node)
        for pair in indexed_values(node):
            self._by_value.setdefault(pair, set()).add(node.id)
        if node.ready and node.availability == "active":
            self._schedulable.add(node.id)

    def remove(self, node_id: str) -> None:
        entry = self._entries.pop(node_id, None)
        if entry is None:
            return
        for pair in indexed_values(entry.node):
            ids = self._by_value[pair]
            ids.discard(node_id)
            if not ids:
                del self._by_value[pair]
        self._schedulable.discard(node_id)

    def snapshots(self) -> list[NodeSnapshot]:
        """Every node as it looks with what was placed on it so far."""
        return [entry.snapshot() for entry in self._entries.values()]

    def charge(self, node_id: str, task: TaskRequest) -> None:
        """Records a task placed on the node by someone else (the scan, a restore)."""
        self._entries[node_id].charge(task)

    def place(self, task: TaskRequest, strategy: str = "spread", rng: random.Random | None = None) -> Placement | NoFit:
        placements, nofit = self.place_many(task, 1, strategy, rng)
        return placements[0] if placements else nofit  # type: ignore[return-value]

    def place_many(
        self,
        task: TaskRequest,
        count: int,
        strategy: str = "spread",
        rng: random.Random | None = None,
    ) -> tuple[list[Placement], NoFit | None]:
        """What place_many_scan returns for the same nodes, task, strategy and generator state;
        the placements are charged to the index."""
        choose = chooser(strategy)  # a bad strategy is a caller bug even on an empty cluster
        if count < 0:
            raise ValueError(f"count: {count} is negative")
        if rng is None:
            rng = random.Random()
        placements: list[Placement] = []
        if count == 0:
            return placements, None
        if not self._entries:
            return placements, NoFit(("the cluster has no nodes",))
        if task.spread_over:
            return self._place_with_preferences(task, count, choose, rng)

        # Soft constraints first count as hard; once no node fits them, all are dropped (the scan's
        # rule, applied per placement there: fitting only shrinks, so switching once is the same).
        phases: list[tuple[tuple[Constraint, ...], tuple[str, ...]]] = [(task.constraints, ())]
        soft = tuple(c for c in task.constraints if c.soft)
        if soft:
            phases.append((tuple(c for c in task.constraints if not c.soft), tuple(c.text for c in soft)))
        for constraints, dropped in phases:
            fits = _fits(task)
            fitting = [e for e in self._candidates(constraints) if fits(e)]
            if fitting:
                self._hand_out(fitting, task, count - len(placements), strategy, rng, dropped, placements)
            if len(placements) == count:
                return placements, None
        return placements, self._nofit(task, soft)

    # -- internals -------------------------------------------------------------------------

    def _candidates(self, constraints: Sequence[Constraint]) -> list[_Entry]:
        """Schedulable nodes that satisfy the constraints (lookups for literal `==`, a test for the rest)."""
        ids = self._schedulable
        tested: list[Constraint] = []
        for constraint in constraints:
            value = constraint.literal
            if value is None:
                tested.append(constraint)
                continue
            ids = ids & self._by_value.get((constraint.key, value), set())
        entries = [self._entries[i] for i in ids]
        for constraint in tested:
            entries = [e for e in entries if constraint.matches(e.node)]
        return entries

    def _hand_out(
        self,
        fitting: list[_Entry],
        task: TaskRequest,
        count: int,
        strategy: str,
        rng: random.Random,
        dropped: tuple[str, ...],
        out: list[Placement],
    ) -> None:
        placements: dict[str, Placement] = {}   # one per node chosen, shared by its placements

        def placement(entry: _Entry) -> Placement:
            p = placements.get(entry.node.id)
            if p is None:
                p = placements[entry.node.id] = Placement(node_id=entry.node.id, dropped_soft=dropped)
            return p

        fits = _fits(task)
        if strategy == "random":
            fitting.sort(key=lambda e: e.node.id)
            ids = [e.node.id for e in fitting]
            while count and fitting:
                entry = rng.choice(fitting)
                entry.charge(task)
                out.append(placement(entry))
                count -= 1
                if not fits(entry):
                    at = bisect_left(ids, entry.node.id)
                    del ids[at], fitting[at]
            return

        key = _key(task, strategy)
        heap = [(key(e), e) for e in fitting]  # keys end with the unique id: entries never compared
        heapify(heap)
        while count and heap:
            entry = heap[0][1]
            entry.charge(task)
            out.append(placement(entry))
            count -= 1
            if fits(entry):
                heapreplace(heap, (key(entry), entry))
            else:
                heappop(heap)

    def _place_with_preferences(self, task: TaskRequest, count: int, choose, rng: random.Random):
        placements: list[Placement] = []
        for _ in range(count):
            result, node = _place(self.snapshots(), task, choose, rng)
            if node is None:
                assert isinstance(result, NoFit)
                return placements, result
            assert isinstance(result, Placement)
            placements.append(result)
            self._entries[node.id].charge(task)
        return placements, None

    def _nofit(self, task: TaskRequest, soft: tuple[Constraint, ...]) -> NoFit:
        # Rare and O(n) on purpose: the reasons are counted exactly as the scan counts them.
        nodes = self.snapshots()
        feasible, rejected = screen(nodes, task, task.constraints)
        if not feasible and soft:
            feasible, rejected = screen(nodes, task, tuple(c for c in task.constraints if not c.soft))
        assert not feasible, "the index found no fit where the scan finds one"
        return NoFit(explain(rejected))


# The hot loop of a batch: every fitting node gets a key once. strategies.score is written out
# in each key (the same operations, so the very same floats): the calls it saves were a third of
# a batch's time at 10,000 nodes.

def _fits(task: TaskRequest):
    cpus, memory, ports = task.nano_cpus, task.memory, task.host_ports

    def fits(e: _Entry) -> bool:
        node = e.node
        return ((cpus <= 0 or e.cpus + cpus <= node.nano_cpus)
                and (memory <= 0 or e.memory + memory <= node.memory)
                and not (ports and e.ports and clash(ports, e.ports)))
    return fits


def _key(task: TaskRequest, strategy: str):
    cpus, memory, group = task.nano_cpus, task.memory, task.group
    if strategy == "binpack":   # mirrors strategies._binpack
        def key(e: _Entry):
            node = e.node
            c, m = node.nano_cpus, node.memory
            score = (((e.cpus + cpus) / c if c > 0 else 0.0) + ((e.memory + memory) / m if m > 0 else 0.0)) / 2
            return (-score, -e.containers, node.name, node.id)
    elif group:                 # mirrors strategies._spread: a service spreads its own tasks first
        def key(e: _Entry):
            node = e.node
            c, m = node.nano_cpus, node.memory
            score = (((e.cpus + cpus) / c if c > 0 else 0.0) + ((e.memory + memory) / m if m > 0 else 0.0)) / 2
            return (e.groups.get(group, 0), score, e.containers, node.name, node.id)
    else:
        def key(e: _Entry):
            node = e.node
            c, m = node.nano_cpus, node.memory
            score = (((e.cpus + cpus) / c if c > 0 else 0.0) + ((e.memory + memory) / m if m > 0 else 0.0)) / 2
            return (score, e.containers, node.name, node.id)
    return key
