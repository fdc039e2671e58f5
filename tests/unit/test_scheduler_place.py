"""place() end to end: soft constraints, NoFit messages, strategy names, and properties."""

import random
from collections.abc import Sequence
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.manager.scheduler import (
    STRATEGIES,
    Constraint,
    NodeSnapshot,
    NoFit,
    Placement,
    TaskRequest,
    parse_constraint,
    place,
)
from shoal.manager.scheduler.strategies import score
from tests.unit.conftest import CPU, GiB, MiB, node_snapshot, task_request

make_node = partial(node_snapshot, nano_cpus=2 * CPU, memory=1 * GiB)


_ZONED = [
    make_node("eu1", labels={"zone": "eu", "disk": "hdd"}),
    make_node("eu2", labels={"zone": "eu", "disk": "hdd"}, reserved_memory=512 * MiB),
    make_node("us1", labels={"zone": "us", "disk": "ssd"}),
]


# --- soft constraints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        # Satisfiable soft rule: honoured, nothing dropped (spread alone would pick eu1 or us1).
        (task_request("node.labels.disk==~ssd"), Placement("us1")),
        (task_request("node.labels.zone!=~us"), Placement("eu1")),
        (task_request("node.labels.zone==~eu", "node.id!=~eu1"), Placement("eu2")),
        # Unsatisfiable soft rule: dropped and reported; spread picks among all.
        (task_request("node.labels.zone==~ap"), Placement("eu1", ("node.labels.zone==~ap",))),
        # Every soft rule is dropped together, and reported in the order written.
        (
            task_request("node.labels.zone==~eu", "node.labels.disk==~ssd"),
            Placement("eu1", ("node.labels.zone==~eu", "node.labels.disk==~ssd")),
        ),
        # Hard rules still hold after the soft ones are dropped.
        (task_request("node.labels.zone==us", "node.labels.disk==~hdd"), Placement("us1", ("node.labels.disk==~hdd",))),
        (task_request("node.labels.zone==eu", "node.labels.disk==~ssd"), Placement("eu1", ("node.labels.disk==~ssd",))),
        # Soft rules also yield to resources, not only to other constraints.
        (
            task_request("node.id==~eu2", memory=768 * MiB),
            Placement("eu1", ("node.id==~eu2",)),
        ),
    ],
)
def test_soft_constraints(task: TaskRequest, expected: Placement) -> None:
    assert place(_ZONED, task) == expected


@pytest.mark.parametrize(
    ("task", "message"),
    [
        # Hard rule unsatisfiable: the reasons are those of the run without soft rules.
        (
            task_request("node.labels.zone==ap", "node.labels.disk==~ssd"),
            "no node fits: 3 nodes do not match node.labels.zone==ap",
        ),
        (
            task_request("node.labels.zone==~eu", memory=2 * GiB),
            "no node fits: 3 nodes lack 2 GiB memory",
        ),
    ],
)
def test_soft_constraints_cannot_rescue_a_hard_failure(task: TaskRequest, message: str) -> None:
    result = place(_ZONED, task)
    assert isinstance(result, NoFit)
    assert result.message == message


# --- NoFit -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "task", "message"),
    [
        ([], TaskRequest(), "no node fits: the cluster has no nodes"),
        (
            [
                make_node("a", availability="drain"),
                make_node("b", memory=256 * MiB),
                make_node("c", reserved_memory=768 * MiB),
            ],
            TaskRequest(memory=512 * MiB),
            "no node fits: 1 node is draining, 2 nodes lack 512 MiB memory",
        ),
        (
            [
                make_node("c", reserved_memory=768 * MiB),
                make_node("b", memory=256 * MiB),
                make_node("a", availability="drain"),
                make_node("d", availability="drain", memory=0),  # draining, not short of memory
            ],
            TaskRequest(memory=512 * MiB),
            "no node fits: 2 nodes are draining, 2 nodes lack 512 MiB memory",
        ),
        (
            [
                make_node("a", ready=False),
                make_node("b", availability="pause"),
                make_node("c", labels={"zone": "us"}),
                make_node("d", labels={"zone": "eu"}, nano_cpus=1 * CPU),
                make_node("e", labels={"zone": "eu"}, used_ports=frozenset({(8080, "tcp", "")})),
                make_node("f", labels={"zone": "eu"}, used_ports=frozenset({(8080, "tcp", "")})),
            ],
            task_request("node.labels.zone==eu", nano_cpus=1_500_000_000, host_ports=frozenset({(8080, "tcp", "")})),
            "no node fits: 1 node is down, 1 node is paused, 1 node does not match node.labels.zone==eu, "
            "1 node lacks 1.5 CPUs, 2 nodes already publish port 8080/tcp",
        ),
    ],
)
def test_nofit_message(nodes: list[NodeSnapshot], task: TaskRequest, message: str) -> None:
    for strategy in STRATEGIES:
        result = place(nodes, task, strategy, random.Random(0))
        assert isinstance(result, NoFit)
        assert result.message == message


def test_nofit_for_empty_cluster() -> None:
    assert place([], TaskRequest()) == NoFit(("the cluster has no nodes",))


# --- strategy names --------------------------------------------------------------------


def test_strategies() -> None:
    assert STRATEGIES == ("spread", "binpack", "random")


@pytest.mark.parametrize(
    ("strategy", "nodes"),
    [
        ("x", [make_node("a")]),
        ("Spread", [make_node("a")]),
        ("", [make_node("a")]),
        ("x", []),  # rejected even when there is nothing to place on
    ],
)
def test_unknown_strategy(strategy: str, nodes: list[NodeSnapshot]) -> None:
    with pytest.raises(ValueError) as caught:
        place(nodes, TaskRequest(), strategy)
    assert str(caught.value) == f'strategy: "{strategy}" is not one of spread, binpack, random'


# --- properties ------------------------------------------------------------------------

_EXPRESSIONS = [
    "node.labels.zone==eu",
    "node.labels.zone!=eu",
    "node.labels.zone==/(eu|us)/",
    "engine.labels.gpu==*",
    "engine.labels.gpu!=yes",
    "node.id!=n0",
    "node.name==n[0-2]",
    "node.hostname==n1.example",
    "node.labels.zone==~us",
    "node.labels.zone!=~eu",
    "engine.labels.gpu==~yes",
    "node.id==~n3",
]
_PORTS = [(80, "tcp", ""), (443, "tcp", ""), (53, "udp", ""), (53, "tcp", ""),
          (80, "tcp", "127.0.0.1"), (80, "tcp", "10.0.0.5"), (53, "udp", "10.0.0.5")]


@st.composite
def clusters(draw: st.DrawFn) -> list[NodeSnapshot]:
    count = draw(st.integers(min_value=0, max_value=6))
    return [
        node_snapshot(
            f"n{i}",
            name=draw(st.sampled_from([f"n{i}", "dup"])),
            labels=draw(st.dictionaries(st.just("zone"), st.sampled_from(["eu", "us", "ap", ""]))),
            engine_labels=draw(st.dictionaries(st.just("gpu"), st.sampled_from(["yes", "no"]))),
            availability=draw(st.sampled_from(["active", "active", "active", "pause", "drain"])),
            ready=draw(st.booleans() | st.just(True)),
            nano_cpus=draw(st.sampled_from([0, CPU, 2 * CPU, 4 * CPU])),
            memory=draw(st.sampled_from([0, 256 * MiB, GiB])),
            reserved_nano_cpus=draw(st.sampled_from([0, CPU // 2, 2 * CPU, 5 * CPU])),
            reserved_memory=draw(st.sampled_from([0, 128 * MiB, 512 * MiB, 2 * GiB])),
            containers=draw(st.integers(min_value=0, max_value=5)),
            used_ports=frozenset(draw(st.lists(st.sampled_from(_PORTS), max_size=2))),
        )
        for i in range(count)
    ]


tasks = st.builds(
    TaskRequest,
    nano_cpus=st.sampled_from([0, CPU // 2, CPU, 3 * CPU]),
    memory=st.sampled_from([0, 64 * MiB, 512 * MiB]),
    constraints=st.lists(st.sampled_from(_EXPRESSIONS), max_size=3, unique=True).map(
        lambda exprs: tuple(parse_constraint(e) for e in exprs)
    ),
    host_ports=st.frozensets(st.sampled_from(_PORTS), max_size=2),
)


def fits(node: NodeSnapshot, task: TaskRequest, constraints: Sequence[Constraint]) -> bool:
    """An independent restatement of the hard filters."""
    return (
        node.ready
        and node.availability == "active"
        and all(c.matches(node) for c in constraints)
        and (task.nano_cpus == 0 or node.reserved_nano_cpus + task.nano_cpus <= node.nano_cpus)
        and (task.memory == 0 or node.reserved_memory + task.memory <= node.memory)
        and not any(w[:2] == u[:2] and (w[2] == u[2] or not w[2] or not u[2])
                    for w in task.host_ports for u in node.used_ports)
    )


@settings(max_examples=200, deadline=None, database=None)
@given(nodes=clusters(), task=tasks, strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 2**32))
def test_place_properties(nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, seed: int) -> None:
    hard = [c for c in task.constraints if not c.soft]
    soft_texts = tuple(c.text for c in task.constraints if c.soft)
    result = place(nodes, task, strategy, random.Random(seed))

    if isinstance(result, NoFit):
        assert not any(fits(n, task, hard) for n in nodes)
        if nodes:
            # Every node is charged to exactly one reason.
            assert sum(int(reason.split()[0]) for reason in result.reasons) == len(nodes)
        else:
            assert result.reasons == ("the cluster has no nodes",)
        return

    assert isinstance(result, Placement)
    chosen = next(n for n in nodes if n.id == result.node_id)
    assert fits(chosen, task, hard)
    if result.dropped_soft:
        assert result.dropped_soft == soft_texts
        assert not any(fits(n, task, task.constraints) for n in nodes)
        applied = hard
    else:
        assert fits(chosen, task, task.constraints)
        applied = list(task.constraints)

    # The ranking strategies pick the best score among the nodes that fit.
    scores = [score(n, task) for n in nodes if fits(n, task, applied)]
    if strategy == "spread":
        assert score(chosen, task) == min(scores)
    elif strategy == "binpack":
        assert score(chosen, task) == max(scores)


@settings(max_examples=50, deadline=None, database=None)
@given(nodes=clusters(), task=tasks, strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 2**32))
def test_place_ignores_input_order(nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, seed: int) -> None:
    forward = place(nodes, task, strategy, random.Random(seed))
    backward = place(list(reversed(nodes)), task, strategy, random.Random(seed))
    assert forward == backward
