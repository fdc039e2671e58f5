"""Services: per-service spread, placement preferences (spread_over) and place_many()."""

import copy
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.manager.scheduler import (
    STRATEGIES,
    NodeSnapshot,
    NoFit,
    Placement,
    TaskRequest,
    parse_constraint,
    place,
    place_many,
)
from shoal.manager.scheduler.filters import first_rejection
from tests.unit.conftest import CPU, GiB, MiB, charged_snapshot, node_snapshot, task_request


def zoned(id: str, zone: str | None, rack: str | None = None, **overrides: object) -> NodeSnapshot:
    labels = {}
    if zone is not None:
        labels["zone"] = zone
    if rack is not None:
        labels["rack"] = rack
    return node_snapshot(id, labels=labels, **overrides)


def chosen_ids(nodes: Sequence[NodeSnapshot], task: TaskRequest, count: int, strategy: str = "spread") -> list[str]:
    placements, nofit = place_many(nodes, task, count, strategy, random.Random(0))
    assert nofit is None, nofit
    return [p.node_id for p in placements]


def placed_on(nodes: Sequence[NodeSnapshot], task: TaskRequest, strategy: str = "spread") -> str:
    result = place(nodes, task, strategy, random.Random(0))
    assert isinstance(result, Placement), result
    return result.node_id


# --- types -----------------------------------------------------------------------------


def test_new_fields_default_to_the_old_behaviour() -> None:
    node = node_snapshot("a")
    assert node.group_tasks == {}
    # Each snapshot gets its own mapping, never a shared mutable default.
    assert node_snapshot("b").group_tasks is not node.group_tasks
    task = TaskRequest()
    assert (task.group, task.spread_over) == ("", ())
    # A task stays hashable (tuples and frozensets only).
    assert hash(TaskRequest(group="s", spread_over=("zone", "rack"))) == hash(
        TaskRequest(group="s", spread_over=("zone", "rack"))
    )


# --- spread with a service ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "task", "expected_counts", "expected_order"),
    [
        # a already runs 5 unrelated containers: the service still gets 2/2/2, and the
        # unrelated load only decides who goes last in each round.
        (
            [node_snapshot("a", containers=5), node_snapshot("b"), node_snapshot("c")],
            TaskRequest(group="s"),
            {"a": 2, "b": 2, "c": 2},
            ["b", "c", "a", "b", "c", "a"],
        ),
        # Even when the unrelated load also reserves resources, the service count comes first.
        (
            [node_snapshot("a", containers=5, reserved_memory=3 * GiB), node_snapshot("b"), node_snapshot("c")],
            TaskRequest(group="s", memory=64 * MiB),
            {"a": 2, "b": 2, "c": 2},
            ["b", "c", "a", "b", "c", "a"],
        ),
        # Tasks already running count: a holds 2 of the service and only joins once the
        # others have caught up; then it wins the tie on containers (2 against b's 6).
        (
            [
                node_snapshot("a", containers=2, group_tasks={"s": 2}),
                node_snapshot("b", containers=4, group_tasks={"t": 4}),
                node_snapshot("c"),
            ],
            TaskRequest(group="s"),
            {"a": 1, "b": 3, "c": 3},
            ["c", "b", "c", "b", "a", "c", "b"],
        ),
        # Without a group, plain spread: containers decide and a is never chosen (the contrast case).
        (
            [node_snapshot("a", containers=5), node_snapshot("b"), node_snapshot("c")],
            TaskRequest(),
            {"b": 3, "c": 3},
            ["b", "c", "b", "c", "b", "c"],
        ),
    ],
)
def test_spread_with_a_service(
    nodes: list[NodeSnapshot], task: TaskRequest, expected_counts: dict[str, int], expected_order: list[str]
) -> None:
    chosen = chosen_ids(nodes, task, len(expected_order))
    assert chosen == expected_order
    assert Counter(chosen) == expected_counts


@pytest.mark.parametrize(
    ("nodes", "task", "strategy", "expected"),
    [
        # Fewest tasks of the service beats a lower score.
        (
            [node_snapshot("a", group_tasks={"s": 1}), node_snapshot("b", reserved_memory=3 * GiB)],
            TaskRequest(group="s"),
            "spread",
            "b",
        ),
        # Equal service counts: lowest score.
        (
            [node_snapshot("a", group_tasks={"s": 1}, reserved_memory=GiB), node_snapshot("b", group_tasks={"s": 1})],
            TaskRequest(group="s"),
            "spread",
            "b",
        ),
        # Equal service counts and scores: fewest containers, then name.
        (
            [node_snapshot("a", containers=3, group_tasks={"s": 1}), node_snapshot("b", containers=1, group_tasks={"s": 1})],
            TaskRequest(group="s"),
            "spread",
            "b",
        ),
        ([node_snapshot("z", name="m"), node_snapshot("y", name="k")], TaskRequest(group="s"), "spread", "y"),
        # Tasks of another service are not tasks of this one.
        (
            [node_snapshot("a", containers=4, group_tasks={"t": 4}), node_snapshot("b", containers=1, group_tasks={"s": 1})],
            TaskRequest(group="s"),
            "spread",
            "a",
        ),
        # No group: group_tasks are ignored and the score decides.
        (
            [node_snapshot("a", group_tasks={"s": 3}), node_snapshot("b", reserved_memory=GiB)],
            TaskRequest(),
            "spread",
            "a",
        ),
        # binpack with a group is unchanged: most loaded first, whatever the service count.
        (
            [node_snapshot("a", reserved_memory=2 * GiB, group_tasks={"s": 3}), node_snapshot("b")],
            TaskRequest(group="s"),
            "binpack",
            "a",
        ),
        (
            [node_snapshot("a", containers=5, group_tasks={"s": 5}), node_snapshot("b", containers=1)],
            TaskRequest(group="s"),
            "binpack",
            "a",
        ),
    ],
)
def test_service_ranking(nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, expected: str) -> None:
    assert placed_on(nodes, task, strategy) == expected
    assert placed_on(list(reversed(nodes)), task, strategy) == expected


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_random_ignores_the_group(seed: int) -> None:
    nodes = [node_snapshot(i, group_tasks={"s": n}) for i, n in (("a", 0), ("b", 5), ("c", 9))]
    rng_plain, rng_group = random.Random(seed), random.Random(seed)
    plain = [place(nodes, TaskRequest(), "random", rng_plain) for _ in range(30)]
    grouped = [place(nodes, TaskRequest(group="s"), "random", rng_group) for _ in range(30)]
    assert plain == grouped


# --- placement preferences ---------------------------------------------------------------


def test_preference_spreads_over_zones_before_nodes() -> None:
    nodes = [zoned("a1", "a"), zoned("a2", "a"), zoned("a3", "a"), zoned("b1", "b")]
    chosen = chosen_ids(nodes, TaskRequest(group="s", spread_over=("zone",)), 6)
    assert Counter(chosen) == {"a1": 1, "a2": 1, "a3": 1, "b1": 3}
    # Zones alternate: a zone is only revisited once the other has caught up.
    assert chosen == ["a1", "b1", "a2", "b1", "a3", "b1"]
    # Without the preference the service spreads over nodes: 2 on b1, not 3.
    plain = chosen_ids(nodes, TaskRequest(group="s"), 6)
    assert Counter(plain) == {"a1": 2, "a2": 2, "a3": 1, "b1": 1}


def test_nodes_without_the_label_form_their_own_group() -> None:
    nodes = [zoned("a1", "a"), zoned("u1", None), zoned("u2", None), zoned("e1", "")]
    chosen = chosen_ids(nodes, TaskRequest(group="s", spread_over=("zone",)), 6)
    # Two branches, "a" and "" (an empty label reads like a missing one): 3 tasks each.
    assert Counter(chosen) == {"a1": 3, "u1": 1, "u2": 1, "e1": 1}


@pytest.mark.parametrize(
    ("nodes", "task", "strategy", "expected"),
    [
        # Without tasks anywhere, every zone ties and the strategy decides.
        ([zoned("a1", "a"), zoned("b1", "b", reserved_memory=GiB)], TaskRequest(group="s", spread_over=("zone",)), "spread", "a1"),
        ([zoned("a1", "a"), zoned("b1", "b", reserved_memory=GiB)], TaskRequest(group="s", spread_over=("zone",)), "binpack", "b1"),
        # Tasks on a down node still count for its zone.
        (
            [zoned("a1", "a"), zoned("a2", "a", ready=False, group_tasks={"s": 3}), zoned("b1", "b", reserved_memory=GiB)],
            TaskRequest(group="s", spread_over=("zone",)),
            "spread",
            "b1",
        ),
        # ... and so do tasks on a draining node, or one a constraint excludes.
        (
            [zoned("a1", "a"), zoned("a2", "a", availability="drain", group_tasks={"s": 1}), zoned("b1", "b", containers=4)],
            TaskRequest(group="s", spread_over=("zone",)),
            "spread",
            "b1",
        ),
        (
            [zoned("a1", "a"), zoned("a2", "a", group_tasks={"s": 1}), zoned("b1", "b", containers=4)],
            task_request("node.id!=a2", group="s", spread_over=("zone",)),
            "spread",
            "b1",
        ),
        # Only tasks of this service count (were t's task counted, the zones would tie and binpack pick b1).
        (
            [zoned("a1", "a", group_tasks={"t": 1}, containers=1), zoned("b1", "b", group_tasks={"s": 1}, containers=9)],
            TaskRequest(group="s", spread_over=("zone",)),
            "binpack",
            "a1",
        ),
        # Inside the chosen zone, the strategy ranks as usual (binpack: most loaded).
        (
            [
                zoned("a1", "a", reserved_memory=GiB),
                zoned("a2", "a", reserved_memory=2 * GiB),
                zoned("b1", "b", reserved_memory=3 * GiB, group_tasks={"s": 1}),
            ],
            TaskRequest(group="s", spread_over=("zone",)),
            "binpack",
            "a2",
        ),
        # A preference only chooses among feasible nodes: zone b is emptier but full.
        (
            [zoned("a1", "a", group_tasks={"s": 4}), zoned("b1", "b", memory=GiB, reserved_memory=GiB)],
            TaskRequest(group="s", spread_over=("zone",), memory=MiB),
            "spread",
            "a1",
        ),
        # A key no node carries puts every node in branch "": no effect.
        (
            [zoned("a1", "a", group_tasks={"s": 2}), zoned("b1", "b", group_tasks={"s": 1})],
            TaskRequest(group="s", spread_over=("region",)),
            "spread",
            "b1",
        ),
    ],
)
def test_preference_picks(nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, expected: str) -> None:
    assert placed_on(nodes, task, strategy) == expected
    assert placed_on(list(reversed(nodes)), task, strategy) == expected


_TWO_LEVELS = [
    zoned("a1", "a", "r1"),
    zoned("a2", "a", "r1"),
    zoned("a3", "a", "r2"),
    zoned("b1", "b", "r1"),
    zoned("b2", "b", "r2"),
]


def test_two_level_preference_spreads_zones_then_racks() -> None:
    chosen = chosen_ids(_TWO_LEVELS, TaskRequest(group="s", spread_over=("zone", "rack")), 8)
    # 4 per zone; within zone a, 2 per rack, so a1 and a2 share rack r1's two.
    assert Counter(chosen) == {"a1": 1, "a2": 1, "a3": 2, "b1": 2, "b2": 2}
    # Only zones: zone a's 4 land 2/1/1 on its nodes, ignoring racks.
    zones_only = chosen_ids(_TWO_LEVELS, TaskRequest(group="s", spread_over=("zone",)), 8)
    assert Counter(zones_only) == {"a1": 2, "a2": 1, "a3": 1, "b1": 2, "b2": 2}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # zone a holds 1, zone b 3 -> zone a; in zone a, rack r1 holds 0 and r2 holds 1 -> a1.
        # (Counting racks across zones would give r1 = 0 + 3 > r2 = 1 + 0 and pick a3.)
        ({"a1": 0, "a2": 0, "a3": 1, "b1": 3, "b2": 0}, {"a1", "a2"}),
        # Zones tie (2 each): both stay in, then racks decide across them: only b2's rack is empty.
        ({"a1": 1, "a2": 0, "a3": 1, "b1": 2, "b2": 0}, {"b2"}),
        # The outer key wins over the inner one: zone b is emptier even though rack a/r1 is empty.
        ({"a1": 0, "a2": 0, "a3": 3, "b1": 1, "b2": 1}, {"b1", "b2"}),
    ],
)
def test_two_level_preference_counts_within_the_branch(counts: dict[str, int], expected: set[str]) -> None:
    nodes = [replace(n, group_tasks={"s": counts[n.id]}, containers=counts[n.id]) for n in _TWO_LEVELS]
    task = TaskRequest(group="s", spread_over=("zone", "rack"))
    # Strategies only choose within the preferred set.
    for strategy in STRATEGIES:
        for seed in range(5):
            result = place(nodes, task, strategy, random.Random(seed))
            assert isinstance(result, Placement)
            assert result.node_id in expected


def test_preference_without_a_group_counts_the_unnamed_group() -> None:
    # Plain containers count under group "": place_many charges it, so a batch still spreads.
    nodes = [zoned("a1", "a"), zoned("a2", "a"), zoned("b1", "b")]
    chosen = chosen_ids(nodes, TaskRequest(spread_over=("zone",)), 4)
    assert Counter(chosen) == {"a1": 1, "a2": 1, "b1": 2}


# --- place_many --------------------------------------------------------------------------


def test_place_many_stops_at_the_first_nofit() -> None:
    nodes = [node_snapshot(i, memory=GiB) for i in "abc"]
    placements, nofit = place_many(nodes, TaskRequest(memory=512 * MiB), 10)
    assert [p.node_id for p in placements] == ["a", "b", "c", "a", "b", "c"]
    assert nofit == NoFit(("3 nodes lack 512 MiB memory",))


@pytest.mark.parametrize(
    ("count", "placed", "message"),
    [
        (2, 2, None),
        (3, 3, None),
        (4, 3, "no node fits: 3 nodes already publish port 8080/tcp"),
    ],
)
def test_place_many_consumes_host_ports(count: int, placed: int, message: str | None) -> None:
    nodes = [node_snapshot(i) for i in "abc"]
    task = TaskRequest(host_ports=frozenset({(8080, "tcp", "")}))
    for strategy in STRATEGIES:
        placements, nofit = place_many(nodes, task, count, strategy, random.Random(1))
        ids = [p.node_id for p in placements]
        assert len(ids) == placed
        assert len(set(ids)) == placed  # each on a different node
        assert (nofit.message if nofit else None) == message


def test_place_many_charges_cpu_memory_and_containers() -> None:
    # binpack fills a until its CPU runs out, then b: each placement saw the one before.
    nodes = [node_snapshot("a", nano_cpus=2 * CPU), node_snapshot("b", nano_cpus=2 * CPU)]
    chosen = chosen_ids(nodes, TaskRequest(nano_cpus=CPU // 2), 8, "binpack")
    assert chosen == ["a"] * 4 + ["b"] * 4
    # With no reservations, spread alternates on the container count alone.
    assert chosen_ids(nodes, TaskRequest(), 4) == ["a", "b", "a", "b"]


def test_place_many_does_not_touch_the_callers_snapshots() -> None:
    nodes = [node_snapshot("a", group_tasks={"s": 1}), node_snapshot("b")]
    before = copy.deepcopy(nodes)
    place_many(nodes, TaskRequest(group="s", memory=MiB, host_ports=frozenset({(80, "tcp", "")})), 2)
    assert nodes == before


@pytest.mark.parametrize(
    ("nodes", "count", "expected"),
    [
        ([node_snapshot("a")], 0, ([], None)),
        ([], 0, ([], None)),
        ([], 3, ([], NoFit(("the cluster has no nodes",)))),
        ([node_snapshot("a", availability="drain")], 2, ([], NoFit(("1 node is draining",)))),
    ],
)
def test_place_many_edges(nodes: list[NodeSnapshot], count: int, expected: tuple) -> None:
    assert place_many(nodes, TaskRequest(), count) == expected


def test_place_many_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="is not one of"):
        place_many([], TaskRequest(), 0, "x")
    with pytest.raises(ValueError, match="count: -1 is negative"):
        place_many([node_snapshot("a")], TaskRequest(), -1)


def test_place_many_keeps_soft_constraint_reports() -> None:
    nodes = [node_snapshot("a", labels={"zone": "eu"}, memory=GiB), node_snapshot("b", memory=GiB)]
    task = task_request("node.labels.zone==~eu", memory=512 * MiB)
    placements, nofit = place_many(nodes, task, 4)
    # Two fit on a with the soft rule; then it is dropped and b takes two more.
    assert placements == [
        Placement("a"),
        Placement("a"),
        Placement("b", ("node.labels.zone==~eu",)),
        Placement("b", ("node.labels.zone==~eu",)),
    ]
    assert nofit is None


# --- properties --------------------------------------------------------------------------

_PORTS = [(80, "tcp", ""), (443, "tcp", ""), (53, "udp", "")]
_EXPRESSIONS = ["node.labels.zone==a", "node.labels.zone!=b", "node.id!=n0", "node.labels.rack==~r1", "node.labels.zone==~c"]


@st.composite
def clusters(draw: st.DrawFn) -> list[NodeSnapshot]:
    count = draw(st.integers(min_value=0, max_value=6))
    nodes = []
    for i in range(count):
        labels = {}
        for key, values in (("zone", ["a", "b", "c", ""]), ("rack", ["r1", "r2"])):
            value = draw(st.none() | st.sampled_from(values))
            if value is not None:
                labels[key] = value
        group_tasks = draw(st.dictionaries(st.sampled_from(["s", "t", ""]), st.integers(0, 4), max_size=2))
        nodes.append(
            node_snapshot(
                f"n{i}",
                name=draw(st.sampled_from([f"n{i}", "dup"])),
                labels=labels,
                availability=draw(st.sampled_from(["active", "active", "active", "pause", "drain"])),
                ready=draw(st.booleans() | st.just(True)),
                nano_cpus=draw(st.sampled_from([0, CPU, 2 * CPU])),
                memory=draw(st.sampled_from([0, 256 * MiB, GiB])),
                reserved_nano_cpus=draw(st.sampled_from([0, CPU // 2, CPU])),
                reserved_memory=draw(st.sampled_from([0, 128 * MiB, 512 * MiB])),
                containers=sum(group_tasks.values()) + draw(st.integers(0, 2)),
                used_ports=frozenset(draw(st.lists(st.sampled_from(_PORTS), max_size=2))),
                group_tasks=group_tasks,
            )
        )
    return nodes


tasks = st.builds(
    TaskRequest,
    nano_cpus=st.sampled_from([0, CPU // 2, CPU]),
    memory=st.sampled_from([0, 64 * MiB, 256 * MiB]),
    constraints=st.lists(st.sampled_from(_EXPRESSIONS), max_size=2, unique=True).map(
        lambda exprs: tuple(parse_constraint(e) for e in exprs)
    ),
    host_ports=st.frozensets(st.sampled_from(_PORTS), max_size=1),
    group=st.sampled_from(["", "s", "t"]),
    spread_over=st.sampled_from([(), ("zone",), ("rack",), ("zone", "rack")]),
)


@settings(max_examples=300, deadline=None, database=None)
@given(nodes=clusters(), task=tasks, strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 2**32))
def test_a_preference_never_turns_a_fit_into_a_nofit(
    nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, seed: int
) -> None:
    with_prefs = place(nodes, task, strategy, random.Random(seed))
    without = place(nodes, replace(task, spread_over=()), strategy, random.Random(seed))
    assert type(with_prefs) is type(without)
    if isinstance(with_prefs, NoFit):
        assert with_prefs == without  # same reasons too
    else:
        assert isinstance(without, Placement)
        assert with_prefs.dropped_soft == without.dropped_soft
        # The preferred node passes every filter the plain run applied.
        node = next(n for n in nodes if n.id == with_prefs.node_id)
        applied = tuple(c for c in task.constraints if not (c.soft and with_prefs.dropped_soft))
        assert first_rejection(node, task, applied) is None


def reference_many(
    nodes: list[NodeSnapshot], task: TaskRequest, count: int, strategy: str, rng: random.Random
) -> tuple[list[Placement], NoFit | None]:
    """place() in a loop, charging the chosen snapshot by hand as the manager would."""
    current = list(nodes)
    placements: list[Placement] = []
    for _ in range(count):
        result = place(current, task, strategy, rng)
        if isinstance(result, NoFit):
            return placements, result
        placements.append(result)
        i = next(i for i, n in enumerate(current) if n.id == result.node_id)
        current[i] = charged_snapshot(current[i], task)
    return placements, None


@settings(max_examples=200, deadline=None, database=None)
@given(
    nodes=clusters(),
    task=tasks,
    strategy=st.sampled_from(STRATEGIES),
    count=st.integers(0, 8),
    seed=st.integers(0, 2**32),
)
def test_place_many_matches_place_in_a_loop(
    nodes: list[NodeSnapshot], task: TaskRequest, strategy: str, count: int, seed: int
) -> None:
    got = place_many(nodes, task, count, strategy, random.Random(seed))
    assert got == reference_many(nodes, task, count, strategy, random.Random(seed))
    placements, nofit = got
    assert len(placements) == count or (nofit is not None and len(placements) < count)
    # A longer batch starts with the shorter one.
    longer, _ = place_many(nodes, task, count + 2, strategy, random.Random(seed))
    assert longer[: len(placements)] == placements
