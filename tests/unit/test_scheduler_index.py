"""NodeIndex gives exactly the scan's placements (place_many_scan), batch after batch."""

import random
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.manager.scheduler import (
    STRATEGIES,
    NodeIndex,
    NodeSnapshot,
    NoFit,
    Placement,
    TaskRequest,
    parse_constraint,
    place_many,
    place_many_scan,
)
from shoal.manager.scheduler.place import charge
from tests.unit.conftest import CPU, GiB, node_snapshot, task_request

ZONES = ("a", "b", "c")
CONSTRAINTS = (
    "node.labels.zone==a",
    "node.labels.zone!=b",
    "node.labels.zone==[ab]",
    "node.labels.disk==ssd",
    "node.labels.disk==~ssd",
    "node.labels.zone!=~c",
    "engine.labels.gpu==yes",
    "node.name==n3",
    "node.name==/n[0-4]/",
)


@st.composite
def nodes(draw) -> list[NodeSnapshot]:
    count = draw(st.integers(0, 14))
    out = []
    for i in range(count):
        labels = {}
        if draw(st.booleans()):
            labels["zone"] = draw(st.sampled_from(ZONES))
        if draw(st.booleans()):
            labels["disk"] = "ssd"
        cpus = draw(st.sampled_from((1, 2, 4, 4, 0))) * CPU
        memory = draw(st.sampled_from((1, 2, 8, 8, 0))) * GiB
        out.append(node_snapshot(
            f"id{i:02d}",
            # Repeated names: the id must break the tie the same way in both.
            name=f"n{draw(st.integers(0, 6))}",
            hostname=f"h{i}",
            labels=labels,
            engine_labels={"gpu": "yes"} if draw(st.booleans()) else {},
            availability="active" if draw(st.integers(0, 7)) else draw(st.sampled_from(("pause", "drain"))),
            ready=draw(st.integers(0, 9)) > 0,
            nano_cpus=cpus,
            memory=memory,
            # Few distinct reservations, so that scores tie and the later keys have to decide.
            reserved_nano_cpus=cpus * draw(st.sampled_from((0, 1, 2, 4))) // 4,
            reserved_memory=memory * draw(st.sampled_from((0, 1, 2, 4))) // 4,
            containers=draw(st.integers(0, 5)),
            used_ports=frozenset({(80, "tcp", "")}) if draw(st.integers(0, 4)) == 0 else frozenset(),
            group_tasks={"svc": draw(st.integers(0, 3))} if draw(st.booleans()) else {},
        ))
    return out


@st.composite
def tasks(draw) -> TaskRequest:
    return TaskRequest(
        nano_cpus=draw(st.sampled_from((0, CPU // 4, CPU // 2, CPU))),
        memory=draw(st.sampled_from((0, GiB // 4, GiB))),
        constraints=tuple(parse_constraint(c) for c in draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=2))),
        host_ports=frozenset({(80, "tcp", "")}) if draw(st.integers(0, 5)) == 0 else frozenset(),
        group=draw(st.sampled_from(("", "svc", "other"))),
        spread_over=("zone",) if draw(st.integers(0, 5)) == 0 else (),
    )


def charged(nodes: Sequence[NodeSnapshot], task: TaskRequest, placements: list[Placement]) -> list[NodeSnapshot]:
    by_id = {n.id: n for n in nodes}
    for p in placements:
        by_id[p.node_id] = charge(by_id[p.node_id], task)
    return [by_id[n.id] for n in nodes]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cluster=nodes(),
    batches=st.lists(st.tuples(tasks(), st.integers(1, 25)), min_size=1, max_size=3),
    strategy=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**16),
)
def test_the_index_places_exactly_as_the_scan(cluster, batches, strategy, seed) -> None:
    index = NodeIndex(cluster)
    scan_nodes = list(cluster)
    rng_index, rng_scan = random.Random(seed), random.Random(seed)
    for task, count in batches:
        got = index.place_many(task, count, strategy, rng_index)
        want = place_many_scan(scan_nodes, task, count, strategy, rng_scan)
        assert got == want
        scan_nodes = charged(scan_nodes, task, want[0])
        # What the index charged is what the scan's snapshots say, field for field.
        assert sorted(index.snapshots(), key=lambda n: n.id) == sorted(scan_nodes, key=lambda n: n.id)
    # Both consumed the generator alike.
    assert rng_index.random() == rng_scan.random()


def test_the_callers_snapshots_are_not_touched() -> None:
    node = node_snapshot("a", hostname="a", nano_cpus=CPU, memory=GiB, group_tasks={"s": 1})
    index = NodeIndex([node])
    index.place_many(TaskRequest(group="s", nano_cpus=CPU // 4, host_ports=frozenset({(80, "tcp", "")})), 1)
    assert node.group_tasks == {"s": 1} and node.reserved_nano_cpus == 0 and node.used_ports == frozenset()
    assert index.snapshots()[0].group_tasks == {"s": 2}


def test_upsert_replaces_a_node_and_what_was_charged_to_it() -> None:
    def node(i: str, **kw) -> NodeSnapshot:
        return node_snapshot(i, hostname=i, nano_cpus=CPU, memory=GiB, **kw)
    index = NodeIndex([node("a", labels={"zone": "x"}), node("b")])
    task = task_request("node.labels.zone==x", nano_cpus=CPU // 2)
    assert [p.node_id for p in index.place_many(task, 2)[0]] == ["a", "a"]
    assert isinstance(index.place(task), NoFit)
    # The node comes back relabelled and empty: the label index follows it.
    index.upsert(node("a", labels={"zone": "y"}))
    index.upsert(node("b", labels={"zone": "x"}))
    assert index.place(task) == Placement("b")
    index.remove("b")
    assert index.place(task) == NoFit(("1 node does not match node.labels.zone==x",))
    assert len(index) == 1


def test_a_duplicated_id_is_refused_by_the_index_and_placed_by_the_scan() -> None:
    twin = node_snapshot("a", hostname="a", nano_cpus=CPU, memory=GiB)
    with pytest.raises(ValueError, match="listed twice"):
        NodeIndex([twin, twin])
    placements, nofit = place_many([twin, replace(twin)], TaskRequest(memory=GiB), 3)
    assert [p.node_id for p in placements] == ["a", "a"] and nofit is not None


def test_an_empty_index_says_the_cluster_has_no_nodes() -> None:
    assert NodeIndex().place(TaskRequest()) == NoFit(("the cluster has no nodes",))
    assert NodeIndex().place_many(TaskRequest(), 0) == ([], None)
    with pytest.raises(ValueError, match="strategy"):
        NodeIndex().place_many(TaskRequest(), 1, "nearest")
