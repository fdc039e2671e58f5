"""Each feasibility filter alone, their fixed order, and the amounts they print."""

from collections import Counter
from dataclasses import replace

import pytest

from shoal.manager.scheduler import NodeSnapshot, TaskRequest, format_bytes, format_cpus
from shoal.manager.scheduler.filters import explain, first_rejection, screen
from tests.unit.conftest import CPU, GiB, MiB, node_snapshot, task_request


def make_node(id: str = "n1", **overrides: object) -> NodeSnapshot:
    return node_snapshot(id, **{"labels": {"zone": "eu"}, "nano_cpus": 2 * CPU, "memory": 1 * GiB, **overrides})


def reasons_for(nodes: list[NodeSnapshot], task: TaskRequest) -> tuple[str, ...]:
    feasible, rejected = screen(nodes, task, task.constraints)
    assert feasible == []
    return explain(rejected)


# --- each filter alone, with singular and plural wording ------------------------------


@pytest.mark.parametrize(
    ("node", "task", "one", "many"),
    [
        (make_node(ready=False), TaskRequest(), "1 node is down", "3 nodes are down"),
        (make_node(availability="pause"), TaskRequest(), "1 node is paused", "3 nodes are paused"),
        (make_node(availability="drain"), TaskRequest(), "1 node is draining", "3 nodes are draining"),
        (
            make_node(availability="cordoned"),
            TaskRequest(),
            '1 node has unknown availability "cordoned"',
            '3 nodes have unknown availability "cordoned"',
        ),
        (
            make_node(),
            task_request("node.labels.zone==us"),
            "1 node does not match node.labels.zone==us",
            "3 nodes do not match node.labels.zone==us",
        ),
        (
            make_node(),
            task_request("node.labels.zone!=~eu"),
            "1 node does not match node.labels.zone!=~eu",
            "3 nodes do not match node.labels.zone!=~eu",
        ),
        (
            make_node(nano_cpus=2 * CPU, reserved_nano_cpus=1 * CPU),
            TaskRequest(nano_cpus=1_500_000_000),
            "1 node lacks 1.5 CPUs",
            "3 nodes lack 1.5 CPUs",
        ),
        (
            make_node(nano_cpus=0),
            TaskRequest(nano_cpus=1 * CPU),
            "1 node lacks 1 CPU",
            "3 nodes lack 1 CPU",
        ),
        (
            make_node(memory=1 * GiB, reserved_memory=768 * MiB),
            TaskRequest(memory=512 * MiB),
            "1 node lacks 512 MiB memory",
            "3 nodes lack 512 MiB memory",
        ),
        (
            make_node(used_ports=frozenset({(8080, "tcp", "")})),
            TaskRequest(host_ports=frozenset({(8080, "tcp", "")})),
            "1 node already publishes port 8080/tcp",
            "3 nodes already publish port 8080/tcp",
        ),
    ],
)
def test_each_filter_explains_itself(node: NodeSnapshot, task: TaskRequest, one: str, many: str) -> None:
    assert reasons_for([node], task) == (one,)
    copies = [replace(node, id=f"n{i}") for i in range(3)]
    assert reasons_for(copies, task) == (many,)


@pytest.mark.parametrize(
    ("node", "task"),
    [
        # Reservations may reach capacity exactly.
        (make_node(nano_cpus=2 * CPU, reserved_nano_cpus=1 * CPU), TaskRequest(nano_cpus=1 * CPU)),
        (make_node(memory=1 * GiB, reserved_memory=512 * MiB), TaskRequest(memory=512 * MiB)),
        # A zero request skips the resource check, even on an overcommitted node.
        (make_node(nano_cpus=1 * CPU, reserved_nano_cpus=3 * CPU), TaskRequest(memory=1 * MiB)),
        (make_node(memory=0, reserved_memory=1 * GiB), TaskRequest(nano_cpus=1 * CPU)),
        # Ports clash on number and protocol together.
        (make_node(used_ports=frozenset({(53, "udp", "")})), TaskRequest(host_ports=frozenset({(53, "tcp", "")}))),
        (make_node(used_ports=frozenset({(80, "tcp", "")})), TaskRequest(host_ports=frozenset({(8080, "tcp", "")}))),
        # Constraints that all hold.
        (make_node(), task_request("node.labels.zone==eu", "node.id!=n2")),
    ],
)
def test_node_that_fits_passes_every_filter(node: NodeSnapshot, task: TaskRequest) -> None:
    assert first_rejection(node, task, task.constraints) is None


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        # The first failing constraint is the one reported.
        (
            task_request("node.labels.zone==us", "node.id==other"),
            "1 node does not match node.labels.zone==us",
        ),
        (
            task_request("node.id==n1", "node.id==other", "node.labels.zone==us"),
            "1 node does not match node.id==other",
        ),
        # The lowest clashing port is the one reported, whatever the set order.
        (
            TaskRequest(host_ports=frozenset({(9000, "tcp", ""), (443, "tcp", ""), (80, "udp", "")})),
            "1 node already publishes port 443/tcp",
        ),
    ],
)
def test_first_cause_within_a_filter(task: TaskRequest, expected: str) -> None:
    node = make_node(used_ports=frozenset({(443, "tcp", ""), (9000, "tcp", "")}))
    assert reasons_for([node], task) == (expected,)


# --- the fixed order: a node is charged to the first filter that rejects it ------------

_GREEDY = task_request(
    "node.labels.zone==us",
    nano_cpus=4 * CPU,
    memory=2 * GiB,
    host_ports=frozenset({(80, "tcp", "")}),
)
_BUSY = frozenset({(80, "tcp", "")})


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (make_node(ready=False, availability="drain", used_ports=_BUSY), "1 node is down"),
        (make_node(availability="drain", used_ports=_BUSY), "1 node is draining"),
        (make_node(availability="pause", used_ports=_BUSY), "1 node is paused"),
        (make_node(used_ports=_BUSY), "1 node does not match node.labels.zone==us"),
        (make_node(labels={"zone": "us"}, used_ports=_BUSY), "1 node lacks 4 CPUs"),
        (make_node(labels={"zone": "us"}, nano_cpus=8 * CPU, used_ports=_BUSY), "1 node lacks 2 GiB memory"),
        (
            make_node(labels={"zone": "us"}, nano_cpus=8 * CPU, memory=4 * GiB, used_ports=_BUSY),
            "1 node already publishes port 80/tcp",
        ),
    ],
)
def test_filter_order(node: NodeSnapshot, expected: str) -> None:
    assert reasons_for([node], _GREEDY) == (expected,)


def test_reasons_follow_filter_order_not_node_order() -> None:
    nodes = [
        make_node("a", used_ports=_BUSY, labels={"zone": "us"}, nano_cpus=8 * CPU, memory=4 * GiB),
        make_node("b", labels={"zone": "us"}, nano_cpus=8 * CPU),
        make_node("c", labels={"zone": "us"}),
        make_node("d"),
        make_node("e", availability="drain"),
        make_node("f", availability="pause"),
        make_node("g", ready=False),
        make_node("h", availability="drain"),
    ]
    assert reasons_for(nodes, _GREEDY) == (
        "1 node is down",
        "1 node is paused",
        "2 nodes are draining",
        "1 node does not match node.labels.zone==us",
        "1 node lacks 4 CPUs",
        "1 node lacks 2 GiB memory",
        "1 node already publishes port 80/tcp",
    )


def test_screen_keeps_feasible_nodes_in_input_order() -> None:
    nodes = [make_node("c"), make_node("x", availability="drain"), make_node("a"), make_node("b")]
    feasible, rejected = screen(nodes, TaskRequest(), ())
    assert [n.id for n in feasible] == ["c", "a", "b"]
    assert sum(rejected.values()) == 1


def test_explain_nothing() -> None:
    assert explain(Counter()) == ()


# --- units: how the amounts in the explanations are written ---------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1000, "1000 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (64 * MiB, "64 MiB"),
        (536870912, "512 MiB"),
        (1000 * MiB, "1000 MiB"),
        (1610612736, "1.5 GiB"),
        (1 * GiB + 1, "1 GiB"),  # two decimals at most
        (1_000_000, "976.56 KiB"),
        (1048575, "1 MiB"),  # rounds up into the next unit instead of "1024 KiB"
        (3 << 40, "3 TiB"),
        (1 << 70, "1024 EiB"),  # no unit past EiB
        (-512 * MiB, "-512 MiB"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize(
    ("nano", "text"),
    [
        (0, "0 CPUs"),
        (1_000_000_000, "1 CPU"),
        (1e9, "1 CPU"),
        (1_500_000_000, "1.5 CPUs"),
        (2_000_000_000, "2 CPUs"),
        (250_000_000, "0.25 CPUs"),
        (1, "0.000000001 CPUs"),  # exact: requests are written as short decimals
        (12_345_000_000, "12.345 CPUs"),
        (-1_500_000_000, "-1.5 CPUs"),
    ],
)
def test_format_cpus(nano: int, text: str) -> None:
    assert format_cpus(nano) == text
