"""Many datagrams per system call on a UDP socket: Linux's recvmmsg(2) and sendmmsg(2), through
ctypes (the standard library has neither).

The DNS server's UDP thread answers most queries from stored bytes; at that point a system call
per datagram each way is most of its cost. Here one call receives up to BATCH datagrams into fixed
slots, and one call sends the replies, each to the address its query came from. The hot path
touches only memoryviews over the ctypes buffers (no ctypes attribute access per datagram).

`open_batch(sock)` is None where this cannot work (not Linux, no such libc call): the caller
keeps its recvfrom/sendto loop.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import struct
import sys

BATCH = 64
ADDRESS_BYTES = 28              # sizeof(struct sockaddr_in6), the larger of the two families
MSG_WAITFORONE = 0x10000        # recvmmsg: block for the first datagram only
MSG_TRUNC = 0x20


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_IoVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint32)]


_MMSG = ctypes.sizeof(_MMsgHdr)
# Offsets in 32-bit words within one mmsghdr, for the memoryview access of the hot path.
_NAMELEN = _MsgHdr.namelen.offset // 4
_FLAGS = _MsgHdr.flags.offset // 4
_LEN = _MMsgHdr.len.offset // 4
_NAME = _MsgHdr.name.offset // 8    # in 64-bit words


def _libc():
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if not hasattr(libc, "recvmmsg") or not hasattr(libc, "sendmmsg"):
        return None
    for call in (libc.recvmmsg, libc.sendmmsg):
        call.restype = ctypes.c_int
    libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    return libc


def open_batch(sock: socket.socket, slot_bytes: int) -> "BatchSocket | None":
    try:
        libc = _libc()
    except OSError:
        return None
    return BatchSocket(sock, slot_bytes, libc) if libc is not None else None


class BatchSocket:
    """recv() fills slots 0..n-1; datagram(i)/address(i) read them; reply(i, data) queues an
    answer to slot i's sender; send() sends what was queued. One thread uses it."""

    def __init__(self, sock: socket.socket, slot_bytes: int, libc) -> None:
        self.sock, self.slot = sock, slot_bytes
        self._recvmmsg, self._sendmmsg = libc.recvmmsg, libc.sendmmsg
        self._rbuf = ctypes.create_string_buffer(BATCH * slot_bytes)
        self._sbuf = ctypes.create_string_buffer(BATCH * slot_bytes)
        self._names = ctypes.create_string_buffer(BATCH * ADDRESS_BYTES)
        self._riov, self._siov = (_IoVec * BATCH)(), (_IoVec * BATCH)()
        self._rmsgs, self._smsgs = (_MMsgHdr * BATCH)(), (_MMsgHdr * BATCH)()
        rbase, sbase = ctypes.addressof(self._rbuf), ctypes.addressof(self._sbuf)
        self._names_base = ctypes.addressof(self._names)
        for i in range(BATCH):
            self._riov[i].base, self._riov[i].len = rbase + i * slot_bytes, slot_bytes
            self._siov[i].base = sbase + i * slot_bytes
            for msgs, iov in ((self._rmsgs, self._riov), (self._smsgs, self._siov)):
                hdr = msgs[i].hdr
                hdr.name, hdr.namelen = self._names_base + i * ADDRESS_BYTES, ADDRESS_BYTES
                hdr.iov, hdr.iovlen = ctypes.pointer(iov[i]), 1
        self._r = memoryview(self._rbuf).cast("B")
        self._s = memoryview(self._sbuf).cast("B")
        self._rwords = memoryview(self._rmsgs).cast("B").cast("I")
        self._swords = memoryview(self._smsgs).cast("B").cast("I")
        self._squads = memoryview(self._smsgs).cast("B").cast("Q")
        self._siov_quads = memoryview(self._siov).cast("B").cast("Q")
        self._names_view = memoryview(self._names).cast("B")
        self._queued = 0
        self._per_msg = _MMSG // 4

    def recv(self) -> int:
        """Blocks for one datagram, then takes what else is waiting (up to BATCH). Raises OSError."""
        words, per = self._rwords, self._per_msg
        for i in range(BATCH):
            words[i * per + _NAMELEN] = ADDRESS_BYTES   # the kernel wrote the last sender's length
        n = self._recvmmsg(self.sock.fileno(), ctypes.addressof(self._rmsgs), BATCH, MSG_WAITFORONE, None)
        if n < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        if n == 0:
            raise OSError(errno.ESHUTDOWN, "socket shut down")
        return n

    def datagram(self, i: int) -> bytes:
        """Slot i's datagram; one longer than a slot is cut to slot_bytes + 1 so that it still
        reads as too long."""
        base, at = i * self.slot, i * self._per_msg
        if self._rwords[at + _FLAGS] & MSG_TRUNC:
            return bytes(self._r[base:base + self.slot]) + b"\0"
        return bytes(self._r[base:base + self._rwords[at + _LEN]])

    def address(self, i: int):
        """Slot i's sender as socket.recvfrom gives it."""
        raw = bytes(self._names_view[i * ADDRESS_BYTES:(i + 1) * ADDRESS_BYTES])
        family = struct.unpack_from("=H", raw)[0]
        port = struct.unpack_from("!H", raw, 2)[0]
        if family == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
        flowinfo, scope = struct.unpack_from("!I", raw, 4)[0], struct.unpack_from("=I", raw, 24)[0]
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope

    def reply(self, i: int, head: bytes, body: bytes) -> bool:
        """Queues head + body to slot i's sender; False if it does not fit a slot (the caller
        sends that one itself)."""
        size = len(head) + len(body)
        j = self._queued
        if size > self.slot:
            return False
        base = j * self.slot
        self._s[base:base + len(head)] = head
        self._s[base + len(head):base + size] = body
        self._siov_quads[j * 2 + 1] = size
        per = self._per_msg
        self._squads[j * (per // 2) + _NAME] = self._names_base + i * ADDRESS_BYTES
        self._swords[j * per + _NAMELEN] = self._rwords[i * per + _NAMELEN]
        self._queued = j + 1
        return True

    def send(self) -> None:
        """Sends what reply() queued; a datagram the kernel refuses is dropped, as the network may."""
        sent, total = 0, self._queued
        self._queued = 0
        while sent < total:
            n = self._sendmmsg(self.sock.fileno(), ctypes.addressof(self._smsgs) + sent * _MMSG, total - sent, 0)
            if n <= 0:
                sent += 1   # skip the one that failed (unreachable sender, full buffer)
            else:
                sent += n
