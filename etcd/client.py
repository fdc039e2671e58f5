"""Asyncio-native etcd v3 client speaking etcd's gRPC API directly (grpc.aio).

Why not python-etcd3: Debian's 0.12 ships generated code that no longer loads on
protobuf 7, PyPI's needs the pure-Python protobuf backend, and its watches die
silently when etcd restarts. This client uses stubs generated from a trimmed
copy of etcd's protos (``protos/etcdv3/*.proto``).

Behaviour in brief:

* Every unary call carries a deadline (``timeout``). A call that fails with
  UNAVAILABLE / DEADLINE_EXCEEDED is retried on the next endpoint (round robin);
  while every endpoint refuses connections the passes are repeated with a small
  back-off until ``timeout`` has elapsed, then :class:`EtcdUnavailable` is raised.
  Mutations (put, delete, txn with writes) are only retried when gRPC reports
  that the request never left the client (connection could not be established);
  if a mutation fails after it may have reached a server, the outcome is unknown
  and :class:`EtcdUnavailable` is raised at once instead of applying it twice.
* Other gRPC errors become :class:`EtcdError` carrying etcd's message; the
  ones callers act on have subclasses: :class:`EtcdPermissionDenied` (auth is
  on and the caller's user/roles do not allow the request, for KV, Txn, Lease
  and Watch alike), :class:`EtcdNotFound` (a user, role or lease that does not
  exist; :class:`LeaseNotFound` is one) and :class:`EtcdAlreadyExists` (adding
  a user or role that exists, so callers can be idempotent).
* The Auth API (users, roles, permissions, enabling auth) is here too. Shoal's
  etcd users have no password: with ``--client-cert-auth`` etcd takes the user
  name from the client certificate's CN.
* :meth:`EtcdClient.watch_prefix` never fails silently: a broken stream yields
  :class:`WatchInterrupted` once, reconnects with capped exponential back-off,
  yields :class:`WatchResumed` and continues exactly after the last delivered
  revision. A compacted start revision raises :class:`WatchCompacted`.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import grpc.aio

from shoal.protos.etcdv3 import auth_pb2, kv_pb2, rpc_pb2, rpc_pb2_grpc

__all__ = [
    "Compare",
    "EtcdAlreadyExists",
    "EtcdClient",
    "EtcdError",
    "EtcdNotFound",
    "EtcdPermissionDenied",
    "EtcdUnavailable",
    "Event",
    "KeyPermission",
    "KeyValue",
    "LeaseNotFound",
    "Op",
    "TlsConfig",
    "TxnResult",
    "WatchBatch",
    "WatchCompacted",
    "WatchInterrupted",
    "WatchResumed",
]

T = TypeVar("T")

MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_SEND_MESSAGE_BYTES = 4 * 1024 * 1024
# etcd's server rejects pings more frequent than --grpc-keepalive-min-time (5 s
# by default) and pings without an active stream, so stay above that.
KEEPALIVE_TIME_MS = 10_000
KEEPALIVE_TIMEOUT_MS = 5_000
RETIRE_GRACE = 30.0
WATCH_BACKOFF_START = 0.1
WATCH_BACKOFF_CAP = 2.0
_UNARY_RETRY_BACKOFF_START = 0.05
_UNARY_RETRY_BACKOFF_CAP = 0.5

_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# etcd refuses any request checked against an auth store that changed before it was applied
# (ErrAuthOldRevision); nothing was applied, so every request may be sent again.
_AUTH_STORE_MOVED = "revision of auth store is old"
# Watch errors that no amount of reconnecting will fix.
_WATCH_PERMANENT = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.UNIMPLEMENTED,
)
# gRPC core's wording when a call failed because no connection could be made,
# i.e. the request certainly never reached a server.
_NOT_SENT_MARKERS = (
    "failed to connect to all addresses",
    "dns resolution failed",
    "empty address list",
    "name resolution",
)
# Metadata asking etcd to fail the watch stream when the member loses its leader
# (rpctypes.MetadataRequireLeaderKey in etcd), so a partitioned member cannot
# keep a watch open that never sees events.
_REQUIRE_LEADER = (("hasleader", "true"),)


# --------------------------------------------------------------------------- errors


class EtcdError(Exception):
    """An etcd request failed; ``code`` is the gRPC status code when there is one."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class EtcdUnavailable(EtcdError):
    """No endpoint answered within the timeout (or a mutation's outcome is unknown)."""


class EtcdPermissionDenied(EtcdError):
    """Auth is enabled and the caller's user (its certificate's CN) may not do this:
    its roles grant no such permission on the key(s), or the user does not exist."""


class EtcdNotFound(EtcdError):
    """The named user, role or lease does not exist.

    Caveat (etcd 3.4): auth management requests (user/role add, delete, grant,
    auth disable...) from a caller whose CN is no etcd user also get "user name not
    found", about the caller, not the target; a caller that is a user without the
    root role gets :class:`EtcdPermissionDenied`."""


class EtcdAlreadyExists(EtcdError):
    """The user or role to add already exists."""


class LeaseNotFound(EtcdNotFound):
    """The lease expired, was revoked or never existed."""


class WatchCompacted(EtcdError):
    """The watch's start revision has been compacted away; re-list and re-watch."""

    def __init__(self, compact_revision: int, message: str | None = None) -> None:
        super().__init__(
            message
            or f"required revision has been compacted (compact revision {compact_revision})",
            grpc.StatusCode.OUT_OF_RANGE,
        )
        self.compact_revision = compact_revision


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # "put" | "delete"
    kv: KeyValue  # for delete: value b"", mod_revision = revision of the delete


@dataclass(frozen=True, slots=True)
class WatchBatch:
    events: tuple[Event, ...]
    revision: int  # header revision of the watch response that carried the events


@dataclass(frozen=True, slots=True)
class WatchInterrupted:
    error: str


@dataclass(frozen=True, slots=True)
class WatchResumed:
    revision: int  # the revision the re-created watch starts from (last delivered + 1)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca: bytes
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)  # the private key stays out of reprs


_PERMS = {
    "read": auth_pb2.Permission.READ,
    "write": auth_pb2.Permission.WRITE,
    "readwrite": auth_pb2.Permission.READWRITE,
}
_PERM_NAMES = {v: k for k, v in _PERMS.items()}


@dataclass(frozen=True, slots=True)
class KeyPermission:
    """One permission of a role: ``perm`` on ``[key, range_end)`` (only ``key`` when
    ``range_end`` is empty)."""

    perm: str  # "read" | "write" | "readwrite"
    key: str
    range_end: str

    @property
    def prefix(self) -> bool:
        """True when the range is "every key starting with ``key``" (etcdctl --prefix)."""
        key, range_end = _enc(self.key), _enc(self.range_end)
        if key == b"\0" and range_end == b"\0":
            return True  # the empty prefix: every key
        return bool(key) and range_end == _prefix_end(key)


_CMP_RESULT = {
    "==": rpc_pb2.Compare.EQUAL,
    "!=": rpc_pb2.Compare.NOT_EQUAL,
    "<": rpc_pb2.Compare.LESS,
    ">": rpc_pb2.Compare.GREATER,
}


@dataclass(frozen=True, slots=True)
class Compare:
    """One guard of a transaction; build with the static factory methods."""

    target: str  # "mod" | "create" | "version" | "value"
    key: str
    op: str
    operand: int | bytes

    @staticmethod
    def mod_revision(key: str, op: str, rev: int) -> Compare:
        return Compare._make("mod", key, op, int(rev))

    @staticmethod
    def create_revision(key: str, op: str, rev: int) -> Compare:
        return Compare._make("create", key, op, int(rev))

    @staticmethod
    def version(key: str, op: str, v: int) -> Compare:
        return Compare._make("version", key, op, int(v))

    @staticmethod
    def value(key: str, op: str, value: bytes | str) -> Compare:
        return Compare._make("value", key, op, _to_bytes(value))

    @staticmethod
    def _make(target: str, key: str, op: str, operand: int | bytes) -> Compare:
        if op not in _CMP_RESULT:
            raise ValueError(f"compare op must be one of {sorted(_CMP_RESULT)}, got {op!r}")
        return Compare(target, key, op, operand)

    def to_pb(self) -> rpc_pb2.Compare:
        c = rpc_pb2.Compare(result=_CMP_RESULT[self.op], key=_enc(self.key))
        if self.target == "mod":
            c.target = rpc_pb2.Compare.MOD
            c.mod_revision = self.operand  # type: ignore[assignment]
        elif self.target == "create":
            c.target = rpc_pb2.Compare.CREATE
            c.create_revision = self.operand  # type: ignore[assignment]
        elif self.target == "version":
            c.target = rpc_pb2.Compare.VERSION
            c.version = self.operand  # type: ignore[assignment]
        else:
            c.target = rpc_pb2.Compare.VALUE
            c.value = self.operand  # type: ignore[assignment]
        return c


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a transaction branch; build with the static factory methods."""

    kind: str  # "put" | "delete" | "get"
    key: str
    value: bytes = b""
    lease: int = 0
    prefix: bool = False

    @staticmethod
    def put(key: str, value: bytes | str, lease: int = 0) -> Op:
        return Op("put", key, _to_bytes(value), int(lease))

    @staticmethod
    def delete(key: str, prefix: bool = False) -> Op:
        return Op("delete", key, prefix=prefix)

    @staticmethod
    def get(key: str, prefix: bool = False) -> Op:
        return Op("get", key, prefix=prefix)

    def to_pb(self) -> rpc_pb2.RequestOp:
        if self.kind == "put":
            return rpc_pb2.RequestOp(
                request_put=rpc_pb2.PutRequest(key=_enc(self.key), value=self.value, lease=self.lease)
            )
        key, range_end = _range(self.key, self.prefix)
        if self.kind == "delete":
            return rpc_pb2.RequestOp(
                request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end)
            )
        return rpc_pb2.RequestOp(request_range=_range_request(key, range_end))


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    # one entry per op of the branch taken: get -> tuple[KeyValue, ...],
    # put -> revision (int), delete -> number deleted (int)
    responses: tuple


# --------------------------------------------------------------------------- helpers


def _to_bytes(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _enc(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _dec(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def _prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix"."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"  # empty prefix or all 0xff: every key from `prefix` on


def _range(key: str, prefix: bool) -> tuple[bytes, bytes]:
    k = _enc(key)
    if not prefix:
        return k, b""
    if not k:
        return b"\0", b"\0"  # every key
    return k, _prefix_end(k)


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")
    return name


def _range_request(key: bytes, range_end: bytes) -> rpc_pb2.RangeRequest:
    return rpc_pb2.RangeRequest(
        key=key,
        range_end=range_end,
        sort_order=rpc_pb2.RangeRequest.ASCEND,
        sort_target=rpc_pb2.RangeRequest.KEY,
    )


def _kv(pb: kv_pb2.KeyValue) -> KeyValue:
    return KeyValue(
        key=_dec(pb.key),
        value=pb.value,
        create_revision=pb.create_revision,
        mod_revision=pb.mod_revision,
        version=pb.version,
        lease=pb.lease,
    )


def _event(pb: kv_pb2.Event) -> Event:
    return Event("delete" if pb.type == kv_pb2.Event.DELETE else "put", _kv(pb.kv))


def _not_sent(err: grpc.aio.AioRpcError) -> bool:
    """True when gRPC says the request never left the client (no connection)."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = (err.details() or "").lower()
    return any(marker in details for marker in _NOT_SENT_MARKERS)


def _reraise_unless_channel_closed() -> None:
    """Inside ``except CancelledError``: re-raise when the running task itself is
    being cancelled. grpc.aio also raises CancelledError when a call is cancelled
    locally (e.g. its channel was closed); the caller then handles it instead."""
    task = asyncio.current_task()
    if task is None or task.cancelling():
        raise   # noqa: PLE0704 (called only from inside an `except CancelledError`: re-raises that)


async def _await_connection(channel: grpc.aio.Channel, deadline: float) -> str | None:
    """Wait (until the loop time ``deadline``) while the channel is connecting.

    Returns an error text if it is still connecting at the deadline: the request
    was then certainly never sent. READY and TRANSIENT_FAILURE return None at
    once; in TRANSIENT_FAILURE the RPC itself fails fast with gRPC's detailed
    "failed to connect" error, which ``_not_sent`` recognises.
    """
    loop = asyncio.get_running_loop()
    state = channel.get_state(try_to_connect=True)
    while state in (grpc.ChannelConnectivity.IDLE, grpc.ChannelConnectivity.CONNECTING):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return "could not connect before the deadline"
        try:
            async with asyncio.timeout(remaining):
                await channel.wait_for_state_change(state)
        except TimeoutError:
            return "could not connect before the deadline"
        state = channel.get_state(try_to_connect=True)
    return None


# etcd's auth errors (rpctypes): FAILED_PRECONDITION "etcdserver: user name not
# found" / "role name not found" / "user name already exists" / "role name already exists".
_NOT_FOUND_MARKERS = ("user name not found", "role name not found")


def _map_error(err: grpc.aio.AioRpcError) -> EtcdError:
    return _error_for(err.code(), err.details() or err.code().name)


def _error_for(code: grpc.StatusCode, details: str) -> EtcdError:
    if code in _RETRYABLE:
        return EtcdUnavailable(details, code)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return EtcdPermissionDenied(details, code)
    if code == grpc.StatusCode.NOT_FOUND and "lease not found" in details:
        return LeaseNotFound(details, code)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        if "already exists" in details:
            return EtcdAlreadyExists(details, code)
        if any(marker in details for marker in _NOT_FOUND_MARKERS):
            return EtcdNotFound(details, code)
    return EtcdError(details, code)


def _watch_refused(reason: str) -> EtcdError:
    """The error for a watch etcd cancelled at creation. etcd 3.4 answers a watch the
    user may not read with created + canceled and cancel_reason
    "rpc error: code = PermissionDenied desc = etcdserver: permission denied"."""
    if "permission denied" in reason.lower():
        return EtcdPermissionDenied(
            f"etcd refused the watch: {reason}", grpc.StatusCode.PERMISSION_DENIED
        )
    return EtcdError(f"etcd refused the watch: {reason or 'canceled'}")


@dataclass
class _Endpoint:
    url: str
    target: str
    secure: bool
    channel: grpc.aio.Channel | None = None
    kv: Any = None
    watch: Any = None
    lease: Any = None
    maintenance: Any = None
    auth: Any = None


def _parse_endpoint(url: str, tls: TlsConfig | None) -> _Endpoint:
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"etcd endpoint must be http:// or https://, got {url!r}")
    if not parts.hostname or parts.port is None:
        raise ValueError(f"etcd endpoint needs host and port, got {url!r}")
    if parts.path not in ("", "/"):
        raise ValueError(f"etcd endpoint must not have a path, got {url!r}")
    secure = parts.scheme == "https"
    if secure and tls is None:
        raise ValueError(f"https endpoint {url!r} requires a TlsConfig")
    return _Endpoint(url=url, target=parts.netloc, secure=secure)


def make_channel(target: str, secure: bool, tls: TlsConfig | None) -> grpc.aio.Channel:
    """The single place where gRPC channels to etcd are built."""
    options = [
        ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_SEND_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        # Reconnect quickly once etcd is back (gRPC's default backoff grows to 120 s).
        # Deliberately NOT grpc.min_reconnect_backoff_ms: gRPC core uses it as the
        # minimum *connect timeout* (20 s default); lowering it breaks slow handshakes.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]
    if secure:
        assert tls is not None
        creds = grpc.ssl_channel_credentials(
            root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
        )
        return grpc.aio.secure_channel(target, creds, options=options)
    return grpc.aio.insecure_channel(target, options=options)


# --------------------------------------------------------------------------- client


class EtcdClient:
    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        tls: TlsConfig | None = None,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._tls = tls
        self._retiring: set[asyncio.Task] = set()
        self._timeout = float(timeout)
        self._endpoints = [_parse_endpoint(e, tls) for e in endpoints]
        self._preferred = 0
        self._closed = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(e.url for e in self._endpoints)

    @property
    def timeout(self) -> float:
        return self._timeout

    # -- lifecycle

    async def close(self) -> None:
        self._closed = True
        for task in list(self._retiring):
            task.cancel()
        for ep in self._endpoints:
            channel, ep.channel = ep.channel, None
            ep.kv = ep.watch = ep.lease = ep.maintenance = ep.auth = None
            if channel is not None:
                await channel.close()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def set_tls(self, tls: TlsConfig) -> None:
        """New client credentials (a renewed certificate): new connections use them at once; the old
        channels get RETIRE_GRACE seconds for calls in flight (a watch then resumes on a new channel)."""
        self._tls = tls
        for ep in self._endpoints:
            channel, ep.channel = ep.channel, None
            ep.kv = ep.watch = ep.lease = ep.maintenance = ep.auth = None
            if channel is not None:
                task = asyncio.get_running_loop().create_task(channel.close(grace=RETIRE_GRACE))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)

    # -- plumbing

    def _endpoint(self, index: int) -> _Endpoint:
        if self._closed:
            raise EtcdError("etcd client is closed")
        ep = self._endpoints[index]
        if ep.channel is None:
            ep.channel = make_channel(ep.target, ep.secure, self._tls)
            ep.kv = rpc_pb2_grpc.KVStub(ep.channel)
            ep.watch = rpc_pb2_grpc.WatchStub(ep.channel)
            ep.lease = rpc_pb2_grpc.LeaseStub(ep.channel)
            ep.maintenance = rpc_pb2_grpc.MaintenanceStub(ep.channel)
            ep.auth = rpc_pb2_grpc.AuthStub(ep.channel)
        return ep

    async def _call(
        self, rpc: Callable[[_Endpoint, float], Awaitable[T]], *, idempotent: bool
    ) -> T:
        """Run ``rpc(endpoint, timeout)`` with failover (see the module docstring).

        Each attempt has ``self._timeout`` seconds, spent first on waiting for the
        endpoint's connection (a failure there means nothing was sent, so even a
        mutation may move on to the next endpoint), then on the RPC itself.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        backoff = _UNARY_RETRY_BACKOFF_START
        errors: list[str] = []
        n = len(self._endpoints)
        while True:
            first = self._preferred
            for i in range(n):
                index = (first + i) % n
                ep = self._endpoint(index)
                deadline = loop.time() + self._timeout
                try:
                    connect_error = await _await_connection(ep.channel, deadline)
                    if connect_error is not None:
                        errors.append(f"{ep.url}: {connect_error}")
                        self._preferred = (index + 1) % n
                        continue
                    result = await rpc(ep, max(0.001, deadline - loop.time()))
                except asyncio.CancelledError:
                    _reraise_unless_channel_closed()
                    raise EtcdError(
                        "etcd request cancelled locally"
                        + (" (the client was closed)" if self._closed else "")
                    ) from None
                except grpc.aio.AioRpcError as err:
                    if _AUTH_STORE_MOVED in (err.details() or ""):
                        # Rejected, not applied: an auth change (a user added) landed meanwhile; go again.
                        errors.append(f"{ep.url}: {err.details()}")
                        continue
                    if err.code() not in _RETRYABLE:
                        raise _map_error(err) from None
                    errors.append(f"{ep.url}: {err.code().name}: {err.details()}")
                    self._preferred = (index + 1) % n
                    if not idempotent and not _not_sent(err):
                        raise EtcdUnavailable(
                            f"etcd request failed and may or may not have been applied: {errors[-1]}",
                            err.code(),
                        ) from None
                    continue
                self._preferred = index
                return result
            if loop.time() - started + backoff >= self._timeout:
                raise EtcdUnavailable(
                    f"no etcd endpoint answered within {self._timeout:g}s: " + "; ".join(errors[-n:]),
                    grpc.StatusCode.UNAVAILABLE,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _UNARY_RETRY_BACKOFF_CAP)

    # -- KV

    async def get(self, key: str) -> KeyValue | None:
        req = _range_request(_enc(key), b"")
        resp = await self._call(lambda ep, t, req=req: ep.kv.Range(req, timeout=t), idempotent=True)
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        key, range_end = _range(prefix, True)
        req = _range_request(key, range_end)
        resp = await self._call(lambda ep, t, req=req: ep.kv.Range(req, timeout=t), idempotent=True)
        return [_kv(kv) for kv in resp.kvs], resp.header.revision

    async def get_prefix_iter(self, prefix: str, page: int = 2000) -> tuple[Iterator[KeyValue], int]:
        """get_prefix for large ranges: read in pages of `page` keys, all at the revision of the
        first (one consistent snapshot; no single reply near the message size limit), and handed
        back as an iterator that makes each KeyValue as it is reached: a reader that is done with
        one before taking the next never holds the whole range as Python objects (which, freed
        all at once after the long-lived values were stored among them, fragments the heap)."""
        key, range_end = _range(prefix, True)
        revision = 0
        pages = []
        while True:
            req = _range_request(key, range_end)
            req.limit = page
            req.revision = revision
            resp = await self._call(lambda ep, t, req=req: ep.kv.Range(req, timeout=t), idempotent=True)
            revision = revision or resp.header.revision
            pages.append(resp)
            if not resp.more or not resp.kvs:
                break
            key = resp.kvs[-1].key + b"\0"
        return (_kv(kv) for resp in pages for kv in resp.kvs), revision

    async def put(self, key: str, value: bytes | str, lease: int = 0) -> int:
        req = rpc_pb2.PutRequest(key=_enc(key), value=_to_bytes(value), lease=int(lease))
        resp = await self._call(lambda ep, t: ep.kv.Put(req, timeout=t), idempotent=False)
        return resp.header.revision

    async def delete(self, key: str, prefix: bool = False) -> int:
        k, range_end = _range(key, prefix)
        req = rpc_pb2.DeleteRangeRequest(key=k, range_end=range_end)
        resp = await self._call(
            lambda ep, t: ep.kv.DeleteRange(req, timeout=t), idempotent=False
        )
        return resp.deleted

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op],
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        req = rpc_pb2.TxnRequest(
            compare=[c.to_pb() for c in compare],
            success=[o.to_pb() for o in success],
            failure=[o.to_pb() for o in failure],
        )
        read_only = all(o.kind == "get" for o in (*success, *failure))
        resp = await self._call(lambda ep, t: ep.kv.Txn(req, timeout=t), idempotent=read_only)
        out: list[Any] = []
        for r in resp.responses:
            which = r.WhichOneof("response")
            if which == "response_range":
                out.append(tuple(_kv(kv) for kv in r.response_range.kvs))
            elif which == "response_put":
                out.append(r.response_put.header.revision)
            elif which == "response_delete_range":
                out.append(r.response_delete_range.deleted)
            else:  # nested txn: never produced by Op, keep the raw message
                out.append(r)
        return TxnResult(succeeded=resp.succeeded, revision=resp.header.revision, responses=tuple(out))

    async def compact(self, revision: int, physical: bool = True) -> None:
        """Compact the key-value history up to ``revision`` (etcd KV.Compact)."""
        req = rpc_pb2.CompactionRequest(revision=int(revision), physical=physical)
        await self._call(lambda ep, t: ep.kv.Compact(req, timeout=t), idempotent=True)

    async def status(self) -> rpc_pb2.StatusResponse:
        """Maintenance.Status of whichever endpoint answers (version, leader, db size...)."""
        req = rpc_pb2.StatusRequest()
        return await self._call(
            lambda ep, t: ep.maintenance.Status(req, timeout=t), idempotent=True
        )

    # -- leases

    async def lease_grant(self, ttl: int) -> int:
        req = rpc_pb2.LeaseGrantRequest(TTL=int(ttl))
        # A duplicated grant only leaks a lease that expires by itself: retry freely.
        resp = await self._call(
            lambda ep, t: ep.lease.LeaseGrant(req, timeout=t), idempotent=True
        )
        if resp.error:
            raise EtcdError(resp.error)
        return resp.ID

    async def lease_keepalive_once(self, lease_id: int) -> int:
        req = rpc_pb2.LeaseKeepAliveRequest(ID=int(lease_id))

        async def rpc(ep: _Endpoint, t: float) -> rpc_pb2.LeaseKeepAliveResponse:
            call = ep.lease.LeaseKeepAlive(timeout=t)
            try:
                await call.write(req)
                resp = await call.read()
            finally:
                call.cancel()
            if resp is grpc.aio.EOF:
                raise EtcdError("etcd closed the lease keep-alive stream without answering")
            return resp

        resp = await self._call(rpc, idempotent=True)
        if resp.TTL <= 0:
            raise LeaseNotFound(f"lease {lease_id:#x} expired or not found", grpc.StatusCode.NOT_FOUND)
        return resp.TTL

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease, deleting its keys. Revoking an already gone lease is a no-op."""
        req = rpc_pb2.LeaseRevokeRequest(ID=int(lease_id))
        try:
            await self._call(
                lambda ep, t: ep.lease.LeaseRevoke(req, timeout=t), idempotent=True
            )
        except LeaseNotFound:
            pass

    async def lease_ttl(self, lease_id: int) -> int:
        req = rpc_pb2.LeaseTimeToLiveRequest(ID=int(lease_id))
        try:
            resp = await self._call(
                lambda ep, t: ep.lease.LeaseTimeToLive(req, timeout=t), idempotent=True
            )
        except LeaseNotFound:
            return -1
        return resp.TTL if resp.TTL > 0 else -1

    # -- auth
    #
    # Mutations that fail after they may have reached etcd raise EtcdUnavailable
    # (outcome unknown) like put/delete; re-running one then raises
    # EtcdAlreadyExists / EtcdNotFound if it had been applied. Enabling, disabling
    # and granting are no-ops in etcd when already done, so they are retried freely.

    async def auth_enable(self) -> None:
        """Turn authentication on. etcd requires a user "root" holding the role "root"
        first; after this, every request is checked against its user's roles."""
        req = rpc_pb2.AuthEnableRequest()
        await self._call(lambda ep, t: ep.auth.AuthEnable(req, timeout=t), idempotent=True)

    async def auth_disable(self) -> None:
        """Turn authentication off (needs the root role once auth is on)."""
        req = rpc_pb2.AuthDisableRequest()
        await self._call(lambda ep, t: ep.auth.AuthDisable(req, timeout=t), idempotent=True)

    async def user_add(self, name: str) -> None:
        """Add a user without a password (it authenticates by client certificate CN).
        Raises :class:`EtcdAlreadyExists` if it exists."""
        req = rpc_pb2.AuthUserAddRequest(
            name=_check_name(name, "user"), options=auth_pb2.UserAddOptions(no_password=True)
        )
        await self._call(lambda ep, t: ep.auth.UserAdd(req, timeout=t), idempotent=False)

    async def user_delete(self, name: str) -> None:
        """Delete a user. Raises :class:`EtcdNotFound` if there is no such user."""
        req = rpc_pb2.AuthUserDeleteRequest(name=_check_name(name, "user"))
        await self._call(lambda ep, t: ep.auth.UserDelete(req, timeout=t), idempotent=False)

    async def user_get(self, name: str) -> list[str]:
        """The roles of a user. Raises :class:`EtcdNotFound` if there is no such user."""
        req = rpc_pb2.AuthUserGetRequest(name=_check_name(name, "user"))
        resp = await self._call(lambda ep, t: ep.auth.UserGet(req, timeout=t), idempotent=True)
        return list(resp.roles)

    async def user_list(self) -> list[str]:
        req = rpc_pb2.AuthUserListRequest()
        resp = await self._call(lambda ep, t: ep.auth.UserList(req, timeout=t), idempotent=True)
        return list(resp.users)

    async def user_grant_role(self, user: str, role: str) -> None:
        """Grant ``role`` to ``user`` (a no-op if already granted). The role "root"
        need not be added first; any other role must exist (else :class:`EtcdNotFound`)."""
        req = rpc_pb2.AuthUserGrantRoleRequest(
            user=_check_name(user, "user"), role=_check_name(role, "role")
        )
        await self._call(lambda ep, t: ep.auth.UserGrantRole(req, timeout=t), idempotent=True)

    async def user_revoke_role(self, user: str, role: str) -> None:
        """Revoke ``role`` from ``user``; etcd answers a plain :class:`EtcdError` when
        the role was not granted."""
        req = rpc_pb2.AuthUserRevokeRoleRequest(
            name=_check_name(user, "user"), role=_check_name(role, "role")
        )
        await self._call(lambda ep, t: ep.auth.UserRevokeRole(req, timeout=t), idempotent=False)

    async def role_add(self, name: str) -> None:
        """Add a role. Raises :class:`EtcdAlreadyExists` if it exists."""
        req = rpc_pb2.AuthRoleAddRequest(name=_check_name(name, "role"))
        await self._call(lambda ep, t: ep.auth.RoleAdd(req, timeout=t), idempotent=False)

    async def role_delete(self, name: str) -> None:
        """Delete a role (it is also revoked from every user holding it). Raises
        :class:`EtcdNotFound` if there is no such role."""
        req = rpc_pb2.AuthRoleDeleteRequest(role=_check_name(name, "role"))
        await self._call(lambda ep, t: ep.auth.RoleDelete(req, timeout=t), idempotent=False)

    async def role_get(self, name: str) -> list[KeyPermission]:
        """The permissions of a role. Raises :class:`EtcdNotFound` if there is no such role."""
        req = rpc_pb2.AuthRoleGetRequest(role=_check_name(name, "role"))
        resp = await self._call(lambda ep, t: ep.auth.RoleGet(req, timeout=t), idempotent=True)
        return [
            KeyPermission(_PERM_NAMES.get(p.permType, str(p.permType)), _dec(p.key), _dec(p.range_end))
            for p in resp.perm
        ]

    async def role_list(self) -> list[str]:
        req = rpc_pb2.AuthRoleListRequest()
        resp = await self._call(lambda ep, t: ep.auth.RoleList(req, timeout=t), idempotent=True)
        return list(resp.roles)

    async def role_grant_permission(
        self, role: str, key: str, *, prefix: bool, perm: str
    ) -> None:
        """Grant ``perm`` ("read" | "write" | "readwrite") on ``key`` to ``role``; with
        ``prefix`` on every key starting with ``key`` (as ``etcdctl role grant-permission
        --prefix``). Granting the same range again replaces its permission type."""
        if perm not in _PERMS:
            raise ValueError(f"perm must be one of {sorted(_PERMS)}, got {perm!r}")
        k, range_end = _range(key, prefix)
        if not k:
            raise ValueError("key must not be empty (use prefix=True with \"\" for every key)")
        req = rpc_pb2.AuthRoleGrantPermissionRequest(
            name=_check_name(role, "role"),
            perm=auth_pb2.Permission(permType=_PERMS[perm], key=k, range_end=range_end),
        )
        await self._call(
            lambda ep, t: ep.auth.RoleGrantPermission(req, timeout=t), idempotent=True
        )

    async def role_revoke_permission(self, role: str, key: str, *, prefix: bool) -> None:
        """Revoke the permission granted on exactly this key or prefix; etcd answers a
        plain :class:`EtcdError` when there is none."""
        k, range_end = _range(key, prefix)
        req = rpc_pb2.AuthRoleRevokePermissionRequest(
            role=_check_name(role, "role"), key=k, range_end=range_end
        )
        await self._call(
            lambda ep, t: ep.auth.RoleRevokePermission(req, timeout=t), idempotent=False
        )

    # -- watch

    def watch_prefix(
        self, prefix: str, start_revision: int
    ) -> AsyncIterator[WatchBatch | WatchInterrupted | WatchResumed]:
        """Watch every key under ``prefix`` from ``start_revision`` (inclusive, >= 1).

        Yields :class:`WatchBatch` (events in revision order, each delivered exactly
        once), :class:`WatchInterrupted` once when the stream breaks, then
        :class:`WatchResumed` once when it is re-established. Raises
        :class:`WatchCompacted` when the revision to (re)start from was compacted.
        Close the generator (``aclose()``) or cancel the consuming task to stop.
        """
        if int(start_revision) < 1:
            raise ValueError("start_revision must be >= 1 (use get_prefix()'s revision + 1)")
        return self._watch(prefix, int(start_revision))

    async def _watch(
        self, prefix: str, start_revision: int
    ) -> AsyncIterator[WatchBatch | WatchInterrupted | WatchResumed]:
        key, range_end = _range(prefix, True)
        next_rev = start_revision  # first revision not yet delivered
        interrupted = False
        backoff = WATCH_BACKOFF_START
        index = self._preferred
        n = len(self._endpoints)
        failed_in_round = 0  # endpoints that failed to establish since the last pause
        while True:
            ep = self._endpoint(index)  # raises EtcdError once the client is closed
            call = ep.watch.Watch(metadata=_REQUIRE_LEADER)
            established = False
            error: str
            try:
                create = rpc_pb2.WatchCreateRequest(
                    key=key, range_end=range_end, start_revision=next_rev
                )
                async with asyncio.timeout(self._timeout):
                    await call.write(rpc_pb2.WatchRequest(create_request=create))
                    resp = await call.read()
                if resp is grpc.aio.EOF or not resp.created:
                    raise _WatchBroken("etcd did not acknowledge the watch creation")
                if resp.canceled:
                    if resp.compact_revision:
                        raise WatchCompacted(resp.compact_revision)
                    raise _watch_refused(resp.cancel_reason)
                if interrupted:
                    interrupted = False
                    yield WatchResumed(next_rev)
                established = True
                backoff = WATCH_BACKOFF_START
                self._preferred = index
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        raise _WatchBroken("etcd closed the watch stream")
                    if resp.canceled:
                        if resp.compact_revision:
                            raise WatchCompacted(resp.compact_revision)
                        raise _WatchBroken(
                            f"etcd canceled the watch: {resp.cancel_reason or 'no reason given'}"
                        )
                    if resp.events:
                        events = tuple(
                            _event(e) for e in resp.events if e.kv.mod_revision >= next_rev
                        )
                        if events:
                            next_rev = events[-1].kv.mod_revision + 1
                            yield WatchBatch(events, resp.header.revision)
                    # Responses without events (progress notifications) are ignored:
                    # next_rev only ever moves past revisions actually delivered.
            except asyncio.CancelledError:
                # Either our task is being cancelled (propagate), or gRPC cancelled
                # the call under us because the client's channel was closed.
                _reraise_unless_channel_closed()
                error = f"{ep.url}: watch call cancelled locally"
            except grpc.aio.AioRpcError as err:
                if err.code() in _WATCH_PERMANENT:
                    raise _map_error(err) from None
                error = f"{ep.url}: {err.code().name}: {err.details()}"
            except TimeoutError:
                error = f"{ep.url}: no answer to the watch request within {self._timeout:g}s"
            except _WatchBroken as err:
                error = f"{ep.url}: {err}"
            finally:
                call.cancel()
            if self._closed:
                raise EtcdError(f"etcd client closed while watching ({error})")
            index = (index + 1) % n
            if not established:
                # Could not (re)create the watch here: try the other endpoints
                # right away, pause only after a whole round failed.
                failed_in_round += 1
                if failed_in_round < n:
                    continue
            failed_in_round = 0
            if not interrupted:
                interrupted = True
                yield WatchInterrupted(error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, WATCH_BACKOFF_CAP)


class _WatchBroken(Exception):
    """Internal: the watch stream ended in a way that warrants a reconnect."""
