"""The value types of shoal.etcd.client's interface, without its protos (issue 15 comparison).

shoal.etcd.client cannot be imported next to aetcd or etcd3aio: all three register etcd's
rpc.proto in protobuf's default descriptor pool ("duplicate symbol 'authpb.UserAddOptions'").
So the adapters carry their own copy of the plain types the tests compare against.
"""
from __future__ import annotations

from dataclasses import dataclass, field

_OPS = ("==", "!=", "<", ">")


class EtcdError(Exception):
    def __init__(self, message: str, code: object = None) -> None:
        super().__init__(message)
        self.code = code


class EtcdUnavailable(EtcdError):
    pass


class EtcdNotFound(EtcdError):
    pass


class LeaseNotFound(EtcdNotFound):
    pass


class WatchCompacted(EtcdError):
    def __init__(self, compact_revision: int, message: str | None = None) -> None:
        super().__init__(message or f"revision compacted (compact_revision={compact_revision})")
        self.compact_revision = compact_revision


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
    type: str
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class WatchBatch:
    events: tuple[Event, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class WatchInterrupted:
    error: str


@dataclass(frozen=True, slots=True)
class WatchResumed:
    revision: int


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca: bytes
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)


def _b(v: bytes | str) -> bytes:
    return v.encode() if isinstance(v, str) else v


@dataclass(frozen=True, slots=True)
class Compare:
    target: str
    key: str
    op: str
    operand: int | bytes

    @staticmethod
    def mod_revision(key: str, op: str, rev: int) -> Compare:
        return Compare._make("mod", key, op, rev)

    @staticmethod
    def create_revision(key: str, op: str, rev: int) -> Compare:
        return Compare._make("create", key, op, rev)

    @staticmethod
    def version(key: str, op: str, v: int) -> Compare:
        return Compare._make("version", key, op, v)

    @staticmethod
    def value(key: str, op: str, value: bytes | str) -> Compare:
        return Compare._make("value", key, op, _b(value))

    @staticmethod
    def _make(target: str, key: str, op: str, operand: int | bytes) -> Compare:
        if op not in _OPS:
            raise ValueError(f"compare op must be one of {_OPS}, not {op!r}")
        return Compare(target, key, op, operand)


@dataclass(frozen=True, slots=True)
class Op:
    kind: str
    key: str
    value: bytes = b""
    lease: int = 0
    prefix: bool = False

    @staticmethod
    def put(key: str, value: bytes | str, lease: int = 0) -> Op:
        return Op("put", key, _b(value), lease)

    @staticmethod
    def delete(key: str, prefix: bool = False) -> Op:
        return Op("delete", key, prefix=prefix)

    @staticmethod
    def get(key: str, prefix: bool = False) -> Op:
        return Op("get", key, prefix=prefix)


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: tuple


def prefix_end(prefix: bytes) -> bytes:
    b = bytearray(prefix)
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        return b"\x00"
    b[-1] += 1
    return bytes(b)


def missing(feature: str, why: str):
    raise NotImplementedError(f"{feature}: {why}")
