"""On the leader: binds each node's identity the first time it is seen (manager/identity.py
decides, this writes). Woken by store changes; only the nodes whose report or binding changed
are looked at, and every node once when this manager becomes the leader."""
from __future__ import annotations

import logging
import time

from shoal.manager import identity
from shoal.manager.state import ClusterState
from shoal.manager.store import NotLeader, Store
from shoal.protos import etcd_keys, node_identity
from shoal.etcd.client import Compare, EtcdError, Op
from shoal.protos.limits import ETCD_TXN_OPS

log = logging.getLogger("shoal.manager.binder")

# A pass is cheap (the unsettled nodes only); this bounds how late a change missed between two
# wake-ups is seen.
SAFETY_PASS_SECONDS = 1.0
# A hostile agent can rewrite its record without end: what is refused is logged once per node
# and reason in this time.
LOG_EVERY_SECONDS = 600.0
MAX_REMEMBERED = 4096
# Writes per transaction: a binding is two puts and two compares (and the fence takes one).
PER_TXN = (ETCD_TXN_OPS - 1) // 2


class Binder:
    def __init__(self, state: ClusterState, store: Store, clock=time.monotonic):
        self.state = state
        self.store = store
        self.clock = clock
        self._term = 0
        self._lost_race = False
        self._logged: dict[tuple[str, str], float] = {}

    async def run(self) -> None:
        while True:
            if not self.state.unsettled or self.store.term() <= 0 or self._lost_race:
                # After a lost race, the watch first brings what the other writer did.
                self._lost_race = False
                await self.store.wait_changed(SAFETY_PASS_SECONDS)
            if not self.store.healthy.is_set():
                continue
            term = self.store.term()
            if term <= 0:
                self._term = 0
                continue
            if term != self._term:
                # A new leader looks at every node once: a binding its predecessor left undone.
                self._term = term
                self.state.unsettled.update(self.state.reported)
            try:
                await self.settle_once()
            except NotLeader:
                log.info("not leader any more; node binding paused")
            except EtcdError as exc:
                log.warning("node binding failed: %s", exc)
                self._lost_race = True

    async def settle_once(self) -> None:
        """Decides for every unsettled node and writes the bindings, many to a transaction: each
        decision sees the ones before it in the pass (a copy of the bindings with them in)."""
        # What is marked meanwhile (our own writes' echoes too) waits for the next pass.
        batch = sorted(self.state.unsettled)
        self.state.unsettled.clear()
        bound = None
        pending: list[tuple[str, identity.Decision]] = []
        try:
            for node_id in batch:
                claim = self.state.reported.get(node_id)
                if claim is None:
                    continue
                decision = identity.decide(node_id, claim, bound or self.state.bound, self.state.identity_policy)
                for why in decision.refused:
                    self._log_refused(node_id, why)
                if decision.ident is None:
                    continue
                if bound is None:
                    bound = self.state.bound.copy()
                bound.put(node_id, decision.ident, decision.revision)
                if decision.first:
                    bound.names[decision.ident.name] = node_id
                pending.append((node_id, decision))
                if len(pending) == PER_TXN:
                    await self._write(pending)
                    pending = []
            if pending:
                await self._write(pending)
        except BaseException:
            self.state.unsettled.update(batch)
            raise

    async def _write(self, decisions: list[tuple[str, identity.Decision]]) -> None:
        compare, puts = [], []
        for node_id, decision in decisions:
            ident = decision.ident
            assert ident is not None
            key = etcd_keys.node_ident(node_id)
            puts.append((key, node_identity.encode(ident)))
            if decision.first:
                name_key = etcd_keys.node_name(ident.name)
                # Both or neither: a name is never held without its node's binding, nor bound twice.
                compare.append(Compare.create_revision(key, "==", 0))
                compare.append(Compare.value(name_key, "==", node_id)
                               if self.state.node_names.get(ident.name) == node_id
                               else Compare.create_revision(name_key, "==", 0))
                puts.append((name_key, node_id))
            else:
                compare.append(Compare.mod_revision(key, "==", decision.revision))
        result = await self.store.txn(compare, [Op.put(k, v) for k, v in puts])
        if not result.succeeded:
            # Someone wrote first (or our view trails etcd): looked at again once the watch brings it.
            self.state.unsettled.update(node_id for node_id, _ in decisions)
            self._lost_race = True
            return
        for k, v in puts:
            self.state.apply(k, v.encode(), result.revision, local=True)
        for node_id, decision in decisions:
            ident = decision.ident
            assert ident is not None
            if decision.first:
                log.info("node %s bound: name %s, hostname %s, address %s, container subnet %s", node_id, ident.name,
                         ident.hostname or "-", ident.address, ident.container_subnet or "none")
            else:
                log.info("node %s: address %s, container subnet %s recorded", node_id, ident.address,
                         ident.container_subnet or "none")

    def _log_refused(self, node_id: str, why: str) -> None:
        now = self.clock()
        last = self._logged.get((node_id, why))
        if last is not None and now - last < LOG_EVERY_SECONDS:
            return
        if len(self._logged) >= MAX_REMEMBERED:
            self._logged.clear()
        self._logged[(node_id, why)] = now
        log.warning("node %s: %s", node_id, why)
