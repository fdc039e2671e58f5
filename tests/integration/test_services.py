"""Services heal themselves: replicas, scaling, restart policies, node loss, drain, global mode."""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from tests.integration.conftest import LEASE_TTL
from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"
FAST = ["--stop-grace-period", "1s"]


def running_tasks(shoal, name):
    return [t for t in shoal.json("service", "ps", name)
            if t["desired_state"] == "running" and t["state"] == "running"]


def converge(shoal, name, count, timeout=30):
    return poll(lambda: (lambda ts: ts if len(ts) == count and
                         len([t for t in shoal.json("service", "ps", name) if t["desired_state"] == "running"]) == count
                         else None)(running_tasks(shoal, name)),
                timeout, interval=0.3, what=f"{name} to run exactly {count} tasks")


def started(task, field="started_at") -> datetime:
    stamp = task[field]
    whole, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(frac or '0')[:6].ljust(6, '0')}+00:00")


def engine_containers(cluster, running_only=True):
    """(host, shoal name) of every Shoal container on every live engine."""
    out = []
    for host in cluster.hosts:
        try:
            for c in cluster.docker(host).containers.list(all=not running_only):
                out.append((host.name, c.labels.get("io.shoal.name")))
        except Exception:
            continue  # a killed host's engine does not answer
    return out


def test_replicas_spread_scale_and_rm(shoal, cluster):
    shoal("service", "create", "--name", "web", "--replicas", "6", *FAST, IMAGE, "sleep", "3600")
    tasks = converge(shoal, "web", 6)
    assert sorted(Counter(t["node"] for t in tasks).values()) == [2, 2, 2]
    assert sorted(t["name"] for t in tasks) == [f"web.{i}" for i in range(1, 7)]
    row = shoal.json("service", "ls")[0]
    assert (row["name"], row["mode"], row["replicas"], row["image"]) == ("web", "replicated", "6/6", IMAGE)
    shoal("service", "scale", "web=9")
    assert sorted(Counter(t["node"] for t in converge(shoal, "web", 9)).values()) == [3, 3, 3]
    shoal("service", "scale", "web=2")
    converge(shoal, "web", 2)
    poll(lambda: len(engine_containers(cluster, running_only=False)) == 2, 30, what="scaled-down containers removed")
    shoal("service", "rm", "web")
    poll(lambda: not shoal.json("ps", "-a") and not engine_containers(cluster, running_only=False), 30,
         what="service rm to leave nothing behind")
    assert shoal.json("service", "ls") == []


def test_a_task_no_node_can_take_is_a_pending_row_with_the_reason(shoal):
    shoal("service", "create", "--name", "big", "--replicas", "2", "-m", "512g", *FAST, IMAGE, "sleep", "3600")
    rows = poll(lambda: (lambda rs: rs if len(rs) == 2 else None)(
        [r for r in shoal.json("service", "ps", "big") if r["state"] == "pending"]), 30, what="two pending rows")
    assert sorted(r["name"] for r in rows) == ["big.1", "big.2"]
    for r in rows:
        assert (r["node"], r["desired_state"], r["current_state"]) == ("", "running", "pending")
        assert r["error"] == "no node fits: 3 nodes lack 512 GiB memory", r
    table = shoal("service", "ps", "big").stdout.splitlines()
    assert len(table) == 3 and all("no node fits: 3 nodes lack 512 GiB memory" in line for line in table[1:]), table
    assert shoal.json("ps", "-a") == []   # nothing was placed
    # Made to fit, the rows become tasks and the pending ones are gone.
    shoal("service", "update", "-m", "16m", "big")
    converge(shoal, "big", 2)
    poll(lambda: not [r for r in shoal.json("service", "ps", "big") if r["state"] == "pending"], 30,
         what="the pending rows to go")
    shoal("service", "rm", "big")


def test_host_loss_is_healed_and_its_return_leaves_no_duplicates(shoal, cluster):
    shoal("service", "create", "--name", "api", "--replicas", "6", *FAST, IMAGE, "sleep", "3600")
    tasks = converge(shoal, "api", 6)
    victim = next(h for h in cluster.hosts if sum(t["node"] == h.name for t in tasks) == 2)
    killed = datetime.now(timezone.utc)
    cluster.kill_host(victim)
    poll(lambda: victim.name not in shoal.nodes(), LEASE_TTL + 5, what="the dead host to leave")
    healed = converge(shoal, "api", 6, timeout=LEASE_TTL + 5)
    assert victim.name not in {t["node"] for t in healed}
    # Measured on the engines' own start times, not on this test's polling.
    latest = max(started(t) for t in healed)
    assert (latest - killed).total_seconds() <= LEASE_TTL + 5, (latest - killed)
    cluster.start_host(victim)
    back = time.monotonic()

    def exactly_six_running():
        engines = engine_containers(cluster)
        names = [n for _, n in engines if n and n.startswith("api.")]
        return names if len(names) == 6 and len(set(names)) == 6 else None

    poll(lambda: victim.name in shoal.nodes(), 30, what="the host to register again")
    poll(exactly_six_running, 10 + (time.monotonic() - back), interval=0.3,
         what="exactly 6 api containers on the engines, none twice")
    assert len(running_tasks(shoal, "api")) == 6


def test_on_failure_restarts_with_growing_delays_then_gives_up(shoal):
    shoal("service", "create", "--name", "crash", "--restart-condition", "on-failure", "--restart-max-attempts", "3",
          "--restart-delay", "1s", IMAGE, "sh", "-c", "exit 1")

    def gave_up():
        tasks = shoal.json("service", "ps", "crash")
        return tasks if any("restart limit reached" in t["error"] for t in tasks) else None

    tasks = poll(gave_up, 60, interval=0.5, what="the restart limit to be reached")
    assert len(tasks) == 4, tasks  # the first run and 3 restarts
    assert all(t["desired_state"] == "shutdown" and t["exit_code"] == 1 for t in tasks)
    assert [t["restarts"] for t in sorted(tasks, key=lambda t: t["created_at"])] == [0, 1, 2, 3]
    runs = sorted(tasks, key=lambda t: t["created_at"])
    # Back-off of 1 s, 2 s, 4 s from each failure to the next start, on the engine's clock.
    gaps = [(started(b) - started(a, "finished_at")).total_seconds() for a, b in zip(runs, runs[1:], strict=False)]
    assert gaps[0] >= 0.95 and gaps[1] >= 1.95 and gaps[2] >= 3.95, gaps
    assert gaps[0] < gaps[1] < gaps[2] < 8, gaps
    last = max(tasks, key=lambda t: t["created_at"])
    assert "failed: exit code 1" in last["error"] and "restart limit reached (3 attempts)" in last["error"]
    row = shoal.json("service", "ls")[0]
    assert row["replicas"] == "0/1"
    # and it stays given up
    assert len(shoal.json("service", "ps", "crash")) == 4


def test_restart_condition_none_leaves_a_finished_task_alone(shoal):
    shoal("service", "create", "--name", "once", "--restart-condition", "none", IMAGE, "sh", "-c", "exit 0")
    tasks = poll(lambda: (lambda ts: ts if ts and ts[0]["desired_state"] == "shutdown" else None)(
        shoal.json("service", "ps", "once")), 30, what="the task to finish")
    assert len(tasks) == 1 and tasks[0]["error"] == "completed"


def test_drain_moves_every_task_and_active_lets_work_back(shoal, cluster):
    shoal("service", "create", "--name", "d", "--replicas", "6", *FAST, IMAGE, "sleep", "3600")
    converge(shoal, "d", 6)
    target = cluster.hosts[0].name
    shoal("node", "update", "--availability", "drain", target)
    tasks = poll(lambda: (lambda ts: ts if len(ts) == 6 and target not in {t["node"] for t in ts} else None)(
        running_tasks(shoal, "d")), 30, what="every task off the drained node")
    assert sorted(Counter(t["node"] for t in tasks).values()) == [3, 3]
    poll(lambda: not [n for h, n in engine_containers(cluster) if h == target], 30,
         what="no container left on the drained host")
    shoal("node", "update", "--availability", "active", target)
    shoal("service", "scale", "d=9")
    tasks = converge(shoal, "d", 9)
    assert sum(t["node"] == target for t in tasks) == 3


def test_rebalance_moves_tasks_to_a_returning_node(shoal, cluster):
    target = cluster.hosts[2].name
    shoal("node", "update", "--availability", "drain", target)
    shoal("service", "create", "--name", "rb", "--replicas", "6", *FAST, "--update-parallelism", "2",
          IMAGE, "sleep", "3600")
    converge(shoal, "rb", 6)
    shoal("node", "update", "--availability", "active", target)
    shoal("service", "update", "--rebalance", "rb")
    tasks = poll(lambda: (lambda ts: ts if len(ts) == 6 and sorted(Counter(t["node"] for t in ts).values()) == [2, 2, 2]
                          else None)(running_tasks(shoal, "rb")), 40, what="tasks rebalanced 2/2/2")
    assert sum(t["node"] == target for t in tasks) == 2


def test_global_service_runs_one_task_per_node_and_follows_joins(shoal, cluster):
    late = cluster.hosts[2]
    cluster.kill_agent(late)
    poll(lambda: late.name not in shoal.nodes(), LEASE_TTL + 5, what="the late host to be gone")
    shoal("service", "create", "--name", "g", "--mode", "global", *FAST, IMAGE, "sleep", "3600")
    tasks = converge(shoal, "g", 2)
    assert sorted(t["node"] for t in tasks) == sorted(h.name for h in cluster.hosts[:2])
    cluster.start_agent(late)
    tasks = converge(shoal, "g", 3, timeout=30)
    assert sorted(t["node"] for t in tasks) == sorted(h.name for h in cluster.hosts)
    assert shoal.json("service", "ls")[0]["replicas"] == "3/3"


def test_an_unhealthy_task_is_replaced(shoal):
    # Healthy for its first seconds, then the check starts failing inside the container.
    shoal("service", "create", "--name", "sick", *FAST, "--health-cmd", "test ! -f /tmp/bad",
          "--health-interval", "1s", "--health-retries", "1", "--restart-delay", "1s",
          IMAGE, "sh", "-c", "sleep 3; touch /tmp/bad; sleep 600")

    def replaced():
        tasks = shoal.json("service", "ps", "sick")
        gone = [t for t in tasks if t["error"] == "failed: unhealthy"]
        return tasks if gone and any(t["desired_state"] == "running" for t in tasks) else None

    tasks = poll(replaced, 40, what="the unhealthy task to be replaced")
    assert sum(t["desired_state"] == "running" for t in tasks) == 1


def test_placement_preference_spreads_over_label_values_first(shoal, cluster):
    a, b1, b2 = (h.name for h in cluster.hosts)
    shoal("node", "update", "--label-add", "zone=a", a)
    shoal("node", "update", "--label-add", "zone=b", b1)
    shoal("node", "update", "--label-add", "zone=b", b2)
    shoal("service", "create", "--name", "zoned", "--replicas", "4", *FAST, "--placement-pref",
          "spread=node.labels.zone", IMAGE, "sleep", "600")
    counts = Counter(t["node"] for t in converge(shoal, "zoned", 4))
    # two per zone: both of zone a's on its only node, zone b's split over its two nodes
    assert counts == {a: 2, b1: 1, b2: 1}
