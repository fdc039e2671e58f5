"""The leader's control loop: asks the task lifecycle (manager/lifecycle.py) what closes the
gap between services (desired) and tasks and what agents report (observed), and does it.
Woken by every etcd change, with a periodic full pass as a safety net; restart back-off
deadlines schedule their own wake-up."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Callable

from shoal.manager import lifecycle
from shoal.manager.scheduler import NoFit
from shoal.manager.state import ClusterState
from shoal.manager.store import NotLeader, Store
from shoal.manager.clock import now, parse_stamp, stamp
from shoal.manager.tasks import TaskDriver, task_name
from shoal.manager.updater import Updater
from shoal.etcd.client import EtcdError
from shoal.protos import task_states
from shoal.protos.limits import MAX_PENDING_LISTED
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.manager.reconciler")

SAFETY_PASS_SECONDS = 5.0
DEBOUNCE_SECONDS = 0.05
MAX_REST_SECONDS = 1.0


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
        nodes = self.state.node_facts()
        for sid, tasks in by_service.items():
            if sid not in services:
                await self._execute(None, lifecycle.plan_retired(tasks, self._seen(tasks)), tasks)
        for svc in services.values():
            if svc.update_status.state in lifecycle.UPDATING or svc.rebalance:
                self.updater.ensure_running(svc.spec.name)
            tasks = by_service.get(svc.id, [])
            plan = lifecycle.plan_service(svc, tasks, nodes, self._seen(tasks), self.updater.owned(svc.id), now())
            await self._execute(svc, plan, tasks)

    def _seen(self, tasks: list[types_pb2.Container]) -> dict[str, lifecycle.Seen]:
        return {t.id: self.state.seen(t) for t in tasks}

    async def _execute(self, svc: types_pb2.Service | None, plan: lifecycle.Plan,
                       tasks: list[types_pb2.Container]) -> None:
        """Carries a plan out, in its order; decides nothing. `tasks`: the records the plan was
        made from (a start needs only a task's id and node, and re-reads it when it calls)."""
        for end in plan.shutdown:
            await self.driver.shutdown_id(end.task_id, end.reason, end.note)
        for give_up in plan.give_up:
            await self._mark_given_up(give_up)
        if svc is not None:
            unplaced = await self._place(svc, plan.place) if plan.place else []
            await self._note_pending(svc, unplaced)
        if plan.start:
            records = {t.id: t for t in tasks}
            for cid in plan.start:
                self.driver.start_soon(records[cid])
        for cid in plan.remove:
            task = self.driver.copy(cid)
            if task is not None:
                self.driver.remove_soon(task)
        for cid in plan.forget:
            task = self.driver.copy(cid)
            if task is not None:
                await self.store.delete_container(task)
        if plan.wake_at is not None:
            self._wake(plan.wake_at)

    async def _place(self, svc: types_pb2.Service, places: list[lifecycle.Place]) -> list[types_pb2.PendingTask]:
        """Places and starts what it can; returns the tasks no node took, with the scheduler's reason."""
        due_now = now()
        unplaced: list[types_pb2.PendingTask] = []
        # Global tasks go to their own node each; a slot's named volume pins it to its own node:
        # both are placed one by one.
        one_by_one = svc.spec.mode == "global" or any(m.type == "volume" and m.source for m in svc.spec.task.mounts)
        if one_by_one:
            for p in places:
                if svc.spec.mode == "global":
                    node = self.state.nodes.get(str(p.key))
                    slot, node_id, name = 0, str(p.key), task_name(svc, 0, node[0].name if node else str(p.key))
                else:
                    slot, node_id, name = int(p.key), "", task_name(svc, int(p.key))
                placed = await self.driver.place_new(svc, slot, node_id=node_id, restarts=p.restarts,
                                                     not_before=p.not_before)
                if isinstance(placed, NoFit):
                    unplaced.append(types_pb2.PendingTask(key=str(p.key), name=name, reason=placed.message))
                elif p.not_before is None or p.not_before <= due_now:
                    self.driver.start_soon(placed)
            return unplaced
        # Every empty slot of the service in one batch: one snapshot, one indexed placement.
        placed_tasks, nofit = await self.driver.place_batch(
            svc, [(int(p.key), p.restarts, p.not_before) for p in places])
        for placed in placed_tasks:
            due = parse_stamp(placed.not_before)
            if not due or due <= due_now:
                self.driver.start_soon(placed)
        if nofit is not None:
            # The batch stops at the first slot that fits nowhere: the rest are unplaced for that reason too.
            unplaced = [types_pb2.PendingTask(key=str(p.key), name=task_name(svc, int(p.key)), reason=nofit.message)
                        for p in places[len(placed_tasks):]]
        return unplaced

    async def _mark_given_up(self, give_up: lifecycle.GiveUp) -> None:
        record = self.driver.copy(give_up.task_id)
        if record is not None and not task_states.gave_up(record):
            task_states.set_gave_up(record, give_up.attempts)
            await self.store.update_container(record)

    async def _note_pending(self, svc: types_pb2.Service, unplaced: list[types_pb2.PendingTask]) -> None:
        """Records the unplaced tasks on the service when that set or a reason changes (a pass that
        changes nothing writes nothing); `message` keeps the first, for older readers."""
        entry = self.state.services.get(svc.spec.name)
        if entry is None:
            return
        current = entry[0]
        listed = sorted(unplaced, key=lambda t: (len(t.key), t.key))[:MAX_PENDING_LISTED]
        before = {t.key: t for t in current.pending}
        if ([(t.key, t.reason) for t in listed] == [(t.key, t.reason) for t in current.pending]
                and len(unplaced) == current.pending_total):
            return
        stamp_now = stamp(now())
        for t in listed:
            old = before.get(t.key)
            t.since = old.since if old is not None and old.reason == t.reason else stamp_now
        record = types_pb2.Service()
        record.CopyFrom(current)
        del record.pending[:]
        record.pending.extend(listed)
        record.pending_total = len(unplaced)
        if listed:
            record.message = f"task {listed[0].name}: {listed[0].reason}"
        try:
            await self.store.put_service(record, entry[1])
        except Exception as exc:  # a concurrent spec change wins; the next pass notes again
            log.debug("noting %s: %s", svc.spec.name, exc)
