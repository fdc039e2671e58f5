"""The container records of the cluster state, kept as their encoded bytes.

A decoded record costs ~1.27 KB whatever it holds (the protobuf runtime gives every top-level
message an arena of its own) where its bytes take ~0.3 KB; a record is decoded when it is read
(~1.3 us), so a manager holding 10,000 tasks keeps ~10 MB less (docs/PERFORMANCE.md, benchmark 2).
Readers get a fresh message each time: changing it changes nothing here.

A service's tasks are decoded together, as one ContainerList, so they share one arena (~0.4 KB a
task where one arena each takes 1.27 KB): a pass over a 10,000-task service no longer leaves the
heap ~12 MB larger and fragmented after it.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

from shoal.protos import records
from shoal.protos.shoal.v1 import manager_pb2, types_pb2


class ContainerTable(Mapping):
    """container id -> (Container, mod_revision), with the tasks of each service in the order they
    were first recorded (a service's tasks without a scan of every record)."""

    def __init__(self) -> None:
        # The record's bytes followed by its mod_revision in 8 bytes: one object per record, not
        # a tuple and an int besides (~90 bytes a record).
        self._raw: dict[str, bytes] = {}
        self._by_service: dict[str, dict[str, None]] = {}

    def __getitem__(self, cid: str) -> tuple[types_pb2.Container, int]:
        raw = self._raw[cid]
        return _decode(raw), _revision(raw)

    def __contains__(self, cid: object) -> bool:
        return cid in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def records(self) -> Iterator[types_pb2.Container]:
        """Every record, decoded one at a time."""
        for raw in list(self._raw.values()):
            yield _decode(raw)

    def put(self, cid: str, value: bytes, mod_revision: int, service_id: str | None = None) -> None:
        """`value` as stored in etcd (binary, or the JSON of older versions: kept as binary).
        `service_id`: the record's, when the caller knows it (saves a decode)."""
        message = None
        if records.is_json(value):
            message = records.decode(types_pb2.Container, value)
            value = records.encode(message)
        if service_id is None:
            service_id = (message or records.decode(types_pb2.Container, value)).service_id
        self._unindex(cid, keep=service_id)
        self._raw[cid] = value + mod_revision.to_bytes(_REV_BYTES, "big")
        if service_id:
            # Same service: replaced in place, so a service's tasks keep their order.
            self._by_service.setdefault(service_id, {})[cid] = None

    def pop(self, cid: str) -> None:
        self._unindex(cid)
        self._raw.pop(cid, None)

    def _unindex(self, cid: str, keep: str = "") -> None:
        old = self._raw.get(cid)
        if old is None or (keep and cid in self._by_service.get(keep, ())):
            return      # new, or staying in its service (a task is indexed under one service only)
        old_service = _decode(old).service_id
        if old_service and old_service != keep:
            tasks = self._by_service.get(old_service, {})
            tasks.pop(cid, None)
            if not tasks:
                self._by_service.pop(old_service, None)

    def tasks_of(self, service_id: str) -> list[types_pb2.Container]:
        raw = self._raw
        return decode_many([raw[cid] for cid in self._by_service.get(service_id, ())])

    def many(self, cids) -> list[types_pb2.Container]:
        """The records of those of `cids` still here, in that order, decoded together."""
        raw = self._raw
        return decode_many([raw[cid] for cid in cids if cid in raw])

    def service_ids(self) -> list[str]:
        return list(self._by_service)


def _length_prefix(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_REV_BYTES = 8
_CONTAINERS_FIELD = b"\x0a"     # ContainerList.containers: field 1, length-delimited


def _decode(stored: bytes) -> types_pb2.Container:
    return types_pb2.Container.FromString(memoryview(stored)[:-_REV_BYTES])


def _revision(stored: bytes) -> int:
    return int.from_bytes(stored[-_REV_BYTES:], "big")


def decode_many(stored: list[bytes]) -> list[types_pb2.Container]:
    """Records as this table stores them, decoded in one parse (one arena), in order."""
    if not stored:
        return []
    blob = b"".join(_CONTAINERS_FIELD + _length_prefix(len(raw) - _REV_BYTES) + memoryview(raw)[:-_REV_BYTES]
                    for raw in stored)
    return list(manager_pb2.ContainerList.FromString(blob).containers)
