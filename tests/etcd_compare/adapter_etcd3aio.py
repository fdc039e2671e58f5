"""shoal.etcd.client's interface over etcd3aio 0.3 (issue 15): SHOAL_ETCD_CLIENT=etcd3aio.

Only etcd3aio's public API is used (Etcd3Client and its kv/lease/watch/auth services, and the
protobuf types it ships for txn compares and ops). Where etcd3aio has no such feature the method
raises NotImplementedError saying why: a measured failure. No retry, resume or failover logic is
added here (that would be our client again); only shapes are converted.
"""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

# etcd3aio puts its proto folder on sys.path and imports the top-level package `etcd.api...`.
# A Shoal checkout has a regular package `etcd/` at its root (on sys.path through the .pth line
# and pytest's rootdir), which wins over etcd3aio's namespace package: `import etcd3aio` fails
# with "No module named 'etcd.api'". Measured; worked around here by hiding the checkout root
# for the duration of the import.
_hidden = [p for p in sys.path if (Path(p or ".") / "etcd" / "__init__.py").exists()]
_mods = {k: v for k, v in sys.modules.items() if k == "etcd" or k.startswith("etcd.")}
for p in _hidden:
    sys.path.remove(p)
for k in _mods:
    del sys.modules[k]
try:
    import etcd3aio
    from etcd3aio import _protobuf as pb
    from etcd3aio.kv import KVService, prefix_range_end
finally:
    sys.path[1:1] = _hidden

import grpc  # noqa: E402

from tests.etcd_compare.common import (  # noqa: E402,F401  (re-exported for the test module)
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
)

LIB = "etcd3aio"
_RESULT = {"==": pb.Compare.EQUAL, "!=": pb.Compare.NOT_EQUAL, "<": pb.Compare.LESS, ">": pb.Compare.GREATER}


def _kv(kv) -> KeyValue:
    return KeyValue(kv.key.decode(), kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _err(e: BaseException) -> BaseException:
    if isinstance(e, etcd3aio.EtcdConnectionError | etcd3aio.EtcdTransientError | TimeoutError):
        return EtcdUnavailable(f"{type(e).__name__}: {e}")
    if isinstance(e, grpc.aio.AioRpcError):  # raw, from the calls etcd3aio does not wrap (keep_alive)
        if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return EtcdUnavailable(f"{e.code().name}: {e.details()}", e.code())
        if "requested lease not found" in (e.details() or ""):
            return LeaseNotFound(e.details())
        return EtcdError(f"{e.code().name}: {e.details()}", e.code())
    if isinstance(e, etcd3aio.EtcdError):
        return EtcdError(f"{type(e).__name__}: {e}")
    return e


def _target(endpoint: str, secure: bool) -> str:
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    u = urlsplit(endpoint)
    if u.scheme not in ("http", "https") or not u.hostname or not u.port:
        raise ValueError(f"bad etcd endpoint {endpoint!r}")
    if u.scheme == "https" and not secure:
        raise ValueError("https endpoint needs a TlsConfig")
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    return f"{host}:{u.port}"


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0, tls: TlsConfig | None = None) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self._timeout = float(timeout)
        targets = [_target(e, tls is not None) for e in endpoints]
        conn = {}
        if tls is not None:
            conn = {"ca_cert": tls.ca, "cert_chain": tls.cert, "cert_key": tls.key}
        # Several endpoints: etcd3aio builds one channel "ipv4:a,b" with gRPC's round_robin policy.
        # tls_server_name: etcd3aio needs it with the ipv4: target (its docstring says so).
        self._c = etcd3aio.Etcd3Client(targets, tls_server_name="localhost" if tls else None, **conn)
        self._connected = False

    async def _client(self) -> etcd3aio.Etcd3Client:
        if not self._connected:
            await self._c.connect()
            self._connected = True
        if self._c.kv is None:
            raise EtcdError("etcd client closed")
        return self._c

    async def close(self) -> None:
        await self._c.close()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, make):
        c = await self._client()
        try:
            return await make(c)
        except (etcd3aio.EtcdError, grpc.aio.AioRpcError, TimeoutError) as e:
            raise _err(e) from e

    # -- KV

    async def get(self, key: str) -> KeyValue | None:
        r = await self._run(lambda c: c.kv.get(key, timeout=self._timeout))
        return _kv(r.kvs[0]) if r.kvs else None

    async def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        r = await self._run(lambda c: c.kv.get(prefix, prefix_range_end(prefix), timeout=self._timeout))
        return [_kv(kv) for kv in r.kvs], r.header.revision

    async def get_prefix_iter(self, prefix: str, page: int = 2000) -> tuple[Iterator[KeyValue], int]:
        # The library has limit and revision; the paging loop is the caller's (ours, here).
        end = prefix_range_end(prefix)
        r = await self._run(lambda c: c.kv.get(prefix, end, limit=page, timeout=self._timeout))
        rev, kvs = r.header.revision, [_kv(kv) for kv in r.kvs]
        while r.more:
            start = r.kvs[-1].key + b"\x00"
            r = await self._run(lambda c, s=start: c.kv.get(s, end, revision=rev, limit=page, timeout=self._timeout))
            kvs += [_kv(kv) for kv in r.kvs]
        return iter(kvs), rev

    async def put(self, key: str, value: bytes | str, lease: int = 0) -> int:
        r = await self._run(lambda c: c.kv.put(key, value, lease=lease, timeout=self._timeout))
        return r.header.revision

    async def delete(self, key: str, prefix: bool = False) -> int:
        end = prefix_range_end(key) if prefix else None
        r = await self._run(lambda c: c.kv.delete(key, end, timeout=self._timeout))
        return r.deleted

    @staticmethod
    def _cmp(c: Compare):
        if c.target == "value":
            return KVService.txn_compare_value(c.key, c.operand, result=_RESULT[c.op])
        if c.target == "version":
            return KVService.txn_compare_version(c.key, c.operand, result=_RESULT[c.op])
        if c.target == "create":
            return KVService.txn_compare_create_revision(c.key, c.operand, result=_RESULT[c.op])
        # etcd3aio has no txn_compare_mod_revision helper: its shipped protobuf Compare is used.
        return pb.Compare(key=c.key.encode(), target=pb.Compare.MOD, result=_RESULT[c.op], mod_revision=c.operand)

    @staticmethod
    def _op(o: Op):
        end = prefix_range_end(o.key) if o.prefix else None
        if o.kind == "put":
            return KVService.txn_op_put(o.key, o.value, lease=o.lease)
        if o.kind == "delete":
            return KVService.txn_op_delete(o.key, range_end=end)
        return KVService.txn_op_get(o.key, range_end=end)

    async def txn(self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()) -> TxnResult:
        cmps = [self._cmp(c) for c in compares]
        r = await self._run(lambda c: c.kv.txn(cmps, [self._op(o) for o in success], [self._op(o) for o in failure],
                                               timeout=self._timeout))
        out: list = []
        for resp in r.responses:
            which = resp.WhichOneof("response")
            if which == "response_put":
                out.append(r.header.revision)
            elif which == "response_delete_range":
                out.append(resp.response_delete_range.deleted)
            else:
                out.append(tuple(_kv(kv) for kv in resp.response_range.kvs))
        return TxnResult(r.succeeded, r.header.revision, tuple(out))

    async def compact(self, revision: int, physical: bool = True) -> None:
        await self._run(lambda c: c.kv.compact(revision, physical=physical, timeout=self._timeout))

    async def status(self):
        return await self._run(lambda c: c.maintenance.status(timeout=self._timeout))

    # -- leases

    async def lease_grant(self, ttl: int) -> int:
        r = await self._run(lambda c: c.lease.grant(ttl, timeout=self._timeout))
        return r.ID

    async def lease_keepalive_once(self, lease_id: int) -> int:
        async def once(c):
            # etcd3aio's keep_alive() is a raw stream call without a deadline (none can be passed)
            call = c.lease.keep_alive(lease_id)
            try:
                async for resp in call:
                    return resp.TTL
                return 0
            finally:
                call.cancel()

        ttl = await self._run(once)
        if ttl <= 0:
            raise LeaseNotFound(f"lease {lease_id:x} not found")
        return ttl

    async def lease_revoke(self, lease_id: int) -> None:
        try:
            await self._run(lambda c: c.lease.revoke(lease_id, timeout=self._timeout))
        except LeaseNotFound:
            pass

    async def lease_ttl(self, lease_id: int) -> int:
        r = await self._run(lambda c: c.lease.time_to_live(lease_id, timeout=self._timeout))
        return r.TTL

    # -- auth (what manager/etcd_users.py calls)

    async def auth_enable(self) -> None:
        await self._run(lambda c: c.auth.auth_enable(timeout=self._timeout))

    async def auth_disable(self) -> None:
        await self._run(lambda c: c.auth.auth_disable(timeout=self._timeout))

    async def user_add(self, name: str) -> None:
        await self._run(lambda c: c.auth.user_add(name, no_password=True, timeout=self._timeout))

    async def user_delete(self, name: str) -> None:
        await self._run(lambda c: c.auth.user_delete(name, timeout=self._timeout))

    async def user_get(self, name: str) -> list[str]:
        return list((await self._run(lambda c: c.auth.user_get(name, timeout=self._timeout))).roles)

    async def user_list(self) -> list[str]:
        return list((await self._run(lambda c: c.auth.user_list(timeout=self._timeout))).users)

    async def user_grant_role(self, user: str, role: str) -> None:
        await self._run(lambda c: c.auth.user_grant_role(user, role, timeout=self._timeout))

    async def user_revoke_role(self, user: str, role: str) -> None:
        await self._run(lambda c: c.auth.user_revoke_role(user, role, timeout=self._timeout))

    async def role_add(self, name: str) -> None:
        await self._run(lambda c: c.auth.role_add(name, timeout=self._timeout))

    async def role_delete(self, name: str) -> None:
        await self._run(lambda c: c.auth.role_delete(name, timeout=self._timeout))

    async def role_list(self) -> list[str]:
        return list((await self._run(lambda c: c.auth.role_list(timeout=self._timeout))).roles)

    async def role_grant_permission(self, role: str, key: str, *, prefix: bool, perm: str = "readwrite") -> None:
        t = {"read": etcd3aio.PermissionType.READ, "write": etcd3aio.PermissionType.WRITE,
             "readwrite": etcd3aio.PermissionType.READWRITE}[perm]
        end = prefix_range_end(key) if prefix else None
        await self._run(lambda c: c.auth.role_grant_permission(role, key, end, perm_type=t, timeout=self._timeout))

    async def role_revoke_permission(self, role: str, key: str, *, prefix: bool) -> None:
        end = prefix_range_end(key) if prefix else None
        await self._run(lambda c: c.auth.role_revoke_permission(role, key, end, timeout=self._timeout))

    # -- watch

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator:
        if int(start_revision) < 1:
            raise ValueError("start_revision must be >= 1")
        return self._watch(prefix, int(start_revision))

    async def _watch(self, prefix: str, start_revision: int) -> AsyncIterator:
        c = await self._client()
        # etcd3aio's watch reconnects by itself on UNAVAILABLE / DEADLINE_EXCEEDED, silently (a log
        # line): there is no WatchInterrupted / WatchResumed to pass on.
        gen = c.watch.watch(prefix, prefix_range_end(prefix), start_revision=start_revision)
        try:
            async for resp in gen:
                if resp.compact_revision:
                    raise WatchCompacted(resp.compact_revision)
                if resp.events:
                    yield WatchBatch(tuple(
                        Event("put" if e.type == 0 else "delete", _kv(e.kv)) for e in resp.events
                    ), resp.header.revision)
        except (etcd3aio.EtcdError, grpc.aio.AioRpcError) as e:
            raise _err(e) from e
        finally:
            await gen.aclose()
