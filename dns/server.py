"""Serves a :class:`~shoal.dns.zone.Zone` over UDP and TCP, and forwards other names upstream.

Like Docker's embedded resolver: containers ask the agent's address, names of the
cluster are answered from the zone (authoritative, AA set), other names with a dot
are relayed to the configured upstream resolvers.  dnslib is used for the wire
format only; I/O is asyncio but for the UDP socket, which a thread of its own reads
(the fast path below is answered there; everything else is handed to the event loop).

* **Queries.**  Only opcode QUERY with exactly one question (no answer or
  authority records, at most one additional record: the EDNS0 OPT) is answered.
  A message too short for a header, or a response (QR set), is dropped; one whose
  header parses but whose body does not (or breaks those rules, or is over 4096
  bytes) gets FORMERR: both count in ``stats["malformed"]``.  A well-formed
  message of another opcode gets NOTIMP; a class other than IN gets REFUSED.
  Nothing a client sends stops the server or affects the next message.
* **EDNS0.**  A query with an OPT record gets one back advertising
  ``max_edns_payload``; an OPT version other than 0 gets BADVERS.  The UDP size
  limit of a response is ``max_udp_payload`` without EDNS0, else the client's
  advertised size clamped to [512, ``max_edns_payload``].
* **Truncation.**  A UDP response over the limit is replaced by header + question
  (+ OPT) with TC set; over TCP the whole answer is sent.  Past 65535 bytes, an
  A/AAAA answer keeps the records that fit; other answers (SRV) keep the records
  that fit in 16383 bytes (dnslib cannot compress names beyond that offset).
* **TCP.**  2-byte length framing, several queries per connection, answered as
  they complete (forwarded ones may come back out of order, matched by ID, as
  RFC 7766 allows; at most 32 in flight per connection); at most
  ``max_tcp_clients`` connections (more are closed at once); a connection that
  sends no complete message within ``tcp_idle_timeout`` is closed.
* **Forwarding.**  Out-of-zone names go to the upstreams in order, each over UDP
  from a fresh socket with a random ID (so concurrent queries never mix), retried
  over TCP when the reply has TC, each attempt within ``upstream_timeout``.  A
  reply counts only if its ID, QR and question match.  SERVFAIL/REFUSED from an
  upstream moves on to the next one (relayed if no later one answers); a
  timeout or connection error moves on too; when every upstream failed the
  client gets SERVFAIL.  The upstream's reply is relayed with the client's ID.
  No upstreams configured: REFUSED.  At most 512 forwards are in flight
  (beyond that: SERVFAIL).
* **Encoding and caching.**  Plain A/AAAA answers are packed directly (records
  pointing at the question name), other answers with dnslib.  Encoded answers of
  at most ``ROTATION_CACHE_MAX`` records are cached per (question, EDNS, RD,
  Answer object), and the cache is dropped when ``zone.generation`` moves: the
  zone hands back the same Answer object for the same rotation step, so
  round-robin answers are cached per step.
* **Fast path.**  A query whose bytes (all but the ID, and the transport) equal
  an earlier in-zone query's gets that query's response with its own ID, without
  being parsed: the responses of every rotation step are learnt as the zone gives
  them, until the first step comes round again; from then on the server rotates
  through them itself.  Dropped, like the cache, when ``zone.generation`` moves.
  Over UDP this is served by the socket's thread without the event loop; at most
  ``MAX_PENDING_UDP`` other UDP queries wait for the loop, more are dropped.
* **Privacy.**  Query names are logged at DEBUG only.

``stats``: ``queries`` (messages received), ``answered`` (answered from the zone,
NOERROR or NXDOMAIN), ``nxdomain``, ``forwarded`` (queries relayed upstream),
``forward_failures`` (forwards that ended in our SERVFAIL), ``malformed``,
``truncated`` (UDP responses sent with TC), ``refused``, ``tcp_rejected``
(connections over ``max_tcp_clients``), ``dropped`` (UDP queries left unanswered because
``MAX_PENDING_UDP`` were already waiting for the event loop).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import re
import secrets
import socket
import struct
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

from dnslib import AAAA, CLASS, NS, QTYPE, RR, SOA, SRV, TXT, A, DNSHeader, DNSQuestion, DNSRecord

from shoal.dns.batch_udp import BatchSocket, open_batch
from shoal.dns.zone import ROTATION_CACHE_MAX, Answer, Record, Zone

__all__ = ["DnsServer"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
_RR_HEAD = struct.Struct("!HHHIH")      # owner (a compression pointer), type, class, ttl, rdlength
MAX_MESSAGE = 65535
DNSLIB_MAX = 0x3FFF     # dnslib's name compression breaks for names stored past this offset
MAX_QUERY = 4096       # bytes; a real query (one name, an OPT) is far smaller
MAX_TCP_PIPELINE = 32
MAX_INFLIGHT_FORWARDS = 512
CACHE_ENTRIES = 4096

# rcodes
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
_RCODES = {"NOERROR": NOERROR, "FORMERR": FORMERR, "SERVFAIL": SERVFAIL, "NXDOMAIN": NXDOMAIN,
           "NOTIMP": NOTIMP, "REFUSED": REFUSED}
BADVERS = 16
OPT = 41
# header flag bits
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080

_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+")
_STAT_KEYS = ("queries", "answered", "nxdomain", "forwarded", "forward_failures", "malformed",
              "truncated", "refused", "tcp_rejected", "dropped")
_FAST_KEYS = ("answered", "nxdomain", "truncated", "dropped")
# UDP queries handed from the reading thread to the event loop and not yet handled: past this,
# more are dropped (a flood of names nobody asked before must not grow a queue without bound).
MAX_PENDING_UDP = 1024
RECV_BYTES = MAX_MESSAGE


class _Query:
    """What the server needs of a parsed query."""

    __slots__ = ("id", "flags", "question", "labels", "qname", "qtype", "qclass", "edns", "limit")

    def __init__(self, qid: int, flags: int, question: bytes, labels: tuple[bytes, ...], qname: str,
                 qtype: int, qclass: int, edns: bool, limit: int) -> None:
        self.id = qid
        self.flags = flags
        self.question = question      # the raw question section, as the client sent it
        self.labels = labels          # the question name's labels, case kept
        self.qname = qname            # presentation form for the zone
        self.qtype = qtype
        self.qclass = qclass
        self.edns = edns
        self.limit = limit            # UDP payload limit for the response


class _Malformed(Exception):
    pass


def _question_end(data: bytes) -> int:
    """Offset just past the first question (name, type, class) of a message."""
    offset = 12
    while True:
        if offset >= len(data):
            raise _Malformed("question name runs past the message")
        length = data[offset]
        if length & 0xC0:
            raise _Malformed("compressed or bad label in the question")
        offset += 1 + length
        if length == 0:
            break
    offset += 4
    if offset > len(data):
        raise _Malformed("question runs past the message")
    return offset


def _presentation(labels: tuple[bytes, ...]) -> str:
    """The name as text for the zone; bytes a zone name cannot hold are escaped (\\DDD),
    so a label like b"web.3" can never pass for the two labels web and 3."""
    parts = []
    for label in labels:
        if _PLAIN_LABEL.fullmatch(label):
            parts.append(label.decode("ascii"))
        else:
            parts.append("".join(chr(b) if _PLAIN_LABEL.fullmatch(bytes((b,))) else f"\\{b:03d}" for b in label))
    return ".".join(parts) + "."


def _opt(payload: int, ext_rcode: int = 0) -> bytes:
    return b"\x00" + struct.pack("!HHIH", OPT, payload, ext_rcode << 24, 0)


def _size(record: Record) -> int:
    """An upper bound of a record's size on the wire (uncompressed names)."""
    data = record.data
    if isinstance(data, tuple):
        rdata = sum(len(x) + 2 if isinstance(x, str) else 4 for x in data)
    else:
        rdata = len(data) + 2
    return len(record.name) + 2 + 10 + rdata


class _UpstreamProtocol(asyncio.DatagramProtocol):
    """One forwarded query's socket: resolves the future with the first matching reply."""

    def __init__(self, future: asyncio.Future[bytes], accept: Any) -> None:
        self.future = future
        self.accept = accept

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.future.done() and self.accept(data):
            self.future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.future.done():
            self.future.set_exception(exc or ConnectionError("upstream socket closed"))


class _Replies:
    """The responses (ID bytes cut off) one query got, one per rotation step of its answer."""

    __slots__ = ("answers", "wires", "complete", "next", "nxdomain", "truncated")

    def __init__(self, answer: Answer, response: bytes, udp: bool) -> None:
        self.answers = [answer]              # kept alive: the zone's objects are compared by identity
        self.wires = [response[2:]]
        self.complete = False
        self.next = 0
        self.nxdomain = answer.rcode == "NXDOMAIN"
        self.truncated = udp and bool(response[2] & 0x02)

    def add(self, answer: Answer, response: bytes) -> None:
        if answer is self.answers[0]:
            # The zone is back at the first step: the cycle is known; it just served step 0.
            self.complete = True
            self.next = 1
        elif len(self.wires) < ROTATION_CACHE_MAX:
            self.answers.append(answer)
            self.wires.append(response[2:])


class DnsServer:
    def __init__(self, zone: Zone, *, upstreams: Sequence[tuple[str, int]] = (), upstream_timeout: float = 2.0,
                 max_udp_payload: int = 512, max_tcp_clients: int = 256, tcp_idle_timeout: float = 10.0,
                 max_edns_payload: int = 1232) -> None:
        for host, port in upstreams:
            ipaddress.ip_address(host)           # an IP literal: resolving it would need DNS
            if not 0 < int(port) < 65536:
                raise ValueError(f"invalid upstream port {port!r}")
        if not 512 <= max_udp_payload <= MAX_MESSAGE or not 512 <= max_edns_payload <= MAX_MESSAGE:
            raise ValueError("UDP payload limits must be within [512, 65535]")
        self.zone = zone
        self.upstreams = tuple((str(h), int(p)) for h, p in upstreams)
        self.upstream_timeout = upstream_timeout
        self.max_udp_payload = max_udp_payload
        self.max_edns_payload = max_edns_payload
        self.max_tcp_clients = max_tcp_clients
        self.tcp_idle_timeout = tcp_idle_timeout
        self._stats: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)        # the event loop's counts
        self._fast_stats: dict[str, int] = dict.fromkeys(_FAST_KEYS, 0)   # the UDP thread's
        self._ra = RA if self.upstreams else 0
        self._udp: socket.socket | None = None
        self._udp_thread: threading.Thread | None = None
        self._handed, self._taken = 0, 0     # UDP queries given to the loop / handled there
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight = 0
        self._cache: dict[tuple, tuple[Answer, bytes]] = {}
        self._cache_generation = -1
        # The fast path: whole responses by the query's bytes (all but its ID), see _learn.
        self._replies: dict[bytes, _Replies] = {}
        self._udp_replies: dict[bytes, _Replies] = {}   # the UDP ones again, by data[2:] (the thread's)

    # --------------------------------------------------------------- lifecycle

    @property
    def stats(self) -> dict[str, int]:
        """The counters (see the module's doc), summed over the event loop and the UDP thread."""
        merged = dict(self._stats)
        for key, value in self._fast_stats.items():
            merged[key] += value
        # Every datagram the thread answered or dropped was a query it received.
        merged["queries"] += self._fast_stats["answered"] + self._fast_stats["dropped"]
        return merged

    async def start(self, host: str, port: int) -> tuple[int, int]:
        """Binds UDP and TCP on host:port (port 0: one ephemeral port free for both).
        Returns (udp_port, tcp_port)."""
        if self._udp is not None:
            raise RuntimeError("DNS server already started")
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        attempts = 32 if port == 0 else 1
        for attempt in range(attempts):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((host, port))
                udp_port = udp.getsockname()[1]
                tcp = await asyncio.start_server(self._on_tcp, host, udp_port, reuse_address=True,
                                                 limit=MAX_MESSAGE + 2)
            except OSError:
                udp.close()
                if attempt == attempts - 1:
                    raise
                continue
            self._udp, self._tcp = udp, tcp
            self._udp_thread = threading.Thread(target=self._read_udp, args=(udp, loop),
                                                name=f"dns-udp-{udp_port}", daemon=True)
            self._udp_thread.start()
            tcp_port = tcp.sockets[0].getsockname()[1]
            log.info("dns: serving %s on %s port %d (udp+tcp), %d upstream(s)",
                     self.zone.domain, host, udp_port, len(self.upstreams))
            return udp_port, tcp_port
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        udp, tcp, thread = self._udp, self._tcp, self._udp_thread
        self._udp = self._tcp = self._udp_thread = None
        if udp is not None:
            with contextlib.suppress(OSError):
                udp.shutdown(socket.SHUT_RDWR)       # wakes the thread out of recvfrom
            if thread is not None:
                await asyncio.to_thread(thread.join, 5)
            udp.close()
        if tcp is not None:
            tcp.close()
        pending = list(self._connections) + list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if tcp is not None:
            with contextlib.suppress(Exception):
                await tcp.wait_closed()

    # ------------------------------------------------------------------ parsing

    def _handle(self, data: bytes, udp: bool) -> bytes | Coroutine[Any, Any, bytes] | None:
        """A response, a coroutine that makes one (forwarding), or None (drop)."""
        self._stats["queries"] += 1
        if len(data) < 12:
            self._stats["malformed"] += 1
            return None
        if self._cache_generation != self.zone.generation:
            self._cache.clear()
            self._replies.clear()
            self._udp_replies.clear()
            self._cache_generation = self.zone.generation
        # Fast path: the same bytes as an earlier in-zone query (but the ID) get the same reply,
        # step by step through the zone's rotation, without parsing anything.
        key = (b"u" if udp else b"t") + data[2:]
        replies = self._replies.get(key)
        if replies is not None and replies.complete:
            wire = replies.wires[replies.next % len(replies.wires)]
            replies.next += 1
            self._stats["answered"] += 1
            if replies.nxdomain:
                self._stats["nxdomain"] += 1
            if replies.truncated:
                self._stats["truncated"] += 1
            return data[:2] + wire
        qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
        if flags & QR:
            self._stats["malformed"] += 1              # a response: never answer one (no loops)
            return None
        try:
            # Bounds before dnslib sees it: a query is small and has one question, and
            # parsing a big message of many compressed names would cost a lot.
            if len(data) > MAX_QUERY or qdcount != 1 or ancount + nscount + arcount > 8:
                raise _Malformed("not a query with one question")
            qend = _question_end(data)
            record = DNSRecord.parse(data)
            question = record.questions[0]
        except Exception as exc:                      # dnslib raises many kinds on garbage
            self._stats["malformed"] += 1
            log.debug("dns: malformed query: %s", exc)
            return _HEADER.pack(qid, QR | (flags & (0x7800 | RD)) | self._ra | FORMERR, 0, 0, 0, 0)
        opcode = (flags >> 11) & 0xF
        if opcode != 0:
            return _HEADER.pack(qid, QR | (flags & (0x7800 | RD)) | self._ra | NOTIMP, 0, 0, 0, 0)
        opts = [rr for rr in record.ar if rr.rtype == OPT]
        if ancount or nscount or arcount > 1 or len(opts) != arcount:
            self._stats["malformed"] += 1              # only the OPT may come with a query
            return _HEADER.pack(qid, QR | (flags & RD) | self._ra | FORMERR, 0, 0, 0, 0)
        opt = opts[0] if opts else None

        edns = opt is not None
        if edns:
            limit = min(max(opt.rclass, 512), self.max_edns_payload)
        else:
            limit = self.max_udp_payload
        labels = tuple(question.qname.label)
        query = _Query(qid, flags, data[12:qend], labels, _presentation(labels), question.qtype,
                       question.qclass, edns, limit)
        if edns and (opt.ttl >> 16) & 0xFF != 0:
            return self._short(query, NOERROR, ext_rcode=BADVERS >> 4)
        if query.qclass != CLASS.IN:
            self._stats["refused"] += 1
            return self._short(query, REFUSED)
        qtype_name = QTYPE.get(query.qtype)
        if not isinstance(qtype_name, str) or qtype_name.isdigit():
            qtype_name = f"TYPE{query.qtype}"
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dns: query %s %s", query.qname, qtype_name)
        try:
            answer = self.zone.answer(query.qname, qtype_name)
        except Exception:
            log.exception("dns: zone failed to answer")
            return self._short(query, SERVFAIL)
        if answer.in_zone:
            self._stats["answered"] += 1
            if answer.rcode == "NXDOMAIN":
                self._stats["nxdomain"] += 1
            response = self._finish(query, self._encode(query, answer), udp)
            self._learn(key, answer, response, udp)
            return response
        if not self.upstreams:
            self._stats["refused"] += 1
            return self._short(query, REFUSED)
        if self._inflight >= MAX_INFLIGHT_FORWARDS:
            self._stats["forward_failures"] += 1
            return self._short(query, SERVFAIL)
        self._stats["forwarded"] += 1
        return self._forward(query, data, udp)

    # ----------------------------------------------------------------- encoding

    def _short(self, query: _Query, rcode: int, *, tc: bool = False, aa: bool = False, ext_rcode: int = 0) -> bytes:
        """Header + question (+ OPT): for errors and truncated answers."""
        flags = QR | (query.flags & RD) | self._ra | rcode | (TC if tc else 0) | (AA if aa else 0)
        body = _HEADER.pack(query.id, flags, 1, 0, 0, 1 if query.edns else 0) + query.question
        if query.edns:
            body += _opt(self.max_edns_payload, ext_rcode)
        return body

    def _finish(self, query: _Query, wire: bytes, udp: bool) -> bytes:
        """The response to send: the client's ID, and TC if it does not fit."""
        limit = query.limit if udp else MAX_MESSAGE
        if len(wire) > limit:
            if udp:
                self._stats["truncated"] += 1
            return self._short(query, wire[3] & 0xF, tc=True, aa=bool(wire[2] & 0x04))
        return _U16.pack(query.id) + wire[2:]

    def _learn(self, key: bytes, answer: Answer, response: bytes, udp: bool) -> None:
        """Remembers the response for the fast path. The zone rotates an answer's records per
        query and hands back the same Answer object for the same step: the responses are kept in
        the order the zone gave them until the first one comes round again, and from then on the
        fast path serves the cycle itself (until the zone's generation moves)."""
        if len(answer.records) + len(answer.additional) > ROTATION_CACHE_MAX:
            return                           # fresh objects per query: no cycle to find
        replies = self._replies.get(key)
        if replies is None:
            if len(self._replies) >= CACHE_ENTRIES:
                oldest = next(iter(self._replies))
                del self._replies[oldest]
                self._udp_replies.pop(oldest[1:], None)
            replies = self._replies[key] = _Replies(answer, response, udp)
            if udp:
                self._udp_replies[key[1:]] = replies
        elif not replies.complete:
            replies.add(answer, response)

    def _encode(self, query: _Query, answer: Answer) -> bytes:
        """The zone's answer as a message with ID 0 (_finish sets the client's).

        Cached per (question, EDNS, RD, Answer object) while the zone's generation holds,
        for answers of at most ROTATION_CACHE_MAX records: the zone reuses those objects
        per rotation step, larger ones are fresh per query and would only churn the cache."""
        cacheable = len(answer.records) + len(answer.additional) <= ROTATION_CACHE_MAX
        key = (query.labels, query.qtype, query.edns, query.flags & RD, id(answer))
        if cacheable:
            hit = self._cache.get(key)
            if hit is not None and hit[0] is answer:
                return hit[1]
        wire = self._encode_addresses(query, answer)
        if wire is None:
            wire = self._encode_dnslib(query, answer)
        if cacheable:
            if len(self._cache) >= CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (answer, wire)     # keeps `answer` alive, so its id() stays unique
        return wire

    def _flags(self, query: _Query, rcode: str) -> int:
        return QR | AA | (query.flags & RD) | self._ra | _RCODES[rcode]

    def _encode_addresses(self, query: _Query, answer: Answer) -> bytes | None:
        """Fast path for plain A/AAAA answers (any size, e.g. tasks of a big service):
        each record is owned by the question name, so it is packed directly with a
        pointer to the question (offset 12). Records past 65535 bytes are left out
        (a partial round-robin set beats none; UDP truncation still applies).
        None when the answer has anything else."""
        if answer.authority or answer.additional or not answer.records:
            return None
        own = query.qname.lower()
        opt = _opt(self.max_edns_payload) if query.edns else b""
        room = MAX_MESSAGE - 12 - len(query.question) - len(opt)
        parts = []
        for record in answer.records:
            if record.name != own:
                return None
            if record.rtype == "A":
                rtype, rdata = 1, socket.inet_pton(socket.AF_INET, record.data)  # type: ignore[arg-type]
            elif record.rtype == "AAAA":
                rtype, rdata = 28, socket.inet_pton(socket.AF_INET6, record.data)  # type: ignore[arg-type]
            else:
                return None
            rr = _RR_HEAD.pack(0xC00C, rtype, CLASS.IN, record.ttl, len(rdata)) + rdata
            room -= len(rr)
            if room < 0:
                break
            parts.append(rr)
        header = _HEADER.pack(0, self._flags(query, answer.rcode), 1, len(parts), 0, 1 if opt else 0)
        return b"".join((header, query.question, *parts, opt))

    def _encode_dnslib(self, query: _Query, answer: Answer) -> bytes:
        header = DNSHeader(id=0, bitmap=self._flags(query, answer.rcode) & 0xFFFF)
        message = DNSRecord(header, q=DNSQuestion(query.labels, query.qtype, query.qclass))
        own = query.qname.lower()
        # Records past DNSLIB_MAX bytes are left out (with the additional records of
        # their SRV targets), judged on their uncompressed size: dnslib writes broken
        # compression pointers to names past offset 0x3FFF, and a huge SRV set then
        # costs a bounded encoding rather than an over-long message.
        room = DNSLIB_MAX - 12 - len(query.question) - (11 if query.edns else 0)
        room -= sum(_size(record) for record in answer.authority)
        targets: set[str] = set()
        for record in answer.records:
            room -= _size(record)
            if record.rtype == "SRV":
                room -= sum(_size(extra) for extra in answer.additional if extra.name == record.data[3]) \
                    if len(answer.additional) <= ROTATION_CACHE_MAX else 2 * len(record.data[3]) + 30
            if room < 0:
                break
            message.add_answer(self._rr(record, query.labels if record.name == own else None))
            if record.rtype == "SRV":
                targets.add(record.data[3])
        for record in answer.authority:
            message.add_auth(self._rr(record))
        has_srv = any(record.rtype == "SRV" for record in answer.records[:1])
        for record in answer.additional:
            if not has_srv or record.name in targets:
                message.add_ar(self._rr(record))
        wire = message.pack()
        if query.edns:
            wire = wire[:10] + _U16.pack(len(message.ar) + 1) + wire[12:] + _opt(self.max_edns_payload)
        return b"\x00\x00" + wire[2:]

    @staticmethod
    def _rr(record: Record, owner: Any = None) -> RR:
        name = owner if owner is not None else record.name
        data = record.data
        rtype = record.rtype
        if rtype == "A":
            rdata: Any = A(data)
        elif rtype == "AAAA":
            rdata = AAAA(data)
        elif rtype == "SRV":
            priority, weight, port, target = data  # type: ignore[misc]
            rdata = SRV(priority, weight, port, target)
        elif rtype == "SOA":
            mname, rname, *times = data  # type: ignore[misc]
            rdata = SOA(mname, rname, tuple(times))
        elif rtype == "NS":
            rdata = NS(data)
        elif rtype == "TXT":
            rdata = TXT(data)
        else:
            raise ValueError(f"record type {rtype} is not supported")
        return RR(name, getattr(QTYPE, rtype), CLASS.IN, record.ttl, rdata)

    # --------------------------------------------------------------- forwarding

    async def _forward(self, query: _Query, data: bytes, udp: bool) -> bytes:
        self._inflight += 1
        try:
            last: bytes | None = None
            for host, port in self.upstreams:
                fid = secrets.randbits(16)
                message = _U16.pack(fid) + data[2:]
                accept = self._acceptor(fid, query.question)
                try:
                    reply = await self._upstream_udp(host, port, message, accept)
                    if reply[2] & 0x02:                # TC: ask again over TCP
                        reply = await self._upstream_tcp(host, port, message, accept)
                except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError, ConnectionError) as exc:
                    log.debug("dns: upstream %s:%d failed: %r", host, port, exc)
                    continue
                if reply[3] & 0xF in (SERVFAIL, REFUSED):
                    last = reply
                    continue
                return self._finish(query, reply, udp)
            if last is not None:
                return self._finish(query, last, udp)
            self._stats["forward_failures"] += 1
            return self._short(query, SERVFAIL)
        finally:
            self._inflight -= 1

    @staticmethod
    def _acceptor(fid: int, question: bytes) -> Any:
        name, tail = question[:-4].lower(), question[-4:]

        def accept(reply: bytes) -> bool:
            if len(reply) < 12:
                return False
            rid, flags, qdcount = struct.unpack_from("!HHH", reply)
            if rid != fid or not flags & QR:
                return False
            if qdcount == 0:                           # some servers drop the question on errors
                return flags & 0xF != NOERROR or bool(flags & TC)
            end = 12 + len(question)
            return (qdcount == 1 and len(reply) >= end and reply[12:end - 4].lower() == name
                    and reply[end - 4:end] == tail)
        return accept

    async def _upstream_udp(self, host: str, port: int, message: bytes, accept: Any) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        transport = None
        try:
            async with asyncio.timeout(self.upstream_timeout):
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UpstreamProtocol(future, accept), remote_addr=(host, port))
                transport.sendto(message)
                return await future
        finally:
            if not future.done():
                future.cancel()                        # so closing cannot leave an unretrieved error on it
            elif not future.cancelled():
                future.exception()
            if transport is not None:
                transport.close()

    async def _upstream_tcp(self, host: str, port: int, message: bytes, accept: Any) -> bytes:
        writer = None
        try:
            async with asyncio.timeout(self.upstream_timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_MESSAGE + 2)
                writer.write(_U16.pack(len(message)) + message)
                await writer.drain()
                while True:
                    (length,) = _U16.unpack(await reader.readexactly(2))
                    reply = await reader.readexactly(length)
                    if accept(reply):
                        return reply
        finally:
            if writer is not None:
                writer.close()

    # -------------------------------------------------------------- transports

    def _read_udp(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """The UDP socket's own thread: the fast path answered here, without the event loop's
        per-datagram cost (2-3x the queries per second); anything else goes to the loop.
        Shared with the loop: _udp_replies (read here, filled and cleared there: single dict
        operations, atomic under the GIL) and the generation check. A race on a rotation step
        at worst repeats one step of a round-robin."""
        batch = open_batch(sock, MAX_QUERY + 1)
        while self._udp is sock:
            try:
                if batch is not None:
                    self._serve_batches(sock, batch, loop)
                else:
                    self._serve_datagrams(sock, loop)
                return
            except Exception:                             # never let one datagram end UDP service
                log.exception("dns: failed to handle a UDP query")

    def _serve_batches(self, sock: socket.socket, batch: BatchSocket, loop: asyncio.AbstractEventLoop) -> None:
        """Up to BATCH queries in, their answers out, a system call each way (Linux)."""
        fast = self._fast_reply
        while True:
            n = self._receive(sock, batch.recv)
            if n is None:
                return
            try:
                for i in range(n):
                    data = batch.datagram(i)
                    body = fast(data)
                    if body is None:
                        if not self._hand_off(data, batch.address(i), loop):
                            return
                    elif not batch.reply(i, data[:2], body):
                        with contextlib.suppress(OSError):
                            sock.sendto(data[:2] + body, batch.address(i))
            finally:
                batch.send()

    def _serve_datagrams(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """One query per system call: where recvmmsg is not to be had."""
        send, fast = sock.sendto, self._fast_reply
        receive = functools.partial(sock.recvfrom, RECV_BYTES)
        while True:
            got = self._receive(sock, receive)
            if got is None:
                return
            data, addr = got
            body = fast(data)
            if body is None:
                if not self._hand_off(data, addr, loop):
                    return
                continue
            with contextlib.suppress(OSError):
                send(data[:2] + body, addr)

    def _receive(self, sock: socket.socket, receive: Any) -> Any:
        """receive()'s result, retried on errors; None once the server let go of sock (stop()
        shuts it down to wake this thread)."""
        while True:
            try:
                got = receive()
            except OSError:
                if self._udp is not sock:
                    return None
                continue
            return got if self._udp is sock else None

    def _fast_reply(self, data: bytes) -> bytes | None:
        """The stored reply (after its ID) to a query answered before, counted; None: the loop's."""
        if self._cache_generation != self.zone.generation or len(data) < 12:
            return None                                   # the loop drops the stored replies first
        replies = self._udp_replies.get(data[2:])
        if replies is None or not replies.complete:
            return None
        wires = replies.wires
        step = replies.next
        replies.next = step + 1
        counts = self._fast_stats
        counts["answered"] += 1
        if replies.nxdomain:
            counts["nxdomain"] += 1
        if replies.truncated:
            counts["truncated"] += 1
        return wires[step % len(wires)]

    def _hand_off(self, data: bytes, addr: Any, loop: asyncio.AbstractEventLoop) -> bool:
        """To the event loop, at most MAX_PENDING_UDP waiting (more are dropped and counted);
        False once the loop is closed (the server is going away)."""
        if self._handed - self._taken >= MAX_PENDING_UDP:
            self._fast_stats["dropped"] += 1
            return True
        self._handed += 1
        try:
            loop.call_soon_threadsafe(self._on_udp, data, addr)
        except RuntimeError:
            return False
        return True

    def _on_udp(self, data: bytes, addr: Any) -> None:
        self._taken += 1
        try:
            result = self._handle(data, udp=True)
        except Exception:
            log.exception("dns: failed to handle a UDP query")
            return
        if result is None:
            return
        if isinstance(result, bytes):
            self._send_udp(result, addr)
            return
        task = asyncio.get_running_loop().create_task(self._udp_forward(result, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _udp_forward(self, pending: Coroutine[Any, Any, bytes], addr: Any) -> None:
        try:
            response = await pending
        except Exception:
            log.exception("dns: forwarding failed")
            return
        self._send_udp(response, addr)

    def _send_udp(self, response: bytes, addr: Any) -> None:
        udp = self._udp
        if udp is not None:
            # Never blocks the loop: a full send buffer drops the response, as the network may.
            with contextlib.suppress(OSError):
                udp.sendto(response, socket.MSG_DONTWAIT, addr)

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= self.max_tcp_clients or self._tcp is None or task is None:
            self._stats["tcp_rejected"] += 1
            writer.close()
            return
        self._connections.add(task)
        lock = asyncio.Lock()
        pending: set[asyncio.Task[None]] = set()
        graceful = False
        try:
            while True:
                try:
                    async with asyncio.timeout(self.tcp_idle_timeout):
                        (length,) = _U16.unpack(await reader.readexactly(2))
                        data = await reader.readexactly(length)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    break
                try:
                    result = self._handle(data, udp=False)
                except Exception:
                    log.exception("dns: failed to handle a TCP query")
                    break
                if result is None:
                    continue
                if isinstance(result, bytes):
                    if not await self._write(writer, lock, result):
                        break
                    continue
                forward = asyncio.get_running_loop().create_task(self._tcp_forward(result, writer, lock))
                pending.add(forward)
                forward.add_done_callback(pending.discard)
                if len(pending) >= MAX_TCP_PIPELINE:
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            graceful = True
        finally:
            if pending:
                if not graceful:
                    for forward in pending:
                        forward.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            writer.close()
            self._connections.discard(task)

    async def _tcp_forward(self, pending: Coroutine[Any, Any, bytes], writer: asyncio.StreamWriter,
                           lock: asyncio.Lock) -> None:
        try:
            response = await pending
        except Exception:
            log.exception("dns: forwarding failed")
            return
        await self._write(writer, lock, response)

    async def _write(self, writer: asyncio.StreamWriter, lock: asyncio.Lock, response: bytes) -> bool:
        """Sends one length-prefixed message; False when the client is gone or stuck."""
        async with lock:
            try:
                writer.write(_U16.pack(len(response)) + response)
                async with asyncio.timeout(self.tcp_idle_timeout):
                    await writer.drain()
            except (TimeoutError, ConnectionError, RuntimeError):
                writer.close()
                return False
        return True
