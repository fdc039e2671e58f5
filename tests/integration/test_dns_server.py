"""shoal.dns.server on real sockets: 127.0.0.1, ephemeral ports, a fake upstream the test runs.

Needs no cluster: every packet goes between sockets this test opens on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections.abc import AsyncIterator

import pytest
from dnslib import CLASS, OPCODE, QTYPE, RCODE, RR, A, DNSQuestion, DNSRecord, EDNS0

from shoal.dns.server import DnsServer
from shoal.dns.zone import Endpoint, Port, Zone
from tests.polling import apoll, poll

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
TIMEOUT = 5.0
HTTP = Port(8080, "tcp", "http")


# ------------------------------------------------------------------ helpers


class _Client(asyncio.DatagramProtocol):
    """A UDP client socket that hands each reply to the waiter of its ID."""

    def __init__(self) -> None:
        self.waiters: dict[int, asyncio.Future[bytes]] = {}
        self.others: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        qid = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else -1
        waiter = self.waiters.get(qid)
        if waiter is not None and not waiter.done():
            waiter.set_result(data)
        else:
            self.others.append(data)


class UdpClient:
    def __init__(self, port: int) -> None:
        self.port = port

    async def __aenter__(self) -> UdpClient:
        loop = asyncio.get_running_loop()
        self.transport, self.protocol = await loop.create_datagram_endpoint(_Client, remote_addr=(HOST, self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.transport.close()

    def send(self, data: bytes) -> None:
        self.transport.sendto(data)

    async def ask(self, query: DNSRecord, timeout: float = TIMEOUT) -> DNSRecord:
        future = asyncio.get_running_loop().create_future()
        self.protocol.waiters[query.header.id] = future
        try:
            self.send(query.pack())
            async with asyncio.timeout(timeout):
                return DNSRecord.parse(await future)
        finally:
            del self.protocol.waiters[query.header.id]


async def udp_ask(port: int, query: DNSRecord, timeout: float = TIMEOUT) -> DNSRecord:
    async with UdpClient(port) as client:
        return await client.ask(query, timeout)


async def tcp_ask(port: int, *queries: DNSRecord, timeout: float = TIMEOUT) -> list[DNSRecord]:
    """Sends all queries on one connection (pipelined), returns the replies by query order."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(b"".join(struct.pack("!H", len(w)) + w for w in (q.pack() for q in queries)))
            await writer.drain()
            replies = {}
            for _ in queries:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = DNSRecord.parse(await reader.readexactly(length))
                replies[reply.header.id] = reply
            return [replies[q.header.id] for q in queries]
        finally:
            writer.close()


def question(name: str, qtype: str = "A", *, edns: int | None = None, qid: int | None = None) -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    if qid is not None:
        q.header.id = qid
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    return q


def addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


class FakeUpstream:
    """A tiny resolver on 127.0.0.1 (UDP and TCP on one port).

    NAME.example.org A -> one address derived from NAME; big.example.org -> 20 addresses,
    truncated (TC, no answers) over UDP; servfail.example.org -> SERVFAIL. A UDP reply to
    qN.example.org is delayed by (40 - N) ms, so concurrent replies come back out of order.
    ``silent`` never answers at all (a dead upstream that still holds its port)."""

    def __init__(self, *, silent: bool = False) -> None:
        self.silent = silent
        self.udp_queries = 0
        self.tcp_queries = 0
        self.ids_seen: list[int] = []

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            self.udp, _ = await loop.create_datagram_endpoint(lambda: _FakeUdp(self), local_addr=(HOST, 0))
            port = self.udp.get_extra_info("sockname")[1]
            try:
                self.tcp = await asyncio.start_server(self._on_tcp, HOST, port)
            except OSError:
                self.udp.close()
                continue
            self.port = port
            return port
        raise RuntimeError("no port free for both UDP and TCP")

    async def stop(self) -> None:
        self.udp.close()
        self.tcp.close()

    def reply(self, data: bytes, over_tcp: bool) -> bytes:
        query = DNSRecord.parse(data)
        self.ids_seen.append(query.header.id)
        name = str(query.q.qname).lower()
        reply = query.reply(ra=1, aa=0)
        label = name.split(".")[0]
        if name == "servfail.example.org.":
            reply.header.rcode = RCODE.SERVFAIL
        elif name == "big.example.org.":
            if not over_tcp:
                reply.header.tc = 1
                return reply.pack()
            for i in range(20):
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(f"198.51.100.{i + 1}"), ttl=60))
        elif name.endswith(".example.org.") and query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(upstream_address(label)), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply.pack()

    def delay(self, data: bytes) -> float:
        name = str(DNSRecord.parse(data).q.qname)
        if name.startswith("q") and name.split(".")[0][1:].isdigit():
            return max(0, 40 - int(name.split(".")[0][1:])) / 1000
        return 0.0

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self.silent:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                data = await reader.readexactly(length)
                self.tcp_queries += 1
                response = self.reply(data, over_tcp=True)
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _FakeUdp(asyncio.DatagramProtocol):
    def __init__(self, upstream: FakeUpstream) -> None:
        self.upstream = upstream

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.upstream.udp_queries += 1
        if self.upstream.silent:
            return
        response = self.upstream.reply(data, over_tcp=False)
        loop = asyncio.get_running_loop()
        loop.call_later(self.upstream.delay(data), self.upstream.udp.sendto, response, addr)


def upstream_address(label: str) -> str:
    h = sum(label.encode()) * 7 + len(label)
    return f"203.0.113.{h % 250 + 1}"


def web_zone(n: int = 3) -> Zone:
    zone = Zone()
    zone.replace_all(Endpoint(f"/eps/web/{i}", f"web.{i}", "web", f"10.0.{i // 200}.{i % 200 + 1}", (HTTP,))
                     for i in range(1, n + 1))
    zone.put(Endpoint("/eps/db", "db", "", "10.0.9.1", (Port(5432),)))
    zone.put(Endpoint("/eps/sick", "sick", "", "10.0.9.2", healthy=False))
    return zone


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def silent_upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream(silent=True)
    await fake.start()
    yield fake
    await fake.stop()


class Running:
    def __init__(self, server: DnsServer, udp: int, tcp: int) -> None:
        self.server, self.udp, self.tcp = server, udp, tcp


async def serve(zone: Zone, **options: object) -> Running:
    server = DnsServer(zone, **options)  # type: ignore[arg-type]
    udp, tcp = await server.start(HOST, 0)
    return Running(server, udp, tcp)


@pytest.fixture(params=["recvmmsg", "recvfrom"])
async def dns(request, monkeypatch) -> AsyncIterator[Running]:
    """A server on each of the UDP thread's two loops: batches (Linux) and one datagram a call."""
    if request.param == "recvfrom":
        import shoal.dns.server as server_module
        monkeypatch.setattr(server_module, "open_batch", lambda *args: None)
    running = await serve(web_zone())
    yield running
    await running.server.stop()


# ------------------------------------------------------------------ tests


async def test_a_query_over_udp_and_tcp(dns: Running) -> None:
    assert dns.udp == dns.tcp and dns.udp > 0
    q = question("web.shoal")
    udp = await udp_ask(dns.udp, q)
    (tcp,) = await tcp_ask(dns.tcp, question("web.shoal", qid=q.header.id ^ 1))
    for reply, qid in ((udp, q.header.id), (tcp, q.header.id ^ 1)):
        assert reply.header.id == qid and reply.header.qr == 1 and reply.header.aa == 1
        assert reply.header.rcode == RCODE.NOERROR and reply.header.rd == 1 and reply.header.ra == 0
        assert sorted(addresses(reply)) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
        assert all(rr.ttl == 5 for rr in reply.rr)
    # one container by name, as a single label; the question's case is kept in the answer
    reply = await udp_ask(dns.udp, question("DB"))
    assert addresses(reply) == ["10.0.9.1"] and str(reply.rr[0].rname) == "DB."
    assert str(reply.q.qname) == "DB."
    # task names contain a dot
    assert addresses(await udp_ask(dns.udp, question("web.2"))) == ["10.0.0.3"]
    assert addresses(await udp_ask(dns.udp, question("web.2.shoal."))) == ["10.0.0.3"]
    assert dns.server.stats["answered"] == 5


async def test_round_robin_over_the_wire(dns: Running) -> None:
    firsts = []
    async with UdpClient(dns.udp) as client:
        for _ in range(6):
            reply = await client.ask(question("tasks.web.shoal"))
            firsts.append(addresses(reply)[0])
            assert sorted(addresses(reply)) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert firsts == ["10.0.0.2", "10.0.0.3", "10.0.0.4"] * 2


async def test_nxdomain_and_nodata_carry_the_soa(dns: Running) -> None:
    for name in ("nope.shoal", "nope"):
        reply = await udp_ask(dns.udp, question(name))
        assert reply.header.rcode == RCODE.NXDOMAIN and reply.header.aa == 1 and not reply.rr
        (soa,) = reply.auth
        assert soa.rtype == QTYPE.SOA and str(soa.rname) == "shoal."
        assert str(soa.rdata.mname) == "ns.shoal." and str(soa.rdata.rname) == "hostmaster.shoal."
        assert soa.rdata.times[-1] == 5
    reply = await udp_ask(dns.udp, question("sick.shoal"))            # exists, unhealthy: NODATA
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.auth[0].rtype == QTYPE.SOA
    reply = await udp_ask(dns.udp, question("db.shoal", "AAAA"))      # IPv4 only: NODATA
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.auth[0].rtype == QTYPE.SOA
    reply = await udp_ask(dns.udp, question("shoal", "SOA"))
    assert reply.rr[0].rtype == QTYPE.SOA
    assert dns.server.stats["nxdomain"] == 2


async def test_srv_with_targets_in_additional(dns: Running) -> None:
    for name in ("_http._tcp.web.shoal", "_8080._tcp.web"):
        reply = await udp_ask(dns.udp, question(name, "SRV"))
        assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
        srv = sorted((rr.rdata.priority, rr.rdata.weight, rr.rdata.port, str(rr.rdata.target)) for rr in reply.rr)
        assert srv == [(0, 10, 8080, f"web.{i}.shoal.") for i in (1, 2, 3)]
        assert sorted((str(rr.rname), str(rr.rdata)) for rr in reply.ar) == \
            [(f"web.{i}.shoal.", f"10.0.0.{i + 1}") for i in (1, 2, 3)]
    (reply,) = await tcp_ask(dns.tcp, question("_5432._tcp.db.shoal", "SRV"))
    assert [(rr.rdata.port, str(rr.rdata.target)) for rr in reply.rr] == [(5432, "db.shoal.")]


async def test_forwarded_names_are_answered_by_the_upstream(upstream: FakeUpstream) -> None:
    dns = await serve(web_zone(), upstreams=[(HOST, upstream.port)], upstream_timeout=2.0)
    try:
        q = question("www.example.org")
        reply = await udp_ask(dns.udp, q)
        assert reply.header.id == q.header.id and reply.header.ra == 1 and reply.header.aa == 0
        assert addresses(reply) == [upstream_address("www")]
        (reply,) = await tcp_ask(dns.tcp, question("api.example.org"))
        assert addresses(reply) == [upstream_address("api")]
        reply = await udp_ask(dns.udp, question("nothing.example.net"))
        assert reply.header.rcode == RCODE.NXDOMAIN
        # in-zone names never go upstream, and RA is set now that there are upstreams
        before = upstream.udp_queries
        reply = await udp_ask(dns.udp, question("web"))
        assert reply.header.ra == 1 and reply.header.aa == 1 and upstream.udp_queries == before
        assert dns.server.stats["forwarded"] == 3 and dns.server.stats["forward_failures"] == 0
    finally:
        await dns.server.stop()


async def test_truncated_upstream_reply_is_retried_over_tcp(upstream: FakeUpstream) -> None:
    dns = await serve(web_zone(), upstreams=[(HOST, upstream.port)])
    try:
        reply = await udp_ask(dns.udp, question("big.example.org"))
        assert reply.header.tc == 0 and len(addresses(reply)) == 20
        assert upstream.udp_queries == 1 and upstream.tcp_queries == 1
    finally:
        await dns.server.stop()


async def test_dead_upstream_gives_servfail_within_the_timeout(silent_upstream: FakeUpstream) -> None:
    timeout = 0.5
    dns = await serve(web_zone(), upstreams=[(HOST, silent_upstream.port)], upstream_timeout=timeout)
    try:
        started = time.monotonic()
        reply = await udp_ask(dns.udp, question("www.example.org"), timeout=timeout + 3)
        elapsed = time.monotonic() - started
        assert reply.header.rcode == RCODE.SERVFAIL and reply.header.ra == 1
        assert timeout * 0.9 <= elapsed <= timeout + 1.5
        (reply,) = await tcp_ask(dns.tcp, question("www.example.org"))
        assert reply.header.rcode == RCODE.SERVFAIL
        assert dns.server.stats["forward_failures"] == 2
        # the server is still fine for its own names
        assert addresses(await udp_ask(dns.udp, question("db")))
    finally:
        await dns.server.stop()


async def test_failover_to_the_next_upstream(silent_upstream: FakeUpstream, upstream: FakeUpstream) -> None:
    dns = await serve(web_zone(), upstreams=[(HOST, silent_upstream.port), (HOST, upstream.port)],
                      upstream_timeout=0.3)
    try:
        reply = await udp_ask(dns.udp, question("www.example.org"))
        assert addresses(reply) == [upstream_address("www")]
        assert silent_upstream.udp_queries == 1 and upstream.udp_queries == 1
        # an upstream SERVFAIL moves on as well, and is relayed when nobody does better
        reply = await udp_ask(dns.udp, question("servfail.example.org"))
        assert reply.header.rcode == RCODE.SERVFAIL
    finally:
        await dns.server.stop()


async def test_no_upstreams_refuses_outside_names(dns: Running) -> None:
    reply = await udp_ask(dns.udp, question("www.example.org"))
    assert reply.header.rcode == RCODE.REFUSED and reply.header.ra == 0 and not reply.rr
    assert str(reply.q.qname) == "www.example.org."
    (reply,) = await tcp_ask(dns.tcp, question("www.example.org"))
    assert reply.header.rcode == RCODE.REFUSED
    assert dns.server.stats["forwarded"] == 0


async def test_large_answer_truncated_over_udp_and_whole_over_tcp() -> None:
    dns = await serve(web_zone(50))
    try:
        expected = sorted(f"10.0.0.{i + 1}" for i in range(1, 51))
        reply = await udp_ask(dns.udp, question("web.shoal"))
        assert reply.header.tc == 1 and reply.header.aa == 1 and not reply.rr
        assert str(reply.q.qname) == "web.shoal."
        assert dns.server.stats["truncated"] == 1
        (reply,) = await tcp_ask(dns.tcp, question("web.shoal"))
        assert reply.header.tc == 0 and sorted(addresses(reply)) == expected
        # EDNS0: the client's advertised size (capped at 1232) is honoured over UDP
        reply = await udp_ask(dns.udp, question("web.shoal", edns=4096))
        assert reply.header.tc == 0 and sorted(addresses(reply)) == expected
        (opt,) = reply.ar
        assert opt.rtype == QTYPE.OPT and opt.rclass == 1232
        reply = await udp_ask(dns.udp, question("web.shoal", edns=512))
        assert reply.header.tc == 1 and [rr.rtype for rr in reply.ar] == [QTYPE.OPT]
        # big SRV answers too
        reply = await udp_ask(dns.udp, question("_http._tcp.web", "SRV"))
        assert reply.header.tc == 1
        (reply,) = await tcp_ask(dns.tcp, question("_http._tcp.web", "SRV"))
        assert len(reply.rr) == 50 and len(reply.ar) == 50
    finally:
        await dns.server.stop()


async def test_garbage_does_not_hurt(dns: Running) -> None:
    rng = random.Random(20240601)
    # (not empty: asyncio does not send empty datagrams)
    garbage = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 120))) for _ in range(200)]
    garbage[:3] = [b"\x12", b"\x12\x34\x01\x00\x00\x01", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c"]
    used_ids = {packet[:2] for packet in garbage}
    qid = next(i for i in range(1, 65536) if struct.pack("!H", i) not in used_ids)
    valid = question("web.shoal", qid=qid + 1).pack()
    truncated = valid[:-3]
    async with UdpClient(dns.udp) as client:
        for packet in garbage:
            client.send(packet)
        client.send(truncated)
        reply = await client.ask(question("db.shoal", qid=qid))
        assert addresses(reply) == ["10.0.9.1"]
    assert dns.server.stats["malformed"] == 201
    # the truncated query gets FORMERR with its ID; over TCP as well, and the connection lives on
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(HOST, dns.tcp)
        try:
            for packet in (truncated, valid):
                writer.write(struct.pack("!H", len(packet)) + packet)
            await writer.drain()
            replies = []
            for _ in range(2):
                (n,) = struct.unpack("!H", await reader.readexactly(2))
                replies.append(DNSRecord.parse(await reader.readexactly(n)))
        finally:
            writer.close()
    assert replies[0].header.rcode == RCODE.FORMERR and replies[0].header.id == struct.unpack("!H", valid[:2])[0]
    assert len(addresses(replies[1])) == 3
    assert dns.server.stats["malformed"] == 202


async def test_only_single_question_queries_are_answered(dns: Running) -> None:
    notify = question("web.shoal")
    notify.header.opcode = OPCODE.NOTIFY
    reply = await udp_ask(dns.udp, notify)
    assert reply.header.rcode == RCODE.NOTIMP and reply.header.id == notify.header.id
    two = question("web.shoal")
    two.add_question(DNSQuestion("db.shoal"))
    reply = await udp_ask(dns.udp, two)
    assert reply.header.rcode == RCODE.FORMERR
    chaos = DNSRecord(q=DNSQuestion("version.bind", QTYPE.TXT, CLASS.CH))
    reply = await udp_ask(dns.udp, chaos)
    assert reply.header.rcode == RCODE.REFUSED
    bad_version = question("web.shoal", edns=1232)
    bad_version.ar[0].ttl = 1 << 16          # EDNS version 1
    reply = await udp_ask(dns.udp, bad_version)
    assert reply.ar[0].rtype == QTYPE.OPT and (reply.ar[0].ttl >> 24) == 1 and not reply.rr   # BADVERS
    # responses sent to the server are never answered (no loops), the next query still is
    response = question("web.shoal")
    response.header.qr = 1
    async with UdpClient(dns.udp) as client:
        client.send(response.pack())
        assert addresses(await client.ask(question("db")))
        assert not client.protocol.others


async def test_several_queries_on_one_tcp_connection(dns: Running) -> None:
    queries = [question("web.shoal"), question("db.shoal"), question("nope.shoal"), question("_http._tcp.web", "SRV")]
    web, db, nope, srv = await tcp_ask(dns.tcp, *queries)
    assert len(addresses(web)) == 3 and addresses(db) == ["10.0.9.1"]
    assert nope.header.rcode == RCODE.NXDOMAIN and len(srv.rr) == 3
    # and one after another on the same connection, waiting for each answer
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(HOST, dns.tcp)
        try:
            for name in ("web.1", "web.2"):
                wire = question(name).pack()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
                (n,) = struct.unpack("!H", await reader.readexactly(2))
                assert len(addresses(DNSRecord.parse(await reader.readexactly(n)))) == 1
        finally:
            writer.close()


async def test_concurrent_forwarded_queries_keep_their_ids(upstream: FakeUpstream) -> None:
    dns = await serve(web_zone(), upstreams=[(HOST, upstream.port)])
    try:
        names = [f"q{i}.example.org" for i in range(40)]
        queries = [question(name, qid=1000 + i) for i, name in enumerate(names)]
        async with UdpClient(dns.udp) as client:
            replies = await asyncio.gather(*(client.ask(q) for q in queries))
        for i, reply in enumerate(replies):
            assert reply.header.id == 1000 + i
            assert str(reply.q.qname) == names[i] + "."
            assert addresses(reply) == [upstream_address(f"q{i}")]
        # the same over one TCP connection, pipelined: answers may come in any order
        tcp_queries = [question(name, qid=2000 + i) for i, name in enumerate(names[:10])]
        replies = await tcp_ask(dns.tcp, *tcp_queries)
        assert [addresses(r) for r in replies] == [[upstream_address(f"q{i}")] for i in range(10)]
        assert dns.server.stats["forwarded"] == 50 and dns.server.stats["forward_failures"] == 0
    finally:
        await dns.server.stop()


async def test_zone_changes_show_at_once(dns: Running) -> None:
    assert addresses(await udp_ask(dns.udp, question("db"))) == ["10.0.9.1"]
    dns.server.zone.put(Endpoint("/eps/db", "db", "", "10.0.9.7"))
    assert addresses(await udp_ask(dns.udp, question("db"))) == ["10.0.9.7"]
    dns.server.zone.remove("/eps/db")
    assert (await udp_ask(dns.udp, question("db"))).header.rcode == RCODE.NXDOMAIN


async def test_tcp_clients_and_idle_time_are_bounded() -> None:
    dns = await serve(web_zone(), max_tcp_clients=2, tcp_idle_timeout=0.3)
    writers = []
    try:
        async with asyncio.timeout(TIMEOUT):
            held = []
            for _ in range(2):
                reader, writer = await asyncio.open_connection(HOST, dns.tcp)
                writers.append(writer)
                wire = question("db").pack()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
                (n,) = struct.unpack("!H", await reader.readexactly(2))
                await reader.readexactly(n)
                held.append(reader)
            # a third connection is closed at once
            reader, writer = await asyncio.open_connection(HOST, dns.tcp)
            writers.append(writer)
            assert await reader.read() == b""
            assert dns.server.stats["tcp_rejected"] == 1
            # idle connections are closed by the server
            started = time.monotonic()
            for reader in held:
                assert await reader.read() == b""
            assert time.monotonic() - started < 2.0
            # and their slots are free again
            (reply,) = await tcp_ask(dns.tcp, question("db"))
            assert addresses(reply) == ["10.0.9.1"]
    finally:
        for writer in writers:
            writer.close()
        await dns.server.stop()


async def test_stop_is_prompt_with_forwards_in_flight(silent_upstream: FakeUpstream) -> None:
    dns = await serve(web_zone(), upstreams=[(HOST, silent_upstream.port)], upstream_timeout=30)
    async with UdpClient(dns.udp) as client:
        client.send(question("www.example.org").pack())
        await apoll(lambda: silent_upstream.udp_queries, TIMEOUT, interval=0.01, what="the query at the upstream")
        reader, writer = await asyncio.open_connection(HOST, dns.tcp)
        started = time.monotonic()
        await asyncio.wait_for(dns.server.stop(), TIMEOUT)
        assert time.monotonic() - started < 1.0
        async with asyncio.timeout(TIMEOUT):
            assert await reader.read() == b""
        writer.close()
    # the port can be bound again
    again = DnsServer(web_zone())
    udp, tcp = await again.start(HOST, dns.udp)
    assert (udp, tcp) == (dns.udp, dns.udp)
    with pytest.raises(RuntimeError):
        await again.start(HOST, 0)
    await again.stop()


async def test_repeated_queries_are_answered_from_whole_responses_in_rotation(dns: Running) -> None:
    """The fast path (the response by the query's bytes) keeps the round robin, the IDs, the
    counters, and follows zone changes at once."""
    async with UdpClient(dns.udp) as client:
        firsts = []
        for i in range(12):
            reply = await client.ask(question("tasks.web.shoal", qid=1000 + i, edns=1232 if i % 2 else None))
            assert reply.header.id == 1000 + i and sorted(addresses(reply)) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
            assert (len(reply.ar) == 1) == bool(i % 2)       # the OPT comes back only when asked with one
            if i % 2 == 0:
                firsts.append(addresses(reply)[0])
        # Without EDNS: 6 queries, every order of the rotation once per cycle, the cycle kept
        # (the EDNS queries in between took their turns of the zone's counter while it was learnt).
        assert sorted(firsts[:3]) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"] and firsts[3:] == firsts[:3]
        assert any(r.complete for r in dns.server._replies.values())   # the fast path did serve
        assert dns.server.stats["answered"] == 12 and dns.server.stats["queries"] == 12
        dns.server.zone.put(Endpoint("/eps/web/9", "web.9", "web", "10.0.0.99", (HTTP,)))
        reply = await client.ask(question("tasks.web.shoal", qid=2000))
        assert sorted(addresses(reply)) == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.99"]
    (tcp,) = await tcp_ask(dns.tcp, question("nothing.shoal", qid=7))
    (tcp2,) = await tcp_ask(dns.tcp, question("nothing.shoal", qid=8))
    assert tcp.header.rcode == tcp2.header.rcode == RCODE.NXDOMAIN and tcp2.header.id == 8
    assert dns.server.stats["nxdomain"] == 2


def _blocking_client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT)
    return sock


async def test_the_udp_thread_answers_known_queries_while_the_event_loop_is_busy(dns: Running) -> None:
    async with UdpClient(dns.udp) as client:
        for qid in (1, 2):                                  # the second one completes the (one-step) cycle
            assert addresses(await client.ask(question("db.shoal", qid=qid))) == ["10.0.9.1"]
    thread = dns.server._udp_thread
    assert thread is not None and thread.is_alive()
    sock = _blocking_client()
    try:
        # From here until the awaits below, this coroutine holds the event loop: nothing the loop
        # runs can answer, only the socket's thread.
        sock.sendto(question("web.2.shoal", qid=50).pack(), (HOST, dns.udp))     # new: waits for the loop
        for qid in range(100, 110):
            sock.sendto(question("db.shoal", qid=qid).pack(), (HOST, dns.udp))
            reply = DNSRecord.parse(sock.recv(4096))
            assert reply.header.id == qid and addresses(reply) == ["10.0.9.1"]
        await asyncio.sleep(0)                              # lets the loop run: the new name is answered
        reply = DNSRecord.parse(await asyncio.to_thread(sock.recv, 4096))
        assert reply.header.id == 50 and addresses(reply) == ["10.0.0.3"]
    finally:
        sock.close()
    assert dns.server.stats["answered"] == 13 and dns.server.stats["queries"] == 13
    await dns.server.stop()
    assert not thread.is_alive()


async def test_udp_queries_waiting_for_the_event_loop_are_bounded(dns: Running, monkeypatch) -> None:
    import shoal.dns.server as server_module
    monkeypatch.setattr(server_module, "MAX_PENDING_UDP", 5)
    sock = _blocking_client()
    try:
        # The loop is held (no await): every query below is new, so all wait for it, 5 at most.
        for qid in range(20):
            sock.sendto(question(f"n{qid}.shoal", qid=qid).pack(), (HOST, dns.udp))
        # Blocking on purpose (no await): the loop stays held while the thread counts what it drops.
        poll(lambda: dns.server.stats["queries"] >= 15, TIMEOUT, interval=0.01, what="the thread to drop 15 queries")
        assert dns.server.stats["dropped"] == 15 and dns.server.stats["queries"] == 15
        replies = [DNSRecord.parse(await asyncio.to_thread(sock.recv, 4096)) for _ in range(5)]
        assert sorted(r.header.id for r in replies) == [0, 1, 2, 3, 4]
        assert all(r.header.rcode == RCODE.NXDOMAIN for r in replies)
        assert dns.server.stats["queries"] == 20 and dns.server.stats["nxdomain"] == 5
        assert addresses(await udp_ask(dns.udp, question("db.shoal"))) == ["10.0.9.1"]   # and it goes on
    finally:
        sock.close()
