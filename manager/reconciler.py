"""The leader's control loop: compares services (desired) with tasks and what agents
report (observed), and closes the gap. Woken by every etcd change, with a periodic
full pass as a safety net; restart back-off deadlines schedule their own wake-up."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Callable

from shoal.manager.scheduler import NoFit, parse_constraint
from shoal.manager.state import ClusterState
from shoal.manager.store import NotLeader, Store
from shoal.manager.clock import now, parse_stamp
from shoal.manager.tasks import TaskDriver
from shoal.manager.updater import Updater
from shoal.etcd.client import EtcdError
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.manager.reconciler")

SAFETY_PASS_SECONDS = 5.0
DEBOUNCE_SECONDS = 0.05
MAX_REST_SECONDS = 1.0
HISTORY_PER_SLOT = 5
STABLE_RUN = timedelta(seconds=10)

# Why a task ended decides whether its slot's restart policy applies.
MANAGED_ENDS = ("node down", "node drained", "scaled down", "updated", "duplicate", "service removed",
                "no longer eligible", "rebalanced", "update failed")


def is_failure(task: types_pb2.Container) -> bool:
    return not task.note.startswith(MANAGED_ENDS)


class Reconciler:
    def __init__(self, state: ClusterState, store: Store, driver: TaskDriver, updater: Updater,
                 is_leader: Callable[[], bool]):
        self.state = state
        self.store = store
        self.driver = driver
        self.updater = updater
        self.is_leader = is_leader
        self._wake_at: datetime | None = None

    async def run(self) -> None:
        last_pass = 0.0
        while True:
            timeout = SAFETY_PASS_SECONDS
            if self._wake_at is not None:
                timeout = max(0.0, min(timeout, (self._wake_at - now()).total_seconds()))
            try:
                await asyncio.wait_for(self.store.dirty.wait(), timeout)
            except TimeoutError:
                pass
            # Coalesce a burst of watch events into one pass; and rest at least as long as the last
            # pass took, so that with 10,000 tasks in flight the passes leave the event loop half
            # its time for the agents' calls and the watch (not a wait for a condition).
            await asyncio.sleep(max(DEBOUNCE_SECONDS, last_pass))
            self.store.dirty.clear()
            if not self.is_leader() or not self.store.healthy.is_set():
                continue
            started = time.monotonic()
            try:
                await self.reconcile_once()
            except NotLeader:
                log.info("not leader any more; reconciliation paused")
            except EtcdError as exc:
                log.warning("reconcile pass failed: %s", exc)
            except Exception:
                log.exception("reconcile pass failed")
            last_pass = min(time.monotonic() - started, MAX_REST_SECONDS)

    def _wake(self, at: datetime) -> None:
        if self._wake_at is None or at < self._wake_at or self._wake_at <= now():
            self._wake_at = at

    async def reconcile_once(self) -> None:
        self._wake_at = None
        by_service = {sid: self.state.tasks_of(sid) for sid in self.state.service_ids_with_tasks()}
        services = {svc.id: svc for svc, _ in self.state.services.values()}
        for sid, tasks in by_service.items():
            if sid not in services:
                await self._retire(tasks)
        for svc in services.values():
            if svc.update_status.state in ("updating", "rolling_back") or svc.rebalance:
                self.updater.ensure_running(svc.spec.name)
            await self._reconcile_service(svc, by_service.get(svc.id, []))

    async def _retire(self, tasks: list[types_pb2.Container]) -> None:
        """The service is gone: shut its tasks down, then forget them once their containers are."""
        for t in tasks:
            if t.desired_state == "running":
                await self.driver.shutdown(t, "service removed")
            elif self._container_gone(t):
                await self.store.delete_container(t)
            else:
                self.driver.remove_soon(t)

    def _container_gone(self, t: types_pb2.Container) -> bool:
        if t.node_id in self.state.nodes:
            return t.id not in self.state.observed.get(t.node_id, {})
        # Its node is down: once the node returns, the orphan sweep removes the container.
        return True

    def _eligible_nodes(self, svc: types_pb2.Service) -> list[str]:
        constraints = [parse_constraint(c) for c in svc.spec.task.constraints if "~" not in c]
        out = []
        for snap in self.state.snapshots():
            if snap.availability != "active" or not snap.ready:
                continue
            if all(c.matches(snap) for c in constraints):
                out.append(snap.id)
        return out

    async def _reconcile_service(self, svc: types_pb2.Service, tasks: list[types_pb2.Container]) -> None:
        owned = self.updater.owned(svc.id)
        global_mode = svc.spec.mode == "global"
        eligible = set(self._eligible_nodes(svc)) if global_mode else set()
        live: list[types_pb2.Container] = []
        for t in tasks:
            if t.desired_state != "running":
                continue
            if t.id in owned:
                live.append(t)
                continue
            reason = self._why_end(svc, t, global_mode, eligible)
            if reason:
                await self.driver.shutdown(t, reason[0], failed=reason[1])
                continue
            live.append(t)
            if self.state.status_of(t).state == "pending":
                due = parse_stamp(t.not_before)
                if due and due > now():
                    self._wake(due)
                else:
                    self.driver.start_soon(t)
        key = (lambda t: t.node_id) if global_mode else (lambda t: t.slot)
        groups: dict = defaultdict(list)
        for t in live:
            groups[key(t)].append(t)
        for group in groups.values():
            if len(group) > 1 and not any(t.id in owned for t in group):
                keep = max(group, key=lambda t: (t.spec == svc.spec.task, self.state.status_of(t).state == "running",
                                                 t.created_at))
                for t in group:
                    if t is not keep:
                        await self.driver.shutdown(t, "duplicate")
        wanted = sorted(eligible) if global_mode else list(range(1, svc.spec.replicas + 1))
        # Re-read: the shutdowns above changed records, and why a task ended (its note) decides
        # whether its replacement waits out a restart back-off.
        tasks = self.state.containers.many(t.id for t in tasks)
        history: dict = defaultdict(list)
        for t in tasks:
            history[key(t)].append(t)
        missing: list[tuple[int | str, int, datetime | None]] = []
        for k in wanted:
            if k in groups:
                continue
            last = max(history[k], key=lambda t: (t.created_at, t.id)) if history.get(k) else None
            decision = self._restart_decision(svc, last)
            if decision is None:
                continue
            restarts, due = decision
            if due and due > now():
                self._wake(due)
            missing.append((k, restarts, due))
        if global_mode:
            for k, restarts, due in missing:
                placed = await self.driver.place_new(svc, 0, node_id=k, restarts=restarts, not_before=due)
                if isinstance(placed, NoFit):
                    await self._note_service(svc, f"task {svc.spec.name}.{k}: {placed.message}")
                    continue
                if not due or due <= now():
                    self.driver.start_soon(placed)
        elif missing:
            # Every empty slot of the service in one batch: one snapshot, one indexed placement.
            placed_tasks, nofit = await self.driver.place_batch(svc, missing)
            for placed in placed_tasks:
                due = parse_stamp(placed.not_before)
                if not due or due <= now():
                    self.driver.start_soon(placed)
            if nofit is not None:
                k = missing[len(placed_tasks)][0]
                await self._note_service(svc, f"task {svc.spec.name}.{k}: {nofit.message}")
        await self._prune_history(svc, history)

    def _why_end(self, svc, t, global_mode, eligible) -> tuple[str, bool] | None:
        if t.node_id not in self.state.nodes:
            return "node down", False
        if self.state.conf(t.node_id).availability == "drain":
            return "node drained", False
        st = self.state.status_of(t)
        if st.state in ("exited", "dead"):
            return (f"failed: exit code {st.exit_code}" if st.exit_code else "completed"), st.exit_code != 0
        if st.state == "missing":
            return "failed: container disappeared", True
        if st.health == "unhealthy":
            return "failed: unhealthy", True
        if global_mode and t.node_id not in eligible and self.state.conf(t.node_id).availability != "pause":
            return "no longer eligible", False
        if not global_mode and t.slot > svc.spec.replicas:
            return "scaled down", False
        return None

    def _restart_decision(self, svc, last) -> tuple[int, datetime | None] | None:
        """(restarts, not-before) for a new task in this slot, or None to leave it empty."""
        if last is None or not is_failure(last):
            return (last.restarts if last else 0), None
        policy = svc.spec.restart
        condition = policy.condition or "any"
        if condition == "none":
            return None
        if condition == "on-failure" and last.note == "completed":
            return None
        started = parse_stamp(last.status.started_at)
        finished = parse_stamp(last.status.finished_at) or now()
        window = timedelta(seconds=policy.window_ns / 1e9) if policy.window_ns else STABLE_RUN
        stable = started is not None and finished - started >= window
        restarts = 1 if stable else last.restarts + 1
        if policy.max_attempts and restarts > policy.max_attempts:
            if "restart limit reached" not in last.note:
                self.driver.spawn(self._mark_given_up(last, policy.max_attempts))
            return None
        return restarts, self.driver.not_before(restarts, policy, finished)

    async def _mark_given_up(self, task: types_pb2.Container, attempts: int) -> None:
        record = self.driver.copy(task.id)
        if record is not None and "restart limit reached" not in record.note:
            record.note = f"{record.note}; restart limit reached ({attempts} attempts)"
            await self.store.update_container(record)

    async def _note_service(self, svc: types_pb2.Service, message: str) -> None:
        entry = self.state.services.get(svc.spec.name)
        if entry is None or entry[0].message == message:
            return
        record = types_pb2.Service()
        record.CopyFrom(entry[0])
        record.message = message
        try:
            await self.store.put_service(record, entry[1])
        except Exception as exc:  # a concurrent spec change wins; the next pass notes again
            log.debug("noting %s: %s", svc.spec.name, exc)

    async def _prune_history(self, svc, history) -> None:
        for tasks in history.values():
            dead = sorted((t for t in tasks if t.desired_state != "running"), key=lambda t: t.created_at, reverse=True)
            for i, t in enumerate(dead):
                if not self._container_gone(t):
                    self.driver.remove_soon(t)
                elif i >= HISTORY_PER_SLOT:
                    await self.store.delete_container(t)
