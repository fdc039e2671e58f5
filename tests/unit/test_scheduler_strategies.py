"""Ranking: spread, binpack and random over feasible nodes, via place()."""

import random

import pytest

from shoal.manager.scheduler import NodeSnapshot, Placement, TaskRequest, place
from shoal.manager.scheduler.strategies import score
from tests.unit.conftest import CPU, GiB, MiB, charged_snapshot, node_snapshot, task_request


def placed_on(nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, rng: random.Random | None = None) -> str:
    result = place(nodes, task, strategy, rng)
    assert isinstance(result, Placement), result
    return result.node_id


def run(nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, count: int) -> list[str]:
    """Place `count` copies of the task, updating snapshots as the manager would after each commit."""
    by_id = {n.id: n for n in nodes}
    chosen = []
    for _ in range(count):
        node_id = placed_on(list(by_id.values()), task, strategy)
        by_id[node_id] = charged_snapshot(by_id[node_id], task, count_group=False)
        chosen.append(node_id)
    return chosen


# --- score -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "task", "expected"),
    [
        (node_snapshot("a"), TaskRequest(), 0.0),
        (node_snapshot("a"), TaskRequest(nano_cpus=2 * CPU, memory=2 * GiB), 0.5),
        (node_snapshot("a"), TaskRequest(nano_cpus=4 * CPU), 0.5),
        (node_snapshot("a", reserved_nano_cpus=1 * CPU, reserved_memory=3 * GiB), TaskRequest(nano_cpus=1 * CPU), 0.625),
        (node_snapshot("a", nano_cpus=0), TaskRequest(memory=4 * GiB), 0.5),  # zero capacity counts as 0
        (node_snapshot("a", nano_cpus=0, memory=0), TaskRequest(nano_cpus=CPU, memory=GiB), 0.0),
        (node_snapshot("a", reserved_memory=8 * GiB), TaskRequest(), 1.0),  # overcommitted goes above 1
    ],
)
def test_score(node: NodeSnapshot, task: TaskRequest, expected: float) -> None:
    assert score(node, task) == pytest.approx(expected)


# --- spread ----------------------------------------------------------------------------


def test_spread_evens_out_equal_nodes() -> None:
    nodes = [node_snapshot("a"), node_snapshot("b"), node_snapshot("c")]
    chosen = run(nodes, TaskRequest(nano_cpus=CPU // 4, memory=256 * MiB), "spread", 6)
    assert sorted(chosen.count(n) for n in "abc") == [2, 2, 2]
    # Each round of three visits every node once.
    assert sorted(chosen[:3]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("nodes", "task", "expected"),
    [
        # Least reserved wins.
        (
            [node_snapshot("a", reserved_memory=2 * GiB), node_snapshot("b", reserved_memory=1 * GiB), node_snapshot("c", reserved_memory=3 * GiB)],
            TaskRequest(memory=128 * MiB),
            "b",
        ),
        # Scores are relative to capacity: 2 of 8 GiB beats 1 of 2 GiB.
        (
            [node_snapshot("small", memory=2 * GiB, reserved_memory=1 * GiB), node_snapshot("big", memory=8 * GiB, reserved_memory=2 * GiB)],
            TaskRequest(memory=128 * MiB),
            "big",
        ),
        # CPU and memory both count.
        (
            [node_snapshot("a", reserved_nano_cpus=3 * CPU), node_snapshot("b", reserved_memory=1 * GiB)],
            TaskRequest(),
            "b",
        ),
        # Equal scores: fewest containers.
        (
            [node_snapshot("a", containers=5), node_snapshot("b", containers=2), node_snapshot("c", containers=3)],
            TaskRequest(memory=64 * MiB),
            "b",
        ),
        # Score beats containers.
        (
            [node_snapshot("a", containers=9), node_snapshot("b", containers=0, reserved_memory=GiB)],
            TaskRequest(),
            "a",
        ),
        # All equal: by name, then id.
        ([node_snapshot("z", name="m"), node_snapshot("y", name="k"), node_snapshot("x", name="m")], TaskRequest(), "y"),
        ([node_snapshot("z", name="same"), node_snapshot("x", name="same")], TaskRequest(), "x"),
    ],
)
def test_spread_picks(nodes: list[NodeSnapshot], task: TaskRequest, expected: str) -> None:
    assert placed_on(nodes, task, "spread") == expected
    assert placed_on(list(reversed(nodes)), task, "spread") == expected


def test_spread_is_the_default() -> None:
    nodes = [node_snapshot("a", reserved_memory=GiB), node_snapshot("b")]
    result = place(nodes, TaskRequest())
    assert result == Placement("b")


def test_spread_fills_unequal_load_least_loaded_first() -> None:
    nodes = [node_snapshot("a", reserved_memory=2 * GiB), node_snapshot("b"), node_snapshot("c", reserved_memory=1 * GiB)]
    chosen = run(nodes, TaskRequest(memory=512 * MiB), "spread", 6)
    # b catches up with c (1 GiB each), then the tie goes to c (fewer containers);
    # after six tasks all three hold 2 GiB and a, already there, was never chosen.
    assert chosen == ["b", "b", "c", "b", "c", "b"]


# --- binpack ---------------------------------------------------------------------------


def test_binpack_fills_one_node_until_memory_runs_out() -> None:
    nodes = [node_snapshot(i, memory=256 * MiB) for i in ("a", "b", "c")]
    chosen = run(nodes, TaskRequest(memory=64 * MiB), "binpack", 9)
    assert chosen == ["a"] * 4 + ["b"] * 4 + ["c"]


@pytest.mark.parametrize(
    ("nodes", "task", "expected"),
    [
        # Most reserved wins, as long as the task still fits.
        (
            [node_snapshot("a", reserved_memory=1 * GiB), node_snapshot("b", reserved_memory=3 * GiB), node_snapshot("c", reserved_memory=2 * GiB)],
            TaskRequest(memory=512 * MiB),
            "b",
        ),
        (
            [node_snapshot("a", reserved_memory=1 * GiB), node_snapshot("b", reserved_memory=3900 * MiB)],
            TaskRequest(memory=512 * MiB),
            "a",
        ),
        # Equal scores: most containers.
        (
            [node_snapshot("a", containers=2), node_snapshot("b", containers=7), node_snapshot("c", containers=3)],
            TaskRequest(memory=64 * MiB),
            "b",
        ),
        # Score beats containers.
        ([node_snapshot("a", containers=9), node_snapshot("b", reserved_memory=GiB)], TaskRequest(), "b"),
        # All equal: by name, then id.
        ([node_snapshot("z", name="m"), node_snapshot("y", name="k"), node_snapshot("x", name="m")], TaskRequest(), "y"),
        ([node_snapshot("z", name="same"), node_snapshot("x", name="same")], TaskRequest(), "x"),
    ],
)
def test_binpack_picks(nodes: list[NodeSnapshot], task: TaskRequest, expected: str) -> None:
    assert placed_on(nodes, task, "binpack") == expected
    assert placed_on(list(reversed(nodes)), task, "binpack") == expected


# --- random ----------------------------------------------------------------------------

_MIXED = [
    node_snapshot("a"),
    node_snapshot("b", availability="drain"),
    node_snapshot("c"),
    node_snapshot("d", memory=64 * MiB),
    node_snapshot("e", labels={"tier": "db"}),
    node_snapshot("f", ready=False),
    node_snapshot("g"),
]
_FEASIBLE = {"a", "c", "e", "g"}
_TASK = TaskRequest(memory=128 * MiB)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31])
def test_random_is_deterministic_for_a_seed_whatever_the_input_order(seed: int) -> None:
    shuffled = list(_MIXED)
    random.Random(seed + 1).shuffle(shuffled)
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    draws_a = [placed_on(_MIXED, _TASK, "random", rng_a) for _ in range(20)]
    draws_b = [placed_on(shuffled, _TASK, "random", rng_b) for _ in range(20)]
    assert draws_a == draws_b
    assert draws_a[0] == placed_on(list(reversed(_MIXED)), _TASK, "random", random.Random(seed))


@pytest.mark.parametrize("seed", [0, 7, 99])
def test_random_covers_every_feasible_node_and_nothing_else(seed: int) -> None:
    rng = random.Random(seed)
    draws = [placed_on(_MIXED, _TASK, "random", rng) for _ in range(400)]
    assert set(draws) == _FEASIBLE
    # Uniform: each of 4 nodes expects 100 of 400; allow a wide band so no seed flakes.
    assert all(60 <= draws.count(n) <= 140 for n in _FEASIBLE)


def test_random_respects_constraints() -> None:
    task = task_request("node.labels.tier==db")
    rng = random.Random(3)
    assert {placed_on(_MIXED, task, "random", rng) for _ in range(50)} == {"e"}


def test_random_without_rng_still_picks_a_feasible_node() -> None:
    assert placed_on(_MIXED, _TASK, "random") in _FEASIBLE
