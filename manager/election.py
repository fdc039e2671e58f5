"""Leader election among managers, on an etcd key under the candidate's lease.

The leader's term is the create revision of the leader key. Every write of the
leader compares it (see Store.fence), so a leader that lost its lease -- paused,
partitioned, or slow -- cannot write anything once another manager has won:
an etcd lease alone does not stop a deposed leader (Jepsen's finding).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable

from protos import etcd_keys
from protos.etcdv3.client import Compare, EtcdClient, EtcdError, EtcdUnavailable, Op

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
        self._lease_deadline = 0.0    # monotonic time our lease surely still holds until

    @property
    def is_leader(self) -> bool:
        # Stop acting as leader before the lease can have expired on the server.
        return self.term > 0 and time.monotonic() < self._lease_deadline

    def _value(self) -> str:
        return json.dumps({"id": self.manager_id, "address": self.address})

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
        while True:
            result = await self.etcd.txn(
                [Compare.create_revision(etcd_keys.LEADER, "==", 0)],
                [Op.put(etcd_keys.LEADER, self._value(), lease=self._lease)],
                [Op.get(etcd_keys.LEADER)],
            )
            if result.succeeded:
                self._lease_deadline = granted_at + self.ttl * 2 / 3
                self.term = result.revision
                self._set_leader(self.manager_id, self.address, self.term)
                self.elected.set()
                log.info("became leader (term %d)", self.term)
                self.on_change()
                await self._lead()
                return
            kvs = result.responses[0] if result.responses else ()
            if kvs:
                doc = json.loads(kvs[0].value)
                self._set_leader(doc.get("id", ""), doc.get("address", ""), kvs[0].create_revision)
            # Followers keep their own lease alive so they can take over at once.
            sent = time.monotonic()
            try:
                await asyncio.wait_for(self.etcd.lease_keepalive_once(self._lease), poll * 2)
                granted_at = sent
            except TimeoutError:
                if time.monotonic() - granted_at > self.ttl:
                    raise EtcdUnavailable("no lease keep-alive answered within the TTL") from None
            await asyncio.sleep(poll)

    async def _lead(self) -> None:
        interval = self.ttl / 3
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            sent = time.monotonic()
            try:
                # One slow call (a connection still re-establishing after an etcd restart) must
                # not stall the heartbeat: give up on it and try again at the next beat.
                await asyncio.wait_for(self.etcd.lease_keepalive_once(self._lease), interval)
            except TimeoutError:
                if time.monotonic() - last_ok > self.ttl:
                    raise EtcdUnavailable("no lease keep-alive answered within the TTL") from None
                continue
            last_ok = sent
            self._lease_deadline = sent + self.ttl * 2 / 3
            kv = await asyncio.wait_for(self.etcd.get(etcd_keys.LEADER), interval)
            if kv is None or kv.create_revision != self.term:
                log.warning("leader key is gone or changed hands; stepping down")
                return

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
        self._lease_deadline = 0.0

    async def resign(self) -> None:
        """On a clean shutdown another manager can take over at once."""
        if self._lease:
            try:
                await self.etcd.lease_revoke(self._lease)
            except EtcdError:
                pass
        self._step_down("shutting down")
