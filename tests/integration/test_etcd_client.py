"""shoal.etcd.client against a real etcd (started per module / per test on loopback)."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

# SHOAL_ETCD_CLIENT=aetcd|etcd3aio runs this module against an adapter over that library
# (tests/etcd_compare/README.md, issue 15); unset, it is our client and nothing else is imported.
# Only one of the two is imported: each library registers etcd's protos in protobuf's default pool.
if os.environ.get("SHOAL_ETCD_CLIENT", "ours") == "ours":
    from shoal.etcd.client import (
        Compare,
        EtcdClient,
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
    )
else:
    import importlib

    _impl = importlib.import_module(f"tests.etcd_compare.adapter_{os.environ['SHOAL_ETCD_CLIENT']}")
    (Compare, EtcdClient, EtcdError, EtcdUnavailable, Event, KeyValue, LeaseNotFound, Op, TlsConfig,
     TxnResult, WatchBatch, WatchCompacted, WatchInterrupted, WatchResumed) = (getattr(_impl, n) for n in (
        "Compare", "EtcdClient", "EtcdError", "EtcdUnavailable", "Event", "KeyValue", "LeaseNotFound", "Op",
        "TlsConfig", "TxnResult", "WatchBatch", "WatchCompacted", "WatchInterrupted", "WatchResumed"))
from tests.integration.etcd_server import EtcdServer, ServerTls, free_port
from tests.polling import apoll

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd binary not installed"),
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def etcd(tmp_path_factory) -> EtcdServer:
    """One etcd shared by the tests that do not crash or compact it."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd-shared"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_etcd(tmp_path) -> EtcdServer:
    """A private etcd for tests that kill, restart or compact it."""
    server = EtcdServer(tmp_path / "etcd")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(etcd) -> AsyncIterator[EtcdClient]:
    async with EtcdClient([etcd.endpoint], timeout=5.0) as c:
        yield c


@pytest.fixture
def prefix(request) -> str:
    return f"/test/{request.node.name}/"


# --------------------------------------------------------------------------- helpers


class Consumer:
    """Consumes a watch generator in a background task, recording everything."""

    def __init__(self, gen: AsyncIterator) -> None:
        self.gen = gen
        self.items: list = []
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.gen:
                self.items.append(item)
        except Exception as exc:  # recorded for the assertions
            self.error = exc

    def events(self) -> list[Event]:
        return [e for item in self.items if isinstance(item, WatchBatch) for e in item.events]

    def of_type(self, cls: type) -> list:
        return [item for item in self.items if isinstance(item, cls)]

    async def wait(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        def check() -> object:
            if self.error is not None:
                raise AssertionError(f"watch failed while waiting for {what}: {self.error!r}")
            return predicate()

        await apoll(check, timeout, what=what)

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


async def next_item(gen: AsyncIterator, timeout: float = 10.0):
    return await asyncio.wait_for(gen.__anext__(), timeout)


async def next_events(gen: AsyncIterator, count: int, timeout: float = 10.0) -> list[Event]:
    """Read batches until ``count`` events arrived; anything else is a failure."""
    out: list[Event] = []

    async def enough() -> bool:
        item = await gen.__anext__()
        assert isinstance(item, WatchBatch), f"expected events, got {item!r}"
        out.extend(item.events)
        return len(out) >= count

    await apoll(enough, timeout, interval=0, what=f"{count} events")
    assert len(out) == count, out
    return out


def assert_exactly_once_in_order(events: list[Event], expected_revisions: list[int]) -> None:
    revisions = [e.kv.mod_revision for e in events]
    assert revisions == expected_revisions, (
        f"duplicated={sorted({r for r in revisions if revisions.count(r) > 1})} "
        f"missing={sorted(set(expected_revisions) - set(revisions))} got={revisions}"
    )


# --------------------------------------------------------------------------- KV


async def test_put_get_get_prefix_delete(client: EtcdClient, prefix: str) -> None:
    assert await client.get(prefix + "missing") is None

    r1 = await client.put(prefix + "b", "two")
    r2 = await client.put(prefix + "a", b"\x00one")
    r3 = await client.put(prefix + "c/deep", "three")
    await client.put(prefix[:-1] + "x", "outside the prefix")  # "/test/<name>x" shares the string prefix minus "/"
    assert r1 < r2 < r3

    a = await client.get(prefix + "a")
    assert a == KeyValue(prefix + "a", b"\x00one", r2, r2, 1, 0)

    r4 = await client.put(prefix + "a", "uno")
    a = await client.get(prefix + "a")
    assert (a.value, a.create_revision, a.mod_revision, a.version) == (b"uno", r2, r4, 2)

    kvs, rev = await client.get_prefix(prefix)
    assert [kv.key for kv in kvs] == [prefix + "a", prefix + "b", prefix + "c/deep"]
    assert [kv.value for kv in kvs] == [b"uno", b"two", b"three"]
    assert rev >= r4

    assert await client.delete(prefix + "b") == 1
    assert await client.delete(prefix + "b") == 0
    assert await client.get(prefix + "b") is None

    await client.put(prefix + "c/other", "x")
    assert await client.delete(prefix + "c/", prefix=True) == 2
    kvs, rev2 = await client.get_prefix(prefix)
    assert [kv.key for kv in kvs] == [prefix + "a"]
    assert rev2 > rev
    assert await client.get(prefix[:-1] + "x") is not None  # not under the prefix


async def test_a_range_read_in_pages_is_one_snapshot(client: EtcdClient, prefix: str) -> None:
    for i in range(25):
        await client.put(f"{prefix}k{i:02d}", f"v{i}")
    await client.put(prefix[:-1] + "x", "outside the prefix")
    writes: list[int] = []

    async def writer() -> None:
        # Rewrites keys of every page while the pages are read.
        n = 0
        while True:
            writes.append(await client.put(f"{prefix}k{n % 25:02d}", f"changed{n}"))
            n += 1

    task = asyncio.create_task(writer())
    try:
        await apoll(lambda: writes, 10, what="the writer to start")
        kvs, rev = await client.get_prefix_iter(prefix, page=1)      # 25 pages, one call each
        during = len(writes)
    finally:
        task.cancel()
    got = list(kvs)
    assert during > 1 and writes[-1] > rev          # keys did change while the pages were read ...
    assert [kv.key for kv in got] == [f"{prefix}k{i:02d}" for i in range(25)]
    assert all(kv.mod_revision <= rev for kv in got)  # ... and no page shows a change after the first
    kvs, _ = await client.get_prefix_iter(prefix + "nothing-here/", page=4)
    assert list(kvs) == []


async def test_unicode_keys_and_empty_prefix_result(client: EtcdClient, prefix: str) -> None:
    key = prefix + "clé/ünï"
    await client.put(key, "v")
    kv = await client.get(key)
    assert kv is not None and kv.key == key
    kvs, _ = await client.get_prefix(prefix + "nothing-here/")
    assert kvs == []


# --------------------------------------------------------------------------- txn


async def test_txn_mod_revision_guard(client: EtcdClient, prefix: str) -> None:
    k = prefix + "k"
    rev = await client.put(k, "v1")

    res = await client.txn([Compare.mod_revision(k, "==", rev)], [Op.put(k, "v2")], [Op.get(k)])
    assert isinstance(res, TxnResult)
    assert res.succeeded
    assert res.responses == (res.revision,)  # put -> its revision
    assert (await client.get(k)).value == b"v2"

    # Another write moved mod_revision: the same guard now fails, failure branch runs.
    await client.put(k, "v3")
    res2 = await client.txn([Compare.mod_revision(k, "==", rev)], [Op.put(k, "lost")], [Op.get(k)])
    assert not res2.succeeded
    (got,) = res2.responses
    assert isinstance(got, tuple) and [kv.value for kv in got] == [b"v3"]
    assert (await client.get(k)).value == b"v3"


async def test_txn_create_revision_zero_is_absent_guard_and_atomic(
    client: EtcdClient, prefix: str
) -> None:
    k, other, flag = prefix + "lock", prefix + "other", prefix + "flag"
    await client.put(other, "to-delete")

    res = await client.txn(
        [Compare.create_revision(k, "==", 0)],
        [Op.put(k, "mine"), Op.delete(other), Op.put(flag, "set")],
        [Op.get(k)],
    )
    assert res.succeeded
    assert res.responses == (res.revision, 1, res.revision)
    lock, flagkv = await client.get(k), await client.get(flag)
    # all success ops were applied in one revision
    assert lock.mod_revision == flagkv.mod_revision == res.revision
    assert await client.get(other) is None

    # Key exists now: guard fails, failure branch (several ops) applied atomically.
    res2 = await client.txn(
        [Compare.create_revision(k, "==", 0)],
        [Op.put(k, "theirs")],
        [Op.get(k), Op.put(prefix + "f/1", "x"), Op.put(prefix + "f/2", "y"), Op.get(prefix + "f/", prefix=True)],
    )
    assert not res2.succeeded
    got_lock, put1, put2, got_f = res2.responses
    assert [kv.value for kv in got_lock] == [b"mine"]
    assert put1 == put2 == res2.revision
    assert [(kv.key, kv.value) for kv in got_f] == [(prefix + "f/1", b"x"), (prefix + "f/2", b"y")]
    assert (await client.get(k)).value == b"mine"


async def test_txn_value_and_version_compares(client: EtcdClient, prefix: str) -> None:
    k = prefix + "k"
    await client.put(k, "a")
    await client.put(k, "b")
    ok = await client.txn(
        [Compare.value(k, "==", "b"), Compare.version(k, ">", 1), Compare.version(k, "<", 3)],
        [Op.get(k)],
    )
    assert ok.succeeded and ok.responses[0][0].version == 2
    no = await client.txn([Compare.value(k, "!=", b"b")], [Op.put(k, "c")], [])
    assert not no.succeeded and no.responses == ()
    assert (await client.get(k)).value == b"b"
    with pytest.raises(ValueError):
        Compare.value(k, "<=", "x")


async def test_non_transport_errors_are_etcd_errors(client: EtcdClient, prefix: str) -> None:
    # etcd refuses to modify the same key twice in one txn (INVALID_ARGUMENT).
    with pytest.raises(EtcdError) as info:
        await client.txn([], [Op.put(prefix + "dup", "1"), Op.put(prefix + "dup", "2")])
    assert not isinstance(info.value, EtcdUnavailable)
    assert "duplicate key" in str(info.value)


# --------------------------------------------------------------------------- leases


async def test_lease_grant_keepalive_revoke(client: EtcdClient, prefix: str) -> None:
    lease = await client.lease_grant(30)
    assert lease > 0
    k = prefix + "leased"
    await client.put(k, "alive", lease=lease)
    assert (await client.get(k)).lease == lease

    ttl = await client.lease_keepalive_once(lease)
    assert 25 <= ttl <= 30
    assert 0 < await client.lease_ttl(lease) <= 30

    await client.lease_revoke(lease)
    assert await client.get(k) is None
    assert await client.lease_ttl(lease) == -1
    with pytest.raises(LeaseNotFound):
        await client.lease_keepalive_once(lease)
    await client.lease_revoke(lease)  # already gone: no-op
    with pytest.raises(LeaseNotFound):
        await client.put(prefix + "x", "y", lease=lease)


async def test_lease_expires_without_keepalive(client: EtcdClient, prefix: str) -> None:
    lease = await client.lease_grant(2)
    k = prefix + "ephemeral"
    await client.put(k, "soon gone", lease=lease)
    assert await client.get(k) is not None

    async def gone() -> bool:
        return await client.get(k) is None

    await apoll(gone, 6.0, what="leased key to expire")
    assert await client.lease_ttl(lease) == -1
    with pytest.raises(LeaseNotFound):
        await client.lease_keepalive_once(lease)


async def test_keepalive_keeps_lease_alive(client: EtcdClient, prefix: str) -> None:
    lease = await client.lease_grant(2)
    k = prefix + "kept"
    await client.put(k, "v", lease=lease)
    keep_until = time.monotonic() + 4.0  # twice the TTL: the length of this test, not a wait
    last_keepalive = 0.0

    async def keep() -> bool:
        nonlocal last_keepalive
        if time.monotonic() - last_keepalive >= 0.5:
            await client.lease_keepalive_once(lease)
            last_keepalive = time.monotonic()
        assert await client.get(k) is not None, "key expired despite keep-alives"
        return time.monotonic() >= keep_until

    await apoll(keep, 6.0, what="4s of keep-alives")
    await client.lease_revoke(lease)


# --------------------------------------------------------------------------- watch


async def test_watch_history_replay_then_live(client: EtcdClient, prefix: str) -> None:
    revs = [await client.put(prefix + f"k{i}", f"v{i}") for i in range(3)]
    await client.put(prefix[:-1] + "-outside", "ignored")
    revs.append(await client.put(prefix + "k0", "v0-updated"))

    gen = client.watch_prefix(prefix, revs[0])
    try:
        past = await next_events(gen, 4)
        assert_exactly_once_in_order(past, revs)
        assert [(e.type, e.kv.key, e.kv.value) for e in past] == [
            ("put", prefix + "k0", b"v0"),
            ("put", prefix + "k1", b"v1"),
            ("put", prefix + "k2", b"v2"),
            ("put", prefix + "k0", b"v0-updated"),
        ]
        assert past[3].kv.version == 2 and past[3].kv.create_revision == revs[0]

        # Live: a put, a single delete, a txn writing two keys (one revision), a prefix delete.
        live = [await client.put(prefix + "k3", "v3")]
        await client.put(prefix[:-1] + "-outside", "still ignored")
        live.append(await client.delete(prefix + "k1") and (await client.get_prefix(prefix))[1])
        t = await client.txn([], [Op.put(prefix + "t1", "a"), Op.put(prefix + "t2", "b")])
        live += [t.revision, t.revision]
        assert await client.delete(prefix, prefix=True) == 5  # k0 k2 k3 t1 t2
        del_rev = (await client.get_prefix(prefix))[1]
        live += [del_rev] * 5

        got = await next_events(gen, len(live))
        assert_exactly_once_in_order(got, live)
        assert (got[0].type, got[0].kv.value) == ("put", b"v3")
        assert got[1].type == "delete" and got[1].kv.key == prefix + "k1" and got[1].kv.value == b""
        assert [(e.kv.key, e.kv.value) for e in got[2:4]] == [(prefix + "t1", b"a"), (prefix + "t2", b"b")]
        assert all(e.type == "delete" and e.kv.value == b"" for e in got[4:])
        assert sorted(e.kv.key for e in got[4:]) == sorted(prefix + k for k in ("k0", "k2", "k3", "t1", "t2"))
    finally:
        await gen.aclose()


async def test_watch_batch_revision_and_start_from_middle(client: EtcdClient, prefix: str) -> None:
    revs = [await client.put(prefix + "k", str(i)) for i in range(5)]
    gen = client.watch_prefix(prefix, revs[2])
    try:
        item = await next_item(gen)
        assert isinstance(item, WatchBatch)
        assert item.revision >= revs[-1]
        events = list(item.events)
        if len(events) < 3:
            events += await next_events(gen, 3 - len(events))
        assert_exactly_once_in_order(events, revs[2:])
    finally:
        await gen.aclose()
    with pytest.raises(ValueError):
        client.watch_prefix(prefix, 0)


async def test_cancelling_the_consumer_or_closing_the_generator_ends_the_server_watch(
    etcd: EtcdServer, client: EtcdClient, prefix: str
) -> None:
    def watchers() -> int:
        return int(etcd.metric("etcd_debugging_mvcc_watcher_total"))

    # Earlier tests closed their watches; etcd drops them asynchronously.
    await apoll(lambda: watchers() == 0, 5, what="no watchers left over from earlier tests")
    baseline = 0
    start = await client.put(prefix + "a", "1")

    # 1. cancel the task that consumes the watch
    consumer = Consumer(client.watch_prefix(prefix, start))
    await consumer.wait(lambda: len(consumer.events()) == 1, 10, "first event")
    assert watchers() == baseline + 1
    await consumer.stop()
    assert consumer.task.cancelled() and consumer.error is None
    with pytest.raises(StopAsyncIteration):  # the generator is finished
        await consumer.gen.__anext__()
    await apoll(lambda: watchers() == baseline, 5, what="etcd to drop the cancelled watcher")

    # 2. close the generator
    rev = await client.put(prefix + "b", "2")
    gen = client.watch_prefix(prefix, rev)
    (e,) = await next_events(gen, 1)
    assert e.kv.key == prefix + "b"
    assert watchers() == baseline + 1
    await gen.aclose()
    await apoll(lambda: watchers() == baseline, 5, what="etcd to drop the closed watcher")


async def test_watch_survives_etcd_sigkill_and_restart(own_etcd: EtcdServer) -> None:
    """THE key property: a crash of etcd is reported, survived, and loses/duplicates nothing."""
    prefix = "/svc/"
    async with EtcdClient([own_etcd.endpoint], timeout=2.0) as c:
        start = await c.put(prefix + "before-watch", "0")
        consumer = Consumer(c.watch_prefix(prefix, start))
        expected = [start]
        for i in range(5):
            expected.append(await c.put(prefix + f"pre{i}", str(i)))
        # These are certainly delivered before the crash (a resume that replays
        # from the original start revision would deliver them twice).
        await consumer.wait(lambda: len(consumer.events()) == len(expected), 10, "pre-crash events")
        # Just before the crash: these may or may not have been delivered when etcd dies.
        for i in range(3):
            expected.append(await c.put(prefix + f"last{i}", str(i)))

        own_etcd.kill()
        await consumer.wait(lambda: consumer.of_type(WatchInterrupted), 10, "WatchInterrupted")
        assert not consumer.of_type(WatchResumed)

        await asyncio.to_thread(own_etcd.start)
        await consumer.wait(lambda: consumer.of_type(WatchResumed), 15, "WatchResumed")

        for i in range(3):
            expected.append(await c.put(prefix + f"post{i}", str(i)))
        expected.append(await c.delete(prefix + "pre0") and (await c.get_prefix(prefix))[1])
        await consumer.wait(lambda: len(consumer.events()) >= len(expected), 10, "all events")
        await consumer.stop()

    assert consumer.error is None
    assert_exactly_once_in_order(consumer.events(), expected)
    assert len(consumer.of_type(WatchInterrupted)) == 1, consumer.items
    assert len(consumer.of_type(WatchResumed)) == 1, consumer.items
    # Order of notifications: interrupted strictly before resumed.
    kinds = [type(i).__name__ for i in consumer.items if not isinstance(i, WatchBatch)]
    assert kinds == ["WatchInterrupted", "WatchResumed"]
    interrupted = consumer.of_type(WatchInterrupted)[0]
    assert "UNAVAILABLE" in interrupted.error or "closed" in interrupted.error


async def test_watch_replays_events_written_while_it_was_disconnected(own_etcd: EtcdServer) -> None:
    prefix = "/svc/"
    writer = EtcdClient([own_etcd.endpoint], timeout=2.0)
    watcher = EtcdClient([own_etcd.endpoint], timeout=2.0)
    try:
        r0 = await writer.put(prefix + "a", "1")
        gen = watcher.watch_prefix(prefix, r0)
        assert_exactly_once_in_order(await next_events(gen, 1), [r0])

        own_etcd.kill()
        item = await next_item(gen, 10)
        assert isinstance(item, WatchInterrupted), item
        # The generator is lazy: nothing reconnects until we ask for the next item,
        # so these writes are certainly made while the watch is down.
        own_etcd.start()
        missed = [await writer.put(prefix + f"m{i}", str(i)) for i in range(4)]
        missed.append(await writer.delete(prefix + "a") and (await writer.get_prefix(prefix))[1])

        item = await next_item(gen, 15)
        assert item == WatchResumed(r0 + 1)
        got = await next_events(gen, len(missed))
        assert_exactly_once_in_order(got, missed)
        assert got[-1].type == "delete"
        await gen.aclose()
    finally:
        await writer.close()
        await watcher.close()


async def test_watch_started_while_etcd_down_reports_then_resumes(own_etcd: EtcdServer) -> None:
    async with EtcdClient([own_etcd.endpoint], timeout=1.0) as c:
        r = await c.put("/x/a", "1")
        own_etcd.kill()
        gen = c.watch_prefix("/x/", r)
        try:
            assert isinstance(await next_item(gen, 10), WatchInterrupted)
            own_etcd.start()
            assert await next_item(gen, 15) == WatchResumed(r)
            assert_exactly_once_in_order(await next_events(gen, 1), [r])
        finally:
            await gen.aclose()


# --------------------------------------------------------------------------- compaction


async def test_watch_from_compacted_revision_raises(own_etcd: EtcdServer) -> None:
    async with EtcdClient([own_etcd.endpoint]) as c:
        first = await c.put("/c/k", "0")
        for i in range(1, 5):
            last = await c.put("/c/k", str(i))
        await c.compact(last)
        gen = c.watch_prefix("/c/", first)
        with pytest.raises(WatchCompacted) as info:
            await next_item(gen)
        assert info.value.compact_revision == last
        assert isinstance(info.value, EtcdError)
        # Re-listing and watching from the listed revision works.
        kvs, rev = await c.get_prefix("/c/")
        assert [kv.value for kv in kvs] == [b"4"]
        gen2 = c.watch_prefix("/c/", rev + 1)
        r = await c.put("/c/k", "5")
        assert_exactly_once_in_order(await next_events(gen2, 1), [r])
        await gen2.aclose()


async def test_resume_after_compaction_raises_watch_compacted(own_etcd: EtcdServer) -> None:
    async with EtcdClient([own_etcd.endpoint]) as writer, EtcdClient([own_etcd.endpoint]) as watcher:
        r0 = await writer.put("/c/k", "0")
        gen = watcher.watch_prefix("/c/", r0)
        assert_exactly_once_in_order(await next_events(gen, 1), [r0])
        own_etcd.kill()
        assert isinstance(await next_item(gen, 10), WatchInterrupted)
        own_etcd.start()
        for i in range(3):
            last = await writer.put("/c/k", str(i + 1))
        await writer.compact(last)
        assert await next_item(gen, 15) == WatchResumed(r0 + 1)
        with pytest.raises(WatchCompacted) as info:
            await next_item(gen, 10)
        assert info.value.compact_revision == last


async def test_a_followed_prefix_is_listed_again_after_a_compaction(own_etcd: EtcdServer) -> None:
    import logging

    from shoal.etcd.follow import follow_prefix
    copy: dict[str, bytes] = {}
    loads: list[int] = []

    def load(kvs) -> None:
        copy.clear()
        copy.update((kv.key, kv.value) for kv in kvs)
        loads.append(len(kvs))

    def apply(events) -> None:
        for ev in events:
            if ev.type == "put":
                copy[ev.kv.key] = ev.kv.value
            else:
                copy.pop(ev.kv.key, None)

    async with EtcdClient([own_etcd.endpoint]) as writer, EtcdClient([own_etcd.endpoint]) as watcher:
        await writer.put("/f/a", "1")
        task = asyncio.create_task(follow_prefix(watcher, "/f/", load=load, apply=apply,
                                                 log=logging.getLogger("test"), what="test"))
        try:
            await apoll(lambda: loads, 10, what="the first listing")
            await writer.put("/f/b", "2")
            await writer.delete("/f/a")
            await apoll(lambda: copy == {"/f/b": b"2"}, 10, what="the watch's events")
            own_etcd.kill()
            own_etcd.start()
            await writer.put("/f/c", "3")
            last = await writer.put("/f/b", "22")
            await writer.compact(last)
            # The watch resumes from a compacted revision: the prefix is listed again.
            await apoll(lambda: len(loads) == 2, 20, what="a second listing")
            await apoll(lambda: copy == {"/f/b": b"22", "/f/c": b"3"}, 10, what="the copy to match etcd")
            await writer.put("/f/d", "4")
            await apoll(lambda: copy.get("/f/d") == b"4", 10, what="events after the reload")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# --------------------------------------------------------------------------- endpoints


async def test_failover_to_the_live_endpoint(etcd: EtcdServer, prefix: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for endpoints in ([dead, etcd.endpoint], [etcd.endpoint, dead]):
        async with EtcdClient(endpoints, timeout=2.0) as c:
            rev = await c.put(prefix + "k", "v")
            assert (await c.get(prefix + "k")).mod_revision == rev
            assert (await c.txn([Compare.mod_revision(prefix + "k", "==", rev)], [Op.put(prefix + "k", "w")])).succeeded
            lease = await c.lease_grant(10)
            assert await c.lease_keepalive_once(lease) > 0
            await c.lease_revoke(lease)
        # A fresh client whose very first call is the watch must fail over too,
        # without a spurious WatchInterrupted.
        async with EtcdClient(endpoints, timeout=2.0) as w:
            gen = w.watch_prefix(prefix, rev)
            try:
                first = await next_item(gen)
                assert isinstance(first, WatchBatch), first
                assert first.events[0].kv.mod_revision == rev
            finally:
                await gen.aclose()
        async with EtcdClient(endpoints, timeout=2.0) as c:
            assert await c.delete(prefix, prefix=True) == 1


async def test_unavailable_when_no_endpoint_is_up() -> None:
    endpoints = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    async with EtcdClient(endpoints, timeout=1.0) as c:
        for call in (
            lambda: c.get("/k"),
            lambda: c.put("/k", "v"),
            lambda: c.txn([], [Op.delete("/k")]),
            lambda: c.lease_keepalive_once(1234),
        ):
            t0 = time.monotonic()
            with pytest.raises(EtcdUnavailable) as info:
                await call()
            elapsed = time.monotonic() - t0
            assert elapsed < 3.0, elapsed
            assert "Connection refused" in str(info.value) or "failed to connect" in str(info.value)


async def test_blackholed_endpoint_respects_timeout_and_fails_over(etcd: EtcdServer, prefix: str) -> None:
    # A listening socket nobody accepts on: TCP connects (backlog), nothing ever answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        hole = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        async with EtcdClient([hole], timeout=1.0) as c:
            for call in (lambda: c.get("/k"), lambda: c.put("/k", "v")):
                t0 = time.monotonic()
                with pytest.raises(EtcdUnavailable):
                    await call()
                assert time.monotonic() - t0 < 3.0

        async with EtcdClient([etcd.endpoint]) as direct:
            rev = await direct.put(prefix + "k", "v")
        async with EtcdClient([hole, etcd.endpoint], timeout=1.0) as c:
            t0 = time.monotonic()
            assert (await c.get(prefix + "k")).mod_revision == rev  # read fails over
            assert time.monotonic() - t0 < 3.0
        async with EtcdClient([hole, etcd.endpoint], timeout=1.0) as c:
            # Nothing was ever sent to the blackhole (no connection), so even a
            # mutation may safely move on to the next endpoint.
            t0 = time.monotonic()
            assert await c.put(prefix + "k", "w") > rev
            assert time.monotonic() - t0 < 3.0
    # A fresh blackhole for the watch: gRPC shares subchannels process-wide, and the
    # one above is already known to be failing.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blackhole2:
        blackhole2.bind(("127.0.0.1", 0))
        blackhole2.listen(16)
        hole2 = f"http://127.0.0.1:{blackhole2.getsockname()[1]}"
        async with EtcdClient([hole2, etcd.endpoint], timeout=1.0) as w:
            gen = w.watch_prefix(prefix, rev)
            try:
                t0 = time.monotonic()
                first = await next_item(gen, 5)
                assert isinstance(first, WatchBatch), first
                assert time.monotonic() - t0 < 3.0
            finally:
                await gen.aclose()


def test_endpoint_validation() -> None:
    with pytest.raises(ValueError):
        EtcdClient([])
    with pytest.raises(ValueError):
        EtcdClient(["https://127.0.0.1:2379"])  # https needs TlsConfig
    with pytest.raises(ValueError):
        EtcdClient(["unix:///tmp/x"])
    EtcdClient(["127.0.0.1:2379", "http://[::1]:2379"])


async def test_closing_the_client_fails_calls_and_watches_loudly(etcd: EtcdServer, prefix: str) -> None:
    c = EtcdClient([etcd.endpoint])
    rev = await c.put(prefix + "k", "v")
    consumer = Consumer(c.watch_prefix(prefix, rev))
    await consumer.wait(lambda: consumer.events(), 10, "first event")
    await c.close()
    # The consumer task was not cancelled: it must get an EtcdError, not a
    # CancelledError leaking out of grpc, and not a silent end of iteration.
    await apoll(lambda: consumer.task.done(), 5, what="watch to end")
    assert not consumer.task.cancelled()
    assert isinstance(consumer.error, EtcdError) and "closed" in str(consumer.error)
    with pytest.raises(EtcdError):
        await c.get(prefix + "k")


# --------------------------------------------------------------------------- TLS


def _make_pki(d: Path) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("shoal-test-ca"))
        .issuer_name(name("shoal-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage, san: bool):
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return k, b.sign(ca_key, hashes.SHA256())

    files: dict[str, Path] = {}

    def write(label: str, k, cert) -> None:
        files[label + ".crt"] = d / f"{label}.crt"
        files[label + ".crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if k is not None:
            files[label + ".key"] = d / f"{label}.key"
            files[label + ".key"].write_bytes(
                k.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )

    write("ca", None, ca)
    write("server", *leaf("etcd-server", ExtendedKeyUsageOID.SERVER_AUTH, True))
    write("client", *leaf("shoal-manager", ExtendedKeyUsageOID.CLIENT_AUTH, False))
    return files


async def test_tls_with_client_certificate(tmp_path: Path) -> None:
    pki = _make_pki(tmp_path)
    server = EtcdServer(
        tmp_path / "etcd",
        tls=ServerTls(
            ca_file=pki["ca.crt"],
            cert_file=pki["server.crt"],
            key_file=pki["server.key"],
            client_cert_file=pki["client.crt"],
            client_key_file=pki["client.key"],
        ),
    )
    server.start()
    try:
        assert server.endpoint.startswith("https://")
        tls = TlsConfig(
            ca=pki["ca.crt"].read_bytes(),
            cert=pki["client.crt"].read_bytes(),
            key=pki["client.key"].read_bytes(),
        )
        async with EtcdClient([server.endpoint], timeout=2.0, tls=tls) as c:
            rev = await c.put("/tls/k", "secret")
            assert (await c.get("/tls/k")).value == b"secret"
            gen = c.watch_prefix("/tls/", rev)
            assert_exactly_once_in_order(await next_events(gen, 1), [rev])
            await gen.aclose()
        # Without a client certificate the server refuses the handshake.
        async with EtcdClient([server.endpoint], timeout=1.0, tls=TlsConfig(ca=tls.ca)) as c:
            with pytest.raises(EtcdUnavailable):
                await c.get("/tls/k")
    finally:
        server.stop()
