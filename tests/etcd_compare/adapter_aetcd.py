"""shoal.etcd.client's interface over aetcd 1.0 (issue 15): SHOAL_ETCD_CLIENT=aetcd.

Only aetcd's public API is used (aetcd.Client and its methods). Where aetcd has no such feature
the method raises NotImplementedError saying why: that is a measured failure, not a gap in the
adapter. Where aetcd has it with another shape, the adapter converts and nothing more: no retry,
resume or failover logic is added here (that would be our client again).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from urllib.parse import urlsplit

import aetcd
import aetcd.exceptions as aex

from tests.etcd_compare.common import (  # noqa: F401  (re-exported for the test module)
    Compare,
    EtcdError,
    EtcdUnavailable,
    Event,
    KeyValue,
    LeaseNotFound,
    Op,
    TlsConfig,
    TxnResult,
    WatchBatch,
    WatchCompacted,
    WatchInterrupted,
    WatchResumed,
    missing,
    prefix_end,
)

LIB = "aetcd"


def _kv(kv) -> KeyValue:
    return KeyValue(kv.key.decode(), kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _err(e: Exception) -> EtcdError:
    if isinstance(e, (aex.ConnectionFailedError, aex.ConnectionTimeoutError)):
        return EtcdUnavailable(f"{type(e).__name__}: {e}")
    if isinstance(e, aex.RevisionCompactedError):
        return WatchCompacted(e.compacted_revision)
    if "requested lease not found" in str(e):
        return LeaseNotFound(str(e))
    return EtcdError(f"{type(e).__name__}: {e}")


def _parse(endpoint: str) -> tuple[str, int]:
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    u = urlsplit(endpoint)
    if u.scheme not in ("http", "https") or not u.hostname or not u.port:
        raise ValueError(f"bad etcd endpoint {endpoint!r}")
    if u.scheme == "https":
        missing("https endpoint", "aetcd.Client opens only insecure channels (no TLS, no client certificates)")
    return u.hostname, u.port


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0, tls: TlsConfig | None = None) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        if tls is not None:
            missing("TLS", "aetcd.Client opens only insecure channels (no TLS, no client certificates)")
        if len(endpoints) > 1:
            missing("several endpoints", "aetcd.Client takes one host and port: no failover")
        host, port = _parse(endpoints[0])
        # timeout: aetcd passes it as the gRPC deadline of every unary call
        self._c = aetcd.Client(host=host, port=port, timeout=timeout)

    async def close(self) -> None:
        await self._c.close()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, coro):
        try:
            return await coro
        except aex.ClientError as e:
            raise _err(e) from e

    # -- KV

    async def get(self, key: str) -> KeyValue | None:
        r = await self._run(self._c.get(key.encode()))
        return None if r is None else _kv(r)

    async def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        r = await self._run(self._c.get_prefix(prefix.encode()))
        return [_kv(kv) for kv in r.kvs], r.header.revision

    async def get_prefix_iter(self, prefix: str, page: int = 2000) -> tuple[Iterator[KeyValue], int]:
        missing("paged range read at one revision",
                "aetcd's range requests set neither limit nor revision (a TODO in _build_get_range_request)")

    async def put(self, key: str, value: bytes | str, lease: int = 0) -> int:
        v = value.encode() if isinstance(value, str) else value
        r = await self._run(self._c.put(key.encode(), v, lease=lease or None))
        return r.header.revision

    async def delete(self, key: str, prefix: bool = False) -> int:
        if prefix:
            r = await self._run(self._c.delete_prefix(key.encode()))
            return r.deleted
        r = await self._run(self._c.delete(key.encode()))
        return 0 if r is None else r.deleted

    async def txn(self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()) -> TxnResult:
        t = self._c.transactions
        cmps = []
        for c in compares:
            target = {"mod": t.mod, "create": t.create, "version": t.version, "value": t.value}[c.target](
                c.key.encode())
            # aetcd's compares are built by its operators, which mutate the target: apply one only
            if c.op == "==":
                cmps.append(target == c.operand)
            elif c.op == "!=":
                cmps.append(target != c.operand)
            elif c.op == "<":
                cmps.append(target < c.operand)
            else:
                cmps.append(target > c.operand)

        def ops(seq: Sequence[Op]) -> list:
            out = []
            for o in seq:
                k = o.key.encode()
                if o.kind == "put":
                    out.append(aetcd.transactions.Put(k, o.value, lease=o.lease or None))
                elif o.kind == "delete":
                    out.append(aetcd.transactions.Delete(k, range_end=prefix_end(k) if o.prefix else None))
                else:
                    out.append(aetcd.transactions.Get(k, range_end=prefix_end(k) if o.prefix else None))
            return out

        succeeded, responses = await self._run(self._c.transaction(cmps, ops(success), ops(failure)))
        # aetcd returns (succeeded, responses) without the TxnResponse header: the txn's revision is
        # read from the nested responses' headers (etcd fills them), so a branch without ops has none.
        revision = 0
        out: list = []
        for r in responses:
            if isinstance(r, list):  # a range: [(value, rtypes.Get)]
                out.append(tuple(_kv(g) for _, g in r))
                if r:
                    revision = r[0][1].header.revision
            else:
                which = r.WhichOneof("response")
                sub = getattr(r, which)
                revision = sub.header.revision
                out.append(sub.header.revision if which == "response_put" else sub.deleted)
        if not revision:
            missing("txn revision", "aetcd.Client.transaction drops the TxnResponse header (none left for an empty branch)")
        return TxnResult(succeeded, revision, tuple(out))

    async def compact(self, revision: int, physical: bool = True) -> None:
        await self._run(self._c.compact(revision, physical=physical))

    # -- leases

    async def lease_grant(self, ttl: int) -> int:
        lease = await self._run(self._c.lease(ttl))
        return lease.id

    async def lease_keepalive_once(self, lease_id: int) -> int:
        r = await self._run(self._c.refresh_lease(lease_id))
        if r is None or r.TTL <= 0:
            raise LeaseNotFound(f"lease {lease_id:x} not found")
        return r.TTL

    async def lease_revoke(self, lease_id: int) -> None:
        try:
            await self._run(self._c.revoke_lease(lease_id))
        except LeaseNotFound:
            pass

    async def lease_ttl(self, lease_id: int) -> int:
        r = await self._run(self._c.get_lease_info(lease_id, keys=False))
        return r.TTL

    # -- auth (manager/etcd_users.py): aetcd only authenticates with a name and password

    async def _auth_missing(self, *_a, **_k):
        missing("auth API", "aetcd has no user/role/permission calls (only Authenticate at connect)")

    auth_enable = auth_disable = user_add = user_delete = user_get = user_list = _auth_missing
    user_grant_role = user_revoke_role = role_add = role_delete = role_get = role_list = _auth_missing
    role_grant_permission = role_revoke_permission = _auth_missing

    # -- watch

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator:
        if int(start_revision) < 1:
            raise ValueError("start_revision must be >= 1")
        return self._watch(prefix, int(start_revision))

    async def _watch(self, prefix: str, start_revision: int) -> AsyncIterator:
        try:
            w = await self._c.watch_prefix(prefix.encode(), start_revision=start_revision)
        except aex.ClientError as e:
            raise _err(e) from e
        try:
            async for ev in w:
                kv = _kv(ev.kv)
                # aetcd yields single events and drops the response header: the batch revision
                # is the event's own revision (the best the library lets us know).
                yield WatchBatch((Event("put" if ev.kind == "PUT" else "delete", kv),), kv.mod_revision)
        except aex.ClientError as e:
            raise _err(e) from e
        finally:
            try:
                await w.cancel()
            except Exception:  # noqa: BLE001 - the stream may be gone already
                pass
