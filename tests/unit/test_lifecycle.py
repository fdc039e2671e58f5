"""The task lifecycle (manager/lifecycle.py) as a table of situations and the decisions each
gives, with plain records: no cluster, no stubs. Then invariants over generated situations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.manager import lifecycle
from shoal.protos import task_states
from shoal.protos.shoal.v1 import types_pb2 as pb
from tests.unit.conftest import CPU, GiB, container, node_snapshot, service_spec

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SPEC = pb.ContainerSpec(image="nginx:1")
NEW_SPEC = pb.ContainerSpec(image="nginx:2")


def service(replicas=2, mode="replicated", restart=None, parallelism=1, constraints=(), health=False,
            update_state=""):
    spec = service_spec(image="nginx:1", mode=mode, replicas=replicas,
                        restart=restart or pb.RestartPolicy(condition="any", delay_ns=1_000_000_000),
                        update=pb.UpdateConfig(parallelism=parallelism))
    spec.task.constraints.extend(constraints)
    if health:
        spec.task.health.test.extend(["CMD", "true"])
    return pb.Service(id="svc", spec=spec, update_status=pb.UpdateStatus(state=update_state))


def node(nid, availability="active", ready=True, **labels):
    return node_snapshot(nid, hostname=nid, labels=labels, availability=availability, ready=ready,
                         nano_cpus=2 * CPU, memory=GiB)


def nodes(*snaps):
    return {n.id: n for n in snaps}


TWO_NODES = nodes(node("n1"), node("n2"))


def task(tid, slot=1, node_id="n1", state="running", live=True, created_s=0, spec=SPEC, end=0, restarts=0,
         started_s=None, finished_s=None, not_before=None):
    c = container(tid, f"web.{slot}", node_id, node_name=node_id, service_id="svc", slot=slot,
                  created_at=(NOW - timedelta(seconds=1000 - created_s)).isoformat(), restarts=restarts)
    c.spec.CopyFrom(spec)
    c.status.state = state
    if started_s is not None:
        c.status.started_at = (NOW + timedelta(seconds=started_s)).isoformat()
    if finished_s is not None:
        c.status.finished_at = (NOW + timedelta(seconds=finished_s)).isoformat()
    if not_before is not None:
        c.not_before = (NOW + timedelta(seconds=not_before)).isoformat()
    if live:
        task_states.set_desired(c, task_states.RUNNING)
        c.state = task_states.PENDING if state == "pending" else task_states.RUNNING
    else:
        task_states.set_ended(c, end or pb.END_REASON_EXITED, "words")
    return c


def seen_of(tasks, observed=None, present=None):
    """Seen per task: its own status unless `observed` says otherwise; present unless told."""
    observed, present = observed or {}, present or {}
    return {t.id: lifecycle.Seen(observed.get(t.id, t.status), present.get(t.id, task_states.is_live(t)))
            for t in tasks}


def plan(svc, tasks, ns=TWO_NODES, observed=None, present=None, owned=frozenset()):
    return lifecycle.plan_service(svc, tasks, ns, seen_of(tasks, observed, present), owned, NOW)


def ends(p):
    return {(s.task_id, s.reason) for s in p.shutdown}


# ---- states and transitions -----------------------------------------------------------
def test_an_empty_service_places_every_slot_at_once():
    p = plan(service(replicas=3), [])
    assert p.place == [lifecycle.Place(1, 0, None), lifecycle.Place(2, 0, None), lifecycle.Place(3, 0, None)]
    assert not p.shutdown and not p.start and p.wake_at is None


def test_a_pending_task_is_started_and_its_slot_not_placed_again():
    p = plan(service(replicas=1), [task("a", state="pending")])
    assert p.start == ["a"] and not p.place


def test_a_pending_task_in_back_off_waits_and_wakes_the_loop_at_its_time():
    p = plan(service(replicas=1), [task("a", state="pending", not_before=30)])
    assert not p.start and p.wake_at == NOW + timedelta(seconds=30)


def test_a_running_task_needs_nothing():
    p = plan(service(replicas=1), [task("a")])
    assert p == lifecycle.Plan()


@pytest.mark.parametrize("observed,reason,note", [
    (pb.ContainerStatus(state="exited", exit_code=3), pb.END_REASON_EXITED, "failed: exit code 3"),
    (pb.ContainerStatus(state="exited"), pb.END_REASON_COMPLETED, "completed"),
    (pb.ContainerStatus(state="dead", exit_code=137), pb.END_REASON_EXITED, "failed: exit code 137"),
    (pb.ContainerStatus(state="missing"), pb.END_REASON_DISAPPEARED, "failed: container disappeared"),
    (pb.ContainerStatus(state="running", health="unhealthy"), pb.END_REASON_UNHEALTHY, "failed: unhealthy"),
])
def test_a_task_that_ends_itself_is_shut_down_and_its_slot_refilled_after_a_back_off(observed, reason, note):
    t = task("a", started_s=-5)
    observed.finished_at = NOW.isoformat()
    observed.started_at = t.status.started_at
    p = plan(service(replicas=1), [t], observed={"a": observed})
    assert p.shutdown == [lifecycle.Shutdown("a", reason, note)]
    # Refilled one back-off (1 s) after it finished, counted as a restart.
    assert p.place == [lifecycle.Place(1, 1, NOW + timedelta(seconds=1))]
    assert p.wake_at == NOW + timedelta(seconds=1)


def test_node_loss_ends_its_tasks_as_managed_and_refills_at_once():
    p = plan(service(replicas=2), [task("a", restarts=2), task("b", slot=2, node_id="gone")])
    assert ends(p) == {("b", pb.END_REASON_NODE_DOWN)}
    assert p.place == [lifecycle.Place(2, 0, None)]


def test_drain_ends_tasks_of_the_drained_node_and_refills_without_counting():
    ns = nodes(node("n1", availability="drain"), node("n2"))
    p = plan(service(replicas=1), [task("a", restarts=4)], ns=ns)
    assert ends(p) == {("a", pb.END_REASON_NODE_DRAINED)}
    assert p.place == [lifecycle.Place(1, 4, None)]


def test_pause_keeps_tasks_where_they_are():
    ns = nodes(node("n1", availability="pause"), node("n2"))
    assert plan(service(replicas=1), [task("a")], ns=ns) == lifecycle.Plan()


def test_scale_down_ends_the_highest_slots_and_places_nothing():
    p = plan(service(replicas=1), [task("a"), task("b", slot=2), task("c", slot=3, state="pending")])
    assert ends(p) == {("b", pb.END_REASON_SCALED_DOWN), ("c", pb.END_REASON_SCALED_DOWN)}
    assert not p.place and not p.start


def test_duplicates_keep_the_current_spec_then_the_running_then_the_newest():
    old_running = task("a", created_s=1, spec=NEW_SPEC)
    current_pending = task("b", created_s=0, state="pending")
    newest_running = task("c", created_s=5)
    p = plan(service(replicas=1), [old_running, current_pending, newest_running])
    assert ends(p) == {("a", pb.END_REASON_DUPLICATE), ("b", pb.END_REASON_DUPLICATE)}
    assert not p.start, "a duplicate that is shut down is not started as well"
    assert not p.place


def test_duplicates_owned_by_an_update_are_left_to_it():
    p = plan(service(replicas=1), [task("a"), task("b", created_s=3, state="pending")], owned={"a", "b"})
    assert p == lifecycle.Plan()


def test_a_managed_end_and_a_failure_in_one_pass():
    p = plan(service(replicas=2), [task("a", node_id="gone", restarts=1), task("b", slot=2, restarts=1)],
             observed={"b": pb.ContainerStatus(state="exited", exit_code=1, started_at=NOW.isoformat(),
                                               finished_at=NOW.isoformat())})
    assert p.place == [lifecycle.Place(1, 1, None), lifecycle.Place(2, 2, NOW + timedelta(seconds=2))]


def test_restart_limit_gives_up_once_and_leaves_the_slot_empty():
    svc = service(replicas=1, restart=pb.RestartPolicy(condition="on-failure", max_attempts=2, delay_ns=10**9))
    last = task("a", live=False, restarts=2, started_s=-3, finished_s=-2)
    p = plan(svc, [last], present={"a": False})
    assert p.give_up == [lifecycle.GiveUp("a", 2)] and not p.place
    task_states.set_gave_up(last, 2)
    assert plan(svc, [last], present={"a": False}) == lifecycle.Plan()


def test_condition_none_leaves_the_slot_empty_after_a_failure():
    svc = service(replicas=1, restart=pb.RestartPolicy(condition="none"))
    p = plan(svc, [task("a")], observed={"a": pb.ContainerStatus(state="exited", exit_code=1)})
    assert ends(p) == {("a", pb.END_REASON_EXITED)} and not p.place and not p.give_up


def test_global_service_places_one_task_per_eligible_node():
    ns = nodes(node("n1", zone="a"), node("n2", zone="b"), node("n3", zone="a", ready=False),
               node("n4", zone="a", availability="drain"))
    p = plan(service(mode="global", constraints=["node.labels.zone==a"]), [], ns=ns)
    assert p.place == [lifecycle.Place("n1", 0, None)]


def test_global_service_ends_the_task_of_a_node_no_longer_eligible():
    ns = nodes(node("n1", zone="b"))
    p = plan(service(mode="global", constraints=["node.labels.zone==a"]), [task("a", slot=0)], ns=ns)
    assert ends(p) == {("a", pb.END_REASON_NOT_ELIGIBLE)} and not p.place


def test_global_service_keeps_the_task_of_a_paused_node():
    ns = nodes(node("n1", availability="pause"))
    assert plan(service(mode="global"), [task("a", slot=0)], ns=ns) == lifecycle.Plan()


def test_history_keeps_five_records_per_slot_and_no_containers():
    dead = [task(f"d{i}", live=False, created_s=i) for i in range(8)]
    present = {t.id: t.id == "d7" for t in dead}         # the newest still has its container
    p = plan(service(replicas=1), [task("a", created_s=100), *dead], present=present)
    assert p.remove == ["d7"]
    assert sorted(p.forget) == ["d0", "d1", "d2"]


def test_a_task_ended_now_counts_as_history_but_is_not_removed_twice():
    t = task("a")
    p = plan(service(replicas=1), [t], observed={"a": pb.ContainerStatus(state="exited", exit_code=1)})
    assert [s.task_id for s in p.shutdown] == ["a"] and not p.remove and not p.forget


def test_a_removed_service_shuts_live_tasks_down_then_forgets_them_once_gone():
    live, dead_here, dead_gone = task("a"), task("b", live=False), task("c", live=False)
    p = lifecycle.plan_retired([live, dead_here, dead_gone],
                               seen_of([live, dead_here, dead_gone], present={"b": True, "c": False}))
    assert ends(p) == {("a", pb.END_REASON_SERVICE_REMOVED)}
    assert p.remove == ["b"] and p.forget == ["c"]


# ---- what a record becomes -------------------------------------------------------
def test_ended_keeps_the_last_observed_status_and_marks_failures():
    t = task("a", started_s=-10)
    out = lifecycle.ended(t, pb.ContainerStatus(state="running", started_at=t.status.started_at),
                          pb.END_REASON_UNHEALTHY, "failed: unhealthy", NOW)
    assert out.status.state == "failed" and out.status.finished_at == NOW.isoformat(timespec="milliseconds")
    assert (out.desired, out.state, out.end, out.desired_state) == (
        task_states.SHUTDOWN, task_states.FAILED, pb.END_REASON_UNHEALTHY, "shutdown")
    assert t.desired == task_states.RUNNING, "the input record is not changed"


def test_ended_for_a_managed_reason_is_shutdown_not_failed():
    out = lifecycle.ended(task("a"), pb.ContainerStatus(state="running"), pb.END_REASON_NODE_DRAINED, "node drained", NOW)
    assert out.status.state == "running" and out.state == task_states.SHUTDOWN


def test_ended_with_an_unknown_observation_keeps_the_recorded_status():
    t = task("a", started_s=-4)
    out = lifecycle.ended(t, pb.ContainerStatus(state="unknown", error="node is down"), pb.END_REASON_NODE_DOWN,
                          "node down", NOW)
    assert out.status.started_at == t.status.started_at and out.status.state == "running"


def test_started_takes_the_agents_answer_once():
    t = task("a", state="pending")
    out = lifecycle.started(t, pb.ContainerStatus(state="running", runtime_id="r1"))
    assert out.state == task_states.RUNNING and out.status.runtime_id == "r1"
    assert lifecycle.started(out, pb.ContainerStatus(state="running", runtime_id="r2")) is None
    assert lifecycle.started(task("b", live=False), pb.ContainerStatus(state="running")) is None


@pytest.mark.parametrize("record,report,node_up,want", [
    (task("a", state="pending"), None, True, "pending"),
    (task("a", state="pending"), None, False, "pending"),
    (task("a", started_s=-1), None, True, "running"),          # just started: its report may trail
    (task("a", started_s=-60), None, True, "missing"),
    (task("a", started_s=-60), None, False, "unknown"),
    (task("a", started_s=-60), pb.ContainerStatus(state="exited"), True, "exited"),
    (task("a", live=False, state="running"), None, True, "shutdown"),
    (task("a", live=False, state="exited"), None, True, "exited"),
])
def test_observe(record, report, node_up, want):
    assert lifecycle.observe(record, report, node_up, NOW).state == want


def test_observe_trusts_the_start_over_a_trailing_created_report():
    t = task("a", started_s=-60)
    t.status.runtime_id = "r1"
    assert lifecycle.observe(t, pb.ContainerStatus(state="created", runtime_id="r1"), True, NOW).state == "running"
    assert lifecycle.observe(t, pb.ContainerStatus(state="created", runtime_id="r2"), True, NOW).state == "created"


# ---- rolling updates and rebalancing ------------------------------------------------
def test_update_steps_go_a_batch_at_a_time_in_slot_order_and_finish():
    svc = service(replicas=3, parallelism=2, update_state="updating")
    svc.spec.task.image = "nginx:2"
    tasks = [task("c", slot=3), task("a", slot=1), task("b", slot=2)]
    assert [t.id for t in lifecycle.update_step(svc, tasks, set()).batch] == ["a", "b"]
    assert [t.id for t in lifecycle.update_step(svc, tasks, {1}).batch] == ["b", "c"]
    updated = [task(x, slot=i + 1, spec=NEW_SPEC) for i, x in enumerate("abc")]
    assert lifecycle.update_step(svc, updated, set()) == lifecycle.Finish("completed")
    svc.update_status.state = "rolling_back"
    assert lifecycle.update_step(svc, updated, set()) == lifecycle.Finish("rolled_back")


@pytest.mark.parametrize("action,state,want", [
    ("", "updating", "pause"), ("continue", "updating", "continue"), ("rollback", "updating", "rollback"),
    ("rollback", "rolling_back", "pause"),
])
def test_a_failed_batch(action, state, want):
    svc = service(update_state=state)
    svc.spec.update.failure_action = action
    assert lifecycle.on_update_failure(svc) == want


@pytest.mark.parametrize("health,observed,want", [
    (False, pb.ContainerStatus(state="running"), lifecycle.READY),
    (False, pb.ContainerStatus(state="pending"), lifecycle.WAIT),
    (True, pb.ContainerStatus(state="running", health="starting"), lifecycle.WAIT),
    (True, pb.ContainerStatus(state="running", health="healthy"), lifecycle.READY),
    (True, pb.ContainerStatus(state="running", health="unhealthy"), lifecycle.Failed("task web.1 is unhealthy")),
    (False, pb.ContainerStatus(state="exited", exit_code=2), lifecycle.Failed("task web.1 exited (exit code 2)")),
    (False, pb.ContainerStatus(state="missing"), lifecycle.Failed("task web.1 missing")),
])
def test_judging_a_new_task_of_an_update(health, observed, want):
    assert lifecycle.judge_new(service(health=health), "web.1", task("a"), observed) == want


def test_a_new_task_shut_down_meanwhile_fails_the_batch():
    gone = task("a", live=False)
    assert isinstance(lifecycle.judge_new(service(), "web.1", gone, gone.status), lifecycle.Failed)
    assert lifecycle.judge_new(service(), "web.1", None, None) == lifecycle.Failed("task web.1 was removed")


def test_monitor_time_covers_a_health_check():
    assert lifecycle.monitor_seconds(service()) == lifecycle.DEFAULT_MONITOR_S
    svc = service(health=True)
    assert lifecycle.monitor_seconds(svc) == 30 * 4 + 5


def test_rebalance_moves_from_the_most_crowded_node_until_within_one():
    svc = service(replicas=4, parallelism=2)
    tasks = [task(f"t{i}", slot=i + 1, node_id="n1") for i in range(4)]
    assert [t.node_id for t in lifecycle.rebalance_batch(svc, tasks, ["n1", "n2"])] == ["n1"]
    even = [task("a", node_id="n1"), task("b", slot=2, node_id="n2"), task("c", slot=3, node_id="n1")]
    assert lifecycle.rebalance_batch(svc, even, ["n1", "n2"]) == []
    assert lifecycle.rebalance_batch(service(mode="global"), tasks, ["n1", "n2"]) == []


# ---- records of older versions -----------------------------------------------------
@pytest.mark.parametrize("note,reason", [
    ("node down", pb.END_REASON_NODE_DOWN), ("scaled down", pb.END_REASON_SCALED_DOWN),
    ("update failed: task web.1 is unhealthy", pb.END_REASON_UPDATE_FAILED),
    ("failed: exit code 1; restart limit reached (3 attempts)", pb.END_REASON_EXITED),
    ("completed", pb.END_REASON_COMPLETED), ("rejected: no such image", pb.END_REASON_REJECTED),
    ("something else", pb.END_REASON_EXITED),
])
def test_an_old_record_reads_its_end_from_its_note(note, reason):
    old = pb.Container(desired_state="shutdown", note=note)
    assert task_states.end_reason(old) == reason and not task_states.is_live(old)


def test_an_old_record_reads_its_state_from_its_strings():
    assert task_states.recorded_state(pb.Container(desired_state="running", status=pb.ContainerStatus(state="pending"))) \
        == task_states.PENDING
    assert task_states.recorded_state(pb.Container(desired_state="running", status=pb.ContainerStatus(state="running"))) \
        == task_states.RUNNING
    stopped = pb.Container(desired_state="stopped")
    assert task_states.end_reason(stopped) == pb.END_REASON_STOPPED and task_states.holds_attachments(stopped)
    assert task_states.gave_up(pb.Container(desired_state="shutdown", note="failed: x; restart limit reached (2 attempts)"))


def test_writers_set_both_forms_for_older_readers():
    c = pb.Container()
    task_states.set_desired(c, task_states.RUNNING)
    assert c.desired_state == "running"
    task_states.set_ended(c, pb.END_REASON_SCALED_DOWN, "scaled down")
    assert (c.desired_state, c.note) == ("shutdown", "scaled down")
    task_states.set_gave_up(c, 3)
    assert c.note == "scaled down; restart limit reached (3 attempts)"


def test_task_states_are_ordered_as_a_life_goes():
    order = [task_states.PENDING, task_states.RUNNING, task_states.COMPLETE, task_states.SHUTDOWN,
             task_states.FAILED, task_states.REJECTED]
    assert order == sorted(order) and pb.TASK_STATE_UNSPECIFIED < order[0]


# ---- invariants -------------------------------------------------------------------
# Weighted to live tasks, where slots collide.
STATES = ["pending", "running", "running", "running", "exited", "dead", "missing", "unhealthy"]
NODE_IDS = ["n1", "n2", "n3", "gone"]


@st.composite
def situations(draw):
    mode = draw(st.sampled_from(["replicated", "global"]))
    replicas = draw(st.integers(0, 4))
    svc = service(replicas=replicas, mode=mode, restart=pb.RestartPolicy(
        condition=draw(st.sampled_from(["any", "on-failure", "none"])), max_attempts=draw(st.integers(0, 3)),
        delay_ns=draw(st.sampled_from([0, 10**9]))))
    ns = nodes(*[node(n, availability=draw(st.sampled_from(["active", "active", "pause", "drain"])))
                 for n in NODE_IDS[:3] if draw(st.booleans())])
    tasks, observed, present = [], {}, {}
    for i in range(draw(st.integers(0, 10))):
        live = draw(st.booleans())
        reason = draw(st.sampled_from(sorted(task_states.MANAGED_ENDS | {20, 21, 22, 23, 24})))
        t = task(f"t{i}", slot=draw(st.integers(1, 3)) if mode == "replicated" else 0,
                 node_id=draw(st.sampled_from(NODE_IDS)), live=live, end=reason, created_s=i,
                 restarts=draw(st.integers(0, 4)), started_s=-30, finished_s=-20 if not live else None,
                 spec=draw(st.sampled_from([SPEC, NEW_SPEC])))
        state = draw(st.sampled_from(STATES))
        observed[t.id] = pb.ContainerStatus(state="running", health="unhealthy") if state == "unhealthy" \
            else pb.ContainerStatus(state=state, exit_code=draw(st.sampled_from([0, 1])))
        present[t.id] = draw(st.booleans())
        tasks.append(t)
    owned = {t.id for t in tasks if draw(st.integers(0, 9)) == 0}
    return svc, tasks, ns, observed, present, owned


@settings(max_examples=400, deadline=None, derandomize=True)
@given(situations())
def test_never_more_than_one_live_task_per_slot_outside_an_update(situation):
    svc, tasks, ns, observed, present, owned = situation
    p = plan(svc, tasks, ns, observed, present, owned)
    ended_ids = {s.task_id for s in p.shutdown}
    after: dict = {}
    for t in tasks:
        if task_states.is_live(t) and t.id not in ended_ids:
            after.setdefault(lifecycle.key_of(svc, t), []).append(t.id)
    for pl in p.place:
        after.setdefault(pl.key, []).append("new")
    for key, ids in after.items():
        # A slot an update is working on holds its old and new task (and a task placed meanwhile,
        # not yet in the updater's hands): the updater ends them, the reconciler stays out.
        if any(i in owned for i in ids):
            assert "new" not in ids, (key, ids)
        else:
            assert len(ids) <= 1, (key, ids)
    assert len({pl.key for pl in p.place}) == len(p.place), "a slot placed twice"


@settings(max_examples=400, deadline=None, derandomize=True)
@given(situations())
def test_decisions_are_about_the_right_tasks(situation):
    svc, tasks, ns, observed, present, owned = situation
    p = plan(svc, tasks, ns, observed, present, owned)
    by_id = {t.id: t for t in tasks}
    ended_ids = {s.task_id for s in p.shutdown}
    assert len(ended_ids) == len(p.shutdown), "a task shut down twice"
    assert all(task_states.is_live(by_id[i]) and i not in owned for i in ended_ids)
    assert all(task_states.is_live(by_id[i]) and i not in ended_ids and i not in owned for i in p.start)
    assert all(not task_states.is_live(by_id[i]) for i in p.remove + p.forget)
    assert not set(p.remove) & set(p.forget)
    wanted = set(range(1, svc.spec.replicas + 1)) if svc.spec.mode == "replicated" else set(ns)
    assert all(pl.key in wanted for pl in p.place)
    if p.wake_at is not None:
        assert p.wake_at > NOW


@settings(max_examples=300, deadline=None, derandomize=True)
@given(situations())
def test_a_managed_end_never_counts_against_the_restart_limit(situation):
    svc, tasks, ns, observed, present, owned = situation
    p = plan(svc, tasks, ns, observed, present, owned)
    for s in p.shutdown:
        if task_states.is_managed(s.reason):
            t = next(t for t in tasks if t.id == s.task_id)
            record = lifecycle.ended(t, observed[t.id], s.reason, s.note, NOW)
            assert lifecycle.refill(svc.spec.restart, record, NOW) == lifecycle.Refill(t.restarts, None)
    for pl in p.place:
        past = [t for t in tasks if lifecycle.key_of(svc, t) == pl.key]
        if not past:
            assert (pl.restarts, pl.not_before) == (0, None)
