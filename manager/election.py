"""Leader election among managers, on an etcd key under the candidate's lease, and a heartbeat.

The leader's term is the create revision of the leader key. Every write of the
leader compares it (see Store.fence), so a leader that lost its lease -- paused,
partitioned, or slow -- cannot write anything once another manager has won:
an etcd lease alone does not stop a deposed leader (Jepsen's finding).

Nor does a lease prove that the leader lives: any etcd client that learns its id can keep it
alive (an agent can, on etcd < 3.4.26). So the leader also advances /shoal/heartbeat, which
only managers may write, and a follower deposes a leader whose heartbeat stood still for a TTL
(manager/heartbeat.py decides when).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from typing import Callable

from shoal.manager.heartbeat import HeartbeatMonitor
from shoal.protos import etcd_keys
from shoal.etcd.client import Compare, EtcdClient, EtcdError, EtcdUnavailable, KeyValue, Op

log = logging.getLogger("shoal.manager.election")


class Election:
    def __init__(self, etcd: EtcdClient, manager_id: str, address: str, ttl: int,
                 on_change: Callable[[], None] = lambda: None):
        self.etcd = etcd
        self.manager_id = manager_id
        self.address = address
        self.ttl = ttl
        self.on_change = on_change
        self.term = 0                 # > 0 only while we lead
        self.leader_id = ""
        self.leader_address = ""
        self.leader_term = 0
        self.elected = asyncio.Event()
        self._lease = 0
        # Monotonic times (of sending) of the last keep-alive etcd answered and of the last heartbeat
        # it committed: our lease cannot have expired, nor a follower deposed us, for a TTL after each.
        self._kept_at = 0.0
        self._beat_at = 0.0

    @property
    def is_leader(self) -> bool:
        # Stop acting as leader well before the lease can have expired on the server or a
        # follower can have seen our heartbeat stand still for a TTL.
        return self.term > 0 and time.monotonic() < min(self._kept_at, self._beat_at) + self.ttl * 2 / 3

    def _value(self) -> str:
        return json.dumps({"id": self.manager_id, "address": self.address})

    def _beat_value(self) -> str:
        # "at" is for people reading etcd; followers time the heartbeat on their own clocks.
        return json.dumps({"id": self.manager_id, "term": self.term,
                           "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")})

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._campaign()
                delay = 0.2
                self._step_down("the leader key or our lease is gone")
            except (EtcdError, TimeoutError) as exc:
                log.warning("election: %s", exc or "etcd did not answer in time")
                self._step_down(f"etcd: {exc or 'no answer in time'}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _campaign(self) -> None:
        self._lease = await self.etcd.lease_grant(self.ttl)
        granted_at = time.monotonic()
        poll = max(0.2, self.ttl / 6)
        monitor = HeartbeatMonitor(self.ttl)
        while True:
            sent = time.monotonic()
            result = await self.etcd.txn(
                [Compare.create_revision(etcd_keys.LEADER, "==", 0)],
                [Op.put(etcd_keys.LEADER, self._value(), lease=self._lease)],
                [Op.get(etcd_keys.LEADER), Op.get(etcd_keys.HEARTBEAT)],
            )
            received = time.monotonic()
            if result.succeeded:
                self._kept_at = granted_at
                # Winning proves leadership as a beat does: a follower's clock for this term
                # starts no earlier than this transaction.
                self._beat_at = sent
                self.term = result.revision
                self._set_leader(self.manager_id, self.address, self.term)
                self.elected.set()
                log.info("became leader (term %d)", self.term)
                self.on_change()
                await self._lead()
                return
            leaders, beats = result.responses[0], result.responses[1]
            if leaders:
                leader = leaders[0]
                doc = json.loads(leader.value)
                self._set_leader(doc.get("id", ""), doc.get("address", ""), leader.create_revision)
                beat_revision = beats[0].mod_revision if beats else 0
                if monitor.observe(leader.create_revision, beat_revision, sent, received):
                    await self._depose(leader, beat_revision, monitor.still_for(received))
                    continue      # campaign at once (or, if the depose lost a race, look again)
            # Followers keep their own lease alive so they can take over at once.
            sent = time.monotonic()
            try:
                await asyncio.wait_for(self.etcd.lease_keepalive_once(self._lease), poll * 2)
                granted_at = sent
            except TimeoutError:
                if time.monotonic() - granted_at > self.ttl:
                    raise EtcdUnavailable("no lease keep-alive answered within the TTL") from None
            await asyncio.sleep(poll)

    async def _depose(self, leader: KeyValue, beat_revision: int, still_for: float) -> None:
        """Deletes the leader key only if neither it nor the heartbeat changed since we looked: a
        leader that beat meanwhile stays, and of several followers deposing at once one wins."""
        result = await self.etcd.txn(
            [Compare.create_revision(etcd_keys.LEADER, "==", leader.create_revision),
             Compare.mod_revision(etcd_keys.HEARTBEAT, "==", beat_revision)],
            [Op.delete(etcd_keys.LEADER)],
        )
        if result.succeeded:
            log.warning("deposed leader %s (term %d): its heartbeat has not advanced for %.1f s (TTL %d s)",
                        self.leader_id, leader.create_revision, still_for, self.ttl)

    async def _lead(self) -> None:
        interval = self.ttl / 3
        while True:
            sent = time.monotonic()
            # Concurrently, and each bounded by the beat: one slow call (a connection still
            # re-establishing after an etcd restart) must not stall the other or the next beat.
            kept, beat = await asyncio.gather(self._keep_alive(interval), self._beat(interval),
                                              return_exceptions=True)
            if beat is False:
                log.warning("leader key is gone or changed hands; stepping down")
                return
            for failed in (kept, beat):
                if isinstance(failed, BaseException):
                    raise failed    # an etcd error (our lease expired, say): run() steps down
            if kept:
                self._kept_at = sent
            if beat:
                self._beat_at = sent
            now = time.monotonic()
            # is_leader turned false 2/3 TTL after the last success; by a TTL the lease may have
            # expired or a follower deposed us: the term is over either way.
            if now - self._kept_at > self.ttl:
                raise EtcdUnavailable("no lease keep-alive answered within the TTL")
            if now - self._beat_at > self.ttl:
                raise EtcdUnavailable("the heartbeat could not be advanced within the TTL")
            await asyncio.sleep(interval)

    async def _keep_alive(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.etcd.lease_keepalive_once(self._lease), timeout)
        except TimeoutError:
            return False
        return True

    async def _beat(self, timeout: float) -> bool | None:
        """True: the heartbeat advanced under our term; False: the term is over (the leader key is
        gone or another's); None: no answer in time, or one that may not have been applied."""
        try:
            result = await asyncio.wait_for(self.etcd.txn(
                [Compare.create_revision(etcd_keys.LEADER, "==", self.term)],
                [Op.put(etcd_keys.HEARTBEAT, self._beat_value())],
            ), timeout)
        except (TimeoutError, EtcdUnavailable):
            return None
        return result.succeeded

    def _set_leader(self, leader_id: str, address: str, term: int) -> None:
        changed = (leader_id, address, term) != (self.leader_id, self.leader_address, self.leader_term)
        self.leader_id, self.leader_address, self.leader_term = leader_id, address, term
        if changed and leader_id != self.manager_id:
            log.info("leader is %s at %s (term %d)", leader_id, address, term)
            self.on_change()

    def _step_down(self, why: str) -> None:
        if self.term:
            log.warning("lost leadership of term %d: %s", self.term, why)
            self.term = 0
            self.elected.clear()
            self.on_change()
        self._kept_at = self._beat_at = 0.0

    async def resign(self) -> None:
        """On a clean shutdown another manager can take over at once."""
        if self._lease:
            try:
                await self.etcd.lease_revoke(self._lease)
            except EtcdError:
                pass
        self._step_down("shutting down")
