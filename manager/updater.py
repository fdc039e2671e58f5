"""Rolling updates, rollbacks and rebalancing of one service at a time, on the leader.

Start-first: a slot's new task must be running (and healthy, when the spec has a
health check) before its old task is shut down, so a failed update leaves the old
version serving. The state lives in the service record (update_status), so a new
leader resumes an update where the old one stopped.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from shoal.manager import lifecycle
from shoal.manager.scheduler import NoFit
from shoal.manager.state import ClusterState
from shoal.manager.store import Conflict, NotLeader, Store
from shoal.manager.clock import now, stamp
from shoal.manager.tasks import TaskDriver
from shoal.etcd.client import EtcdError
from shoal.protos import task_states
from shoal.protos.shoal.v1 import types_pb2

log = logging.getLogger("shoal.manager.updater")

POLL_S = 0.2


class UpdateFailed(Exception):
    pass


class Updater:
    def __init__(self, state: ClusterState, store: Store, driver: TaskDriver, is_leader: Callable[[], bool]):
        self.state = state
        self.store = store
        self.driver = driver
        self.is_leader = is_leader
        self._running: dict[str, asyncio.Task] = {}
        self._owned: dict[str, set[str]] = {}     # service id -> task ids the updater handles

    def owned(self, service_id: str) -> set[str]:
        return self._owned.get(service_id, set())

    def ensure_running(self, name: str) -> None:
        task = self._running.get(name)
        if task is None or task.done():
            self._running[name] = asyncio.create_task(self._run(name))

    async def stop_all(self) -> None:
        for t in self._running.values():
            t.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _service(self, name: str) -> tuple[types_pb2.Service, int] | None:
        entry = self.state.services.get(name)
        if entry is None:
            return None
        svc = types_pb2.Service()
        svc.CopyFrom(entry[0])
        return svc, entry[1]

    async def _save(self, name: str, change: Callable[[types_pb2.Service], None]) -> None:
        for _ in range(10):
            entry = self._service(name)
            if entry is None:
                return
            svc, rev = entry
            change(svc)
            svc.updated_at = stamp(now())
            try:
                await self.store.put_service(svc, rev)
                return
            except Conflict:
                await asyncio.sleep(0.05)

    async def _run(self, name: str) -> None:
        try:
            entry = self._service(name)
            if entry is None:
                return
            if entry[0].update_status.state in lifecycle.UPDATING:
                await self._update(name)
            entry = self._service(name)
            if entry is not None and entry[0].rebalance:
                await self._rebalance(name)
        except (NotLeader, EtcdError) as exc:
            log.info("update of %s interrupted: %s", name, exc)
        except Exception:
            log.exception("update of %s failed", name)
        finally:
            entry = self._service(name)
            if entry is not None:
                self._owned.pop(entry[0].id, None)

    async def _update(self, name: str) -> None:
        skipped: set[int] = set()
        while self.is_leader():
            entry = self._service(name)
            if entry is None:
                return
            svc, _ = entry
            if svc.update_status.state not in lifecycle.UPDATING:
                return
            step = lifecycle.update_step(svc, self.state.tasks_of(svc.id), skipped)
            if isinstance(step, lifecycle.Finish):
                await self._save(name, lambda s, done=step.state: _finish(s, done))
                log.info("update of %s %s", name, step.state)
                return
            try:
                await self._replace(svc, list(step.batch), types_pb2.END_REASON_UPDATED, "updated")
            except UpdateFailed as exc:
                reason = str(exc)
                action = lifecycle.on_update_failure(svc)
                log.warning("update of %s failed (%s): %s", name, action, reason)
                if action == "pause":
                    await self._save(name, lambda s, reason=reason: _set_status(s, "paused", f"update paused: {reason}"))
                    return
                if action == "continue":
                    skipped |= {t.slot for t in step.batch}
                elif action == "rollback":
                    await self._save(name, lambda s, reason=reason: _roll_back(s, reason))
                    skipped.clear()
                    continue
            delay = svc.spec.update.delay_ns / 1e9
            if delay > 0:
                await asyncio.sleep(delay)  # the configured pause between batches, not a wait for a condition

    async def _replace(self, svc: types_pb2.Service, batch: list[types_pb2.Container], reason: task_states.Reason,
                       note: str) -> None:
        """Start a new task per old one (same slot; same node for global services), wait until
        all run, then shut the old ones down."""
        owned = self._owned.setdefault(svc.id, set())
        owned.update(t.id for t in batch)
        new: list[types_pb2.Container] = []
        try:
            for old in batch:
                node = old.node_id if svc.spec.mode == "global" else ""
                placed = await self.driver.place_new(svc, old.slot, node_id=node, restarts=0)
                if isinstance(placed, NoFit):
                    raise UpdateFailed(placed.message)
                owned.add(placed.id)
                new.append(placed)
                self.driver.start_soon(placed)
            await self._wait_ready(svc, new)
            for old in batch:
                await self.driver.shutdown(old, reason, note)
            await self._wait_gone(svc, batch)
        except UpdateFailed as exc:
            for t in new:
                await self.driver.shutdown(t, types_pb2.END_REASON_UPDATE_FAILED, f"update failed: {exc}")
            raise
        finally:
            owned.difference_update(t.id for t in batch)
            owned.difference_update(t.id for t in new)

    async def _wait_ready(self, svc: types_pb2.Service, tasks: list[types_pb2.Container]) -> None:
        limit = lifecycle.monitor_seconds(svc)
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            waiting = []
            for t in tasks:
                entry = self.state.containers.get(t.id)
                record = entry[0] if entry is not None else None
                verdict = lifecycle.judge_new(svc, t.name, record,
                                              self.state.status_of(record) if record is not None else None)
                if isinstance(verdict, lifecycle.Failed):
                    raise UpdateFailed(verdict.reason)
                if verdict == lifecycle.WAIT:
                    waiting.append(t)
            if not waiting:
                return
            if asyncio.get_running_loop().time() > deadline:
                what = "healthy" if svc.spec.task.health.test else "running"
                raise UpdateFailed(f"task {waiting[0].name} not {what} after {limit:.0f} s")
            if not self.is_leader():
                raise NotLeader("lost leadership during the update")
            await asyncio.sleep(POLL_S)

    async def _wait_gone(self, svc: types_pb2.Service, tasks: list[types_pb2.Container]) -> None:
        """A batch is done when its old containers are gone, not merely told to go."""
        grace = (svc.spec.stop_grace_ns / 1e9) if svc.spec.stop_grace_ns else 10.0
        deadline = asyncio.get_running_loop().time() + grace + 15
        while asyncio.get_running_loop().time() < deadline:
            if all(t.id not in self.state.observed.get(t.node_id, {}) for t in tasks):
                return
            await asyncio.sleep(POLL_S)
        log.warning("%s: old tasks still present after %.0f s; going on", svc.spec.name, grace + 15)

    async def _rebalance(self, name: str) -> None:
        """Moves tasks from the most crowded nodes to the emptiest eligible ones, a batch at a time."""
        while self.is_leader():
            entry = self._service(name)
            if entry is None:
                return
            svc, _ = entry
            active = [n.id for n in self.state.node_facts().values() if n.availability == "active"]
            batch = lifecycle.rebalance_batch(svc, self.state.tasks_of(svc.id), active)
            if not batch:
                break
            try:
                await self._replace(svc, batch, types_pb2.END_REASON_REBALANCED, "rebalanced")
            except UpdateFailed as exc:
                log.warning("rebalance of %s stopped: %s", name, exc)
                break
        await self._save(name, _rebalanced)


def _finish(svc: types_pb2.Service, done: str) -> None:
    _set_status(svc, done, svc.update_status.message if done == "rolled_back" else "")
    svc.update_status.completed_at = stamp(now())


def _roll_back(svc: types_pb2.Service, reason: str) -> None:
    current = types_pb2.ServiceSpec()
    current.CopyFrom(svc.spec)
    svc.spec.CopyFrom(svc.previous_spec)
    svc.previous_spec.CopyFrom(current)
    svc.version += 1
    _set_status(svc, "rolling_back", f"rolling back: {reason}")


def _rebalanced(svc: types_pb2.Service) -> None:
    svc.rebalance = False


def _set_status(svc: types_pb2.Service, state: str, message: str) -> None:
    svc.update_status.state = state
    svc.update_status.message = message
