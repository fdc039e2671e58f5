"""etcd identities: every certificate's common name is its etcd user (etcd --client-cert-auth).

Managers get etcd's root role. Each agent gets a role of its own that can write only under its
node's keys and read only what an agent needs, so a compromised host cannot rewrite the cluster.
An agent's CN is "<node id>.<generation>", new at every join: one role per node, one user per
join, and a user retired (a takeover join, `node rm`) is never made again for another certificate.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from shoal.pki import ca as ca_mod
from shoal.pki.names import node_of
from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdAlreadyExists, EtcdClient, EtcdError, EtcdNotFound

log = logging.getLogger("shoal.manager.etcd_users")
ROOT = "root"


def node_role(node_id: str) -> str:
    return f"node-{node_id}"


# What an agent may read besides its own keys: the other nodes (DNS, routes, overlay peers),
# what the leader bound of them (their names, addresses and the only subnets routed to them),
# the placements and overlay addresses DNS may answer with, and the revoked serials. Never
# /shoal/ as a whole: the leader key's lease id, the join tokens and the specs are there.
AGENT_READS = (etcd_keys.NODES, etcd_keys.NODE_IDENT, etcd_keys.PLACED, etcd_keys.IPAM, etcd_keys.REVOKED)


# etcd refuses an auth change made against an auth store that changed meanwhile (another join).
STALE_AUTH = "revision of auth store is old"
AUTH_RETRIES = 20


class EtcdUsers:
    def __init__(self, etcd: EtcdClient):
        self.etcd = etcd
        self._lock = asyncio.Lock()   # joins arrive together; one auth change at a time from here

    async def _retrying(self, change: Callable[[], Awaitable[None]]) -> None:
        delay = 0.02
        for attempt in range(AUTH_RETRIES):
            try:
                async with self._lock:
                    await change()
                return
            except EtcdError as exc:
                if STALE_AUTH not in str(exc) or attempt == AUTH_RETRIES - 1:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _add_user(self, name: str) -> None:
        try:
            await self.etcd.user_add(name)
        except EtcdAlreadyExists:
            pass

    async def bootstrap(self, manager_cn: str) -> bool:
        """Turns etcd auth on, once: root and this manager as root. False when it already was on."""
        try:
            if ROOT in await self.etcd.user_get(manager_cn):
                return False
        except EtcdNotFound:
            pass
        await self._add_user(ROOT)
        await self.etcd.user_grant_role(ROOT, ROOT)
        await self._add_user(manager_cn)
        await self.etcd.user_grant_role(manager_cn, ROOT)
        await self.etcd.auth_enable()
        log.info("etcd authentication enabled; manager %s has the root role", manager_cn)
        return True

    async def ensure(self, common_name: str, role: str) -> None:
        await self._retrying(lambda: self._ensure(common_name, role))

    async def _ensure(self, common_name: str, role: str) -> None:
        if role == ca_mod.ROLE_MANAGER:
            await self._add_user(common_name)
            await self.etcd.user_grant_role(common_name, ROOT)
        elif role == ca_mod.ROLE_AGENT:
            node_id = node_of(common_name)
            name = node_role(node_id)
            try:
                await self.etcd.role_add(name)
            except EtcdAlreadyExists:
                pass
            await self.etcd.role_grant_permission(name, etcd_keys.node_prefix(node_id), prefix=True,
                                                  perm="readwrite")
            for prefix in AGENT_READS:
                await self.etcd.role_grant_permission(name, prefix, prefix=True, perm="read")
            await self._add_user(common_name)
            await self.etcd.user_grant_role(common_name, name)
        # Admins have no etcd identity: they go through the manager's API.

    async def remove_users(self, common_names: Iterable[str]) -> None:
        """The etcd users of retired certificates: their holders reach nothing in etcd any more."""
        for common_name in sorted(set(common_names)):
            await self._retrying(lambda cn=common_name: self._delete(self.etcd.user_delete, cn))

    async def remove_node(self, node_id: str, common_names: Iterable[str]) -> None:
        await self.remove_users(common_names)
        await self._retrying(lambda: self._delete(self.etcd.role_delete, node_role(node_id)))

    @staticmethod
    async def _delete(call, name: str) -> None:
        try:
            await call(name)
        except EtcdNotFound:
            pass
