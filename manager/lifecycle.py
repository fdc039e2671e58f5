"""A task's life, decided in one place.

Pure functions from what the cluster holds (a service, its tasks, the nodes, what the agents
report, the time) to decisions as data: which tasks to shut down and why, which to start, which
slots to fill and when (a restart back-off), which slots to give up on, which history to remove.
The reconciler and the updater carry the decisions out and decide nothing themselves, so every
rule here is tested with plain records, without a cluster and without stubs
(tests/unit/test_lifecycle.py). The shape is that of dask's worker state machine (events in,
instructions out) and of Nomad's reconciler (a pure compute returning what to place and stop).

The states and their transitions are tabled in docs/ARCHITECTURE.md ("A task's life").
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shoal.manager.clock import parse_stamp, stamp
from shoal.manager.scheduler import NodeSnapshot, parse_constraint
from shoal.protos import task_states as ts
from shoal.protos.shoal.v1 import types_pb2

# Observed states in which a container has ended (it holds no reservation, no ports).
FINISHED = frozenset({"exited", "dead", "missing", "failed"})
STABLE_RUN = timedelta(seconds=10)     # a run this long resets the back-off (no restart window given)
MAX_BACKOFF_S = 300.0
HISTORY_PER_SLOT = 5
# Just created: its agent's report may still be on its way through etcd.
REPORT_GRACE = timedelta(seconds=15)
DEFAULT_MONITOR_S = 5.0

Key = int | str     # a slot of a replicated service, the node id of a global one


# ---- what a task is now -------------------------------------------------
def observe(c: types_pb2.Container, report: types_pb2.ContainerStatus | None, node_up: bool,
            now: datetime) -> types_pb2.ContainerStatus:
    """What the task is now: its agent's report when there is one (`report`: its node is up and
    reports the container), else what its record and the time say."""
    if report is not None:
        if report.state == "created" and c.status.state == "running" and c.status.runtime_id == report.runtime_id:
            # The agent's report of the create can trail the start it already answered.
            return c.status
        return report
    if not ts.is_live(c):
        # History: what the task last was, its container gone (or its node away).
        last = types_pb2.ContainerStatus()
        last.CopyFrom(c.status)
        if last.state in ("running", "created", "pending", ""):
            last.state = "shutdown"
        return last
    not_started = ts.recorded_state(c) == ts.PENDING
    if not node_up:
        if not_started:
            return c.status
        return types_pb2.ContainerStatus(state="unknown", error="node is down", runtime_id=c.status.runtime_id)
    if not_started:
        return c.status
    started = parse_stamp(c.status.started_at)
    if c.status.state in ("running", "created") and started is not None and abs(now - started) < REPORT_GRACE:
        return c.status
    # The node is up but no longer reports it: it was removed behind our back.
    return types_pb2.ContainerStatus(state="missing", error="not found on its node")


@dataclass(frozen=True, slots=True)
class Seen:
    """What the cluster sees of one task: its status now (observe()), and whether its node
    reports a container for it (False when its node is down: the orphan sweep removes that)."""
    status: types_pb2.ContainerStatus
    present: bool


# ---- decisions ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Shutdown:
    task_id: str
    reason: ts.Reason
    note: str            # for people


@dataclass(frozen=True, slots=True)
class Place:
    key: Key
    restarts: int
    not_before: datetime | None


@dataclass(frozen=True, slots=True)
class GiveUp:
    task_id: str         # the slot's last task, marked so the slot stays empty
    attempts: int


@dataclass
class Plan:
    """What to do for one service, in this order: shut down, give up, place, start, remove
    containers of history, forget records. `wake_at`: the next back-off that ends."""
    shutdown: list[Shutdown] = field(default_factory=list)
    give_up: list[GiveUp] = field(default_factory=list)
    place: list[Place] = field(default_factory=list)
    start: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    wake_at: datetime | None = None

    def wake(self, at: datetime) -> None:
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at


def eligible_nodes(svc: types_pb2.Service, nodes: Iterable[NodeSnapshot]) -> set[str]:
    """Nodes a global service runs on: active, ready, meeting its hard constraints."""
    constraints = [parse_constraint(c) for c in svc.spec.task.constraints if "~" not in c]
    return {n.id for n in nodes
            if n.availability == "active" and n.ready and all(c.matches(n) for c in constraints)}


def why_end(svc: types_pb2.Service, t: types_pb2.Container, seen: Seen, nodes: Mapping[str, NodeSnapshot],
            eligible: Set[str]) -> tuple[ts.Reason, str] | None:
    """Why a live task must end now (reason, note), or None."""
    node = nodes.get(t.node_id)
    if node is None:
        return types_pb2.END_REASON_NODE_DOWN, "node down"
    if node.availability == "drain":
        return types_pb2.END_REASON_NODE_DRAINED, "node drained"
    st = seen.status
    if st.state in ("exited", "dead"):
        if st.exit_code:
            return types_pb2.END_REASON_EXITED, f"failed: exit code {st.exit_code}"
        return types_pb2.END_REASON_COMPLETED, "completed"
    if st.state == "missing":
        return types_pb2.END_REASON_DISAPPEARED, "failed: container disappeared"
    if st.health == "unhealthy":
        return types_pb2.END_REASON_UNHEALTHY, "failed: unhealthy"
    if svc.spec.mode == "global":
        if t.node_id not in eligible and node.availability != "pause":
            return types_pb2.END_REASON_NOT_ELIGIBLE, "no longer eligible"
    elif t.slot > svc.spec.replicas:
        return types_pb2.END_REASON_SCALED_DOWN, "scaled down"
    return None


def ended(record: types_pb2.Container, observed: types_pb2.ContainerStatus, reason: ts.Reason, note: str,
          now: datetime) -> types_pb2.Container:
    """The record of a task once it ended: its last observed status kept as history."""
    out = types_pb2.Container()
    out.CopyFrom(record)
    if observed.state not in ("unknown", "pending"):
        out.status.CopyFrom(observed)
    if not out.status.finished_at:
        out.status.finished_at = stamp(now)
    if ts.ended_state(reason) in (ts.FAILED, ts.REJECTED) and out.status.state in ("running", "pending"):
        out.status.state = "failed"
    ts.set_ended(out, reason, note)
    return out


def started(record: types_pb2.Container, status: types_pb2.ContainerStatus) -> types_pb2.Container | None:
    """The record once its agent answered the start, or None if it is no longer waiting for one
    (an answer that trails a shutdown or an earlier answer changes nothing)."""
    if ts.recorded_state(record) != ts.PENDING or not ts.is_live(record):
        return None
    out = types_pb2.Container()
    out.CopyFrom(record)
    out.status.CopyFrom(status)
    out.state = ts.RUNNING
    return out


@dataclass(frozen=True, slots=True)
class Refill:
    restarts: int
    not_before: datetime | None


def backoff(restarts: int, policy: types_pb2.RestartPolicy, since: datetime) -> datetime:
    """When the `restarts`-th restart may start: the delay doubles per attempt, capped."""
    base = policy.delay_ns / 1e9
    delay = min(base * (2 ** max(restarts - 1, 0)), MAX_BACKOFF_S) if base > 0 else 0.0
    return since + timedelta(seconds=delay)


def refill(policy: types_pb2.RestartPolicy, last: types_pb2.Container | None,
           now: datetime) -> Refill | GiveUp | None:
    """How an empty slot whose last task is `last` (None: never had one) is filled: a new task,
    when, and its restart count; GiveUp when the restart limit is reached now; None to leave it."""
    if last is None:
        return Refill(0, None)
    reason = ts.end_reason(last)
    if ts.is_managed(reason):
        return Refill(last.restarts, None)
    condition = policy.condition or "any"
    if condition == "none" or (condition == "on-failure" and reason == types_pb2.END_REASON_COMPLETED):
        return None
    began = parse_stamp(last.status.started_at)
    finished = parse_stamp(last.status.finished_at) or now
    window = timedelta(seconds=policy.window_ns / 1e9) if policy.window_ns else STABLE_RUN
    stable = began is not None and finished - began >= window
    restarts = 1 if stable else last.restarts + 1
    if policy.max_attempts and restarts > policy.max_attempts:
        return None if ts.gave_up(last) else GiveUp(last.id, policy.max_attempts)
    return Refill(restarts, backoff(restarts, policy, finished))


def key_of(svc: types_pb2.Service, t: types_pb2.Container) -> Key:
    return t.node_id if svc.spec.mode == "global" else t.slot


def plan_service(svc: types_pb2.Service, tasks: Sequence[types_pb2.Container], nodes: Mapping[str, NodeSnapshot],
                 seen: Mapping[str, Seen], owned: Set[str], now: datetime) -> Plan:
    """Everything to do for one service now. `nodes`: the live nodes; `owned`: tasks the updater
    is replacing (counted as live, left to it)."""
    plan = Plan()
    global_mode = svc.spec.mode == "global"
    eligible = eligible_nodes(svc, nodes.values()) if global_mode else set()
    ending: dict[str, types_pb2.Container] = {}     # task id -> its record once this plan ends it

    def end(t: types_pb2.Container, reason: ts.Reason, note: str) -> None:
        plan.shutdown.append(Shutdown(t.id, reason, note))
        ending[t.id] = ended(t, seen[t.id].status, reason, note, now)

    live: list[types_pb2.Container] = []
    for t in tasks:
        if not ts.is_live(t):
            continue
        if t.id in owned:
            live.append(t)
            continue
        why = why_end(svc, t, seen[t.id], nodes, eligible)
        if why is not None:
            end(t, *why)
            continue
        live.append(t)
    groups: dict[Key, list[types_pb2.Container]] = defaultdict(list)
    for t in live:
        groups[key_of(svc, t)].append(t)
    for group in groups.values():
        if len(group) > 1 and not any(t.id in owned for t in group):
            keep = max(group, key=lambda t: (t.spec == svc.spec.task, seen[t.id].status.state == "running",
                                             t.created_at))
            for t in group:
                if t is not keep:
                    end(t, types_pb2.END_REASON_DUPLICATE, "duplicate")
    for t in live:
        if t.id in owned or t.id in ending or seen[t.id].status.state != "pending":
            continue
        due = parse_stamp(t.not_before)
        if due is not None and due > now:
            plan.wake(due)
        else:
            plan.start.append(t.id)

    history: dict[Key, list[types_pb2.Container]] = defaultdict(list)
    for t in tasks:
        history[key_of(svc, t)].append(ending.get(t.id, t))
    wanted: Iterable[Key] = sorted(eligible) if global_mode else range(1, svc.spec.replicas + 1)
    for k in wanted:
        if k in groups and any(t.id not in ending for t in groups[k]):
            continue
        past = history.get(k)
        last = max(past, key=lambda t: (t.created_at, t.id)) if past else None
        decision = refill(svc.spec.restart, last, now)
        if isinstance(decision, GiveUp):
            plan.give_up.append(decision)
        elif decision is not None:
            if decision.not_before is not None and decision.not_before > now:
                plan.wake(decision.not_before)
            plan.place.append(Place(k, decision.restarts, decision.not_before))
    for past in history.values():
        _prune(past, seen, ending, plan)
    return plan


def _prune(past: list[types_pb2.Container], seen: Mapping[str, Seen], ending: Mapping[str, types_pb2.Container],
           plan: Plan) -> None:
    """Keeps HISTORY_PER_SLOT ended tasks per slot, and no container of an ended task."""
    dead = sorted((t for t in past if not ts.is_live(t)), key=lambda t: t.created_at, reverse=True)
    for i, t in enumerate(dead):
        if t.id in ending:
            continue            # its shutdown removes its container; its record stays this pass
        if seen[t.id].present:
            plan.remove.append(t.id)
        elif i >= HISTORY_PER_SLOT:
            plan.forget.append(t.id)


def plan_retired(tasks: Iterable[types_pb2.Container], seen: Mapping[str, Seen]) -> Plan:
    """The tasks of a service that is gone: shut down, then forgotten once their containers are."""
    plan = Plan()
    for t in tasks:
        if ts.is_live(t):
            plan.shutdown.append(Shutdown(t.id, types_pb2.END_REASON_SERVICE_REMOVED, "service removed"))
        elif seen[t.id].present:
            plan.remove.append(t.id)
        else:
            plan.forget.append(t.id)
    return plan


# ---- rolling updates and rebalancing ------------------------------------------
UPDATING = ("updating", "rolling_back")


@dataclass(frozen=True, slots=True)
class Finish:
    state: str           # completed | rolled_back


@dataclass(frozen=True, slots=True)
class Replace:
    batch: tuple[types_pb2.Container, ...]


def update_step(svc: types_pb2.Service, tasks: Iterable[types_pb2.Container], skipped: Set[int]) -> Finish | Replace:
    """The next batch of an update (live tasks not of the current spec, slots that failed under
    failure_action=continue left alone), or how the update finishes."""
    outdated = sorted((t for t in tasks if ts.is_live(t) and t.spec != svc.spec.task and t.slot not in skipped),
                      key=lambda t: (t.slot, t.node_name))
    if not outdated:
        return Finish("rolled_back" if svc.update_status.state == "rolling_back" else "completed")
    return Replace(tuple(outdated[: svc.spec.update.parallelism or len(outdated)]))


def on_update_failure(svc: types_pb2.Service) -> str:
    """pause | continue | rollback. A rollback that fails pauses: it never rolls back again."""
    if svc.update_status.state == "rolling_back":
        return "pause"
    return svc.spec.update.failure_action or "pause"


def monitor_seconds(svc: types_pb2.Service) -> float:
    """How long a new task of an update has to be running (and healthy, with a health check)."""
    health = svc.spec.task.health
    limit = svc.spec.update.monitor_ns / 1e9 or DEFAULT_MONITOR_S
    if health.test:
        interval = (health.interval_ns or 30 * 10**9) / 1e9
        limit = max(limit, health.start_period_ns / 1e9 + interval * ((health.retries or 3) + 1) + 5)
    return limit


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


READY = "ready"
WAIT = "wait"


def judge_new(svc: types_pb2.Service, name: str, record: types_pb2.Container | None,
              observed: types_pb2.ContainerStatus | None) -> str | Failed:
    """Whether a new task of an update is READY, still to WAIT for, or Failed."""
    if record is None or observed is None or not ts.is_live(record):
        return Failed(f"task {name} was {record.note if record is not None else 'removed'}")
    if observed.state in FINISHED:
        code = f" (exit code {observed.exit_code})" if observed.exit_code else ""
        return Failed(f"task {name} {observed.state}{code}")
    if observed.health == "unhealthy":
        return Failed(f"task {name} is unhealthy")
    if observed.state != "running" or (svc.spec.task.health.test and observed.health != "healthy"):
        return WAIT
    return READY


def rebalance_batch(svc: types_pb2.Service, tasks: Iterable[types_pb2.Container],
                    active_nodes: Iterable[str]) -> list[types_pb2.Container]:
    """Tasks to move off the most crowded active nodes, up to the update parallelism; empty once
    no two active nodes differ by more than one task."""
    if svc.spec.mode == "global":
        return []
    live = [t for t in tasks if ts.is_live(t)]
    counts = {n: 0 for n in active_nodes}
    for t in live:
        if t.node_id in counts:
            counts[t.node_id] += 1
    if not counts:
        return []
    least = min(counts.values())
    if max(counts.values()) - least <= 1:
        return []
    size = max(1, svc.spec.update.parallelism or 1)
    batch: list[types_pb2.Container] = []
    for node_id in sorted(counts, key=lambda n: -counts[n]):
        if len(batch) >= size or counts[node_id] - least <= 1:
            break
        batch.append(next(t for t in live if t.node_id == node_id))
    return batch
