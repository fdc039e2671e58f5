"""shoal.dns.batch_udp on real sockets (127.0.0.1 and ::1): many datagrams per system call, each
answer to its own sender, the sender's address as recvfrom gives it, oversize datagrams kept
recognisable, and a reader woken when the socket is shut down (how the server stops its thread)."""
from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from shoal.dns.batch_udp import BATCH, open_batch

pytestmark = pytest.mark.integration

SLOT = 512
TIMEOUT = 5.0


def _server(family: int, host: str):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    batch = open_batch(sock, SLOT)
    assert batch is not None, "recvmmsg/sendmmsg are Linux's; this machine is Linux"
    return sock, batch


def _echo(batch, rounds: int) -> list:
    """Answers every datagram with b'>' + itself, `rounds` batches; returns the batch sizes."""
    sizes = []
    for _ in range(rounds):
        n = batch.recv()
        sizes.append(n)
        for i in range(n):
            data = batch.datagram(i)
            assert batch.reply(i, b">", data)
        batch.send()
    return sizes


@pytest.mark.parametrize("family, host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_each_sender_gets_its_own_answer_and_is_named_as_recvfrom_names_it(family, host):
    sock, batch = _server(family, host)
    clients = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(BATCH + 36)]   # more than a batch
    try:
        for c in clients:
            c.settimeout(TIMEOUT)
            c.bind((host, 0))
        # All sent before the server reads: the first recv takes a full batch.
        for k, c in enumerate(clients):
            c.sendto(b"query-%d" % k, sock.getsockname())
        n = batch.recv()
        assert n == BATCH
        senders = {batch.address(i)[:2] for i in range(n)}
        assert senders == {c.getsockname()[:2] for c in clients[:BATCH]}
        # Answered out of order (as the server does when it hands some queries to its loop):
        # the queue position is not the slot, the address must still be the slot's.
        order = [i for i in range(n) if i % 3] + [i for i in range(n) if not i % 3]
        for i in order:
            assert batch.reply(i, b">", batch.datagram(i))
        batch.send()
        rest = threading.Thread(target=_echo, args=(batch, 1))
        rest.start()
        rest.join(TIMEOUT)
        for k, c in enumerate(clients):
            assert c.recv(SLOT) == b">query-%d" % k
    finally:
        for c in clients:
            c.close()
        sock.close()


def test_a_datagram_longer_than_a_slot_reads_longer_than_a_slot():
    sock, batch = _server(socket.AF_INET, "127.0.0.1")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        client.sendto(b"x" * (SLOT * 3), sock.getsockname())
        client.sendto(b"y" * SLOT, sock.getsockname())
        got = []
        while len(got) < 2:
            got += [batch.datagram(i) for i in range(batch.recv())]
        assert len(got[0]) == SLOT + 1 and got[1] == b"y" * SLOT
    finally:
        client.close()
        sock.close()


def test_an_answer_that_does_not_fit_a_slot_is_left_to_the_caller():
    sock, batch = _server(socket.AF_INET, "127.0.0.1")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(TIMEOUT)
    try:
        client.sendto(b"q", sock.getsockname())
        assert batch.recv() == 1
        assert not batch.reply(0, b"", b"z" * (SLOT + 1))
        assert batch.reply(0, b"", b"fits")
        batch.send()
        assert client.recv(SLOT) == b"fits"
    finally:
        client.close()
        sock.close()


def test_a_socket_shut_down_under_a_waiting_recv_wakes_it():
    sock, batch = _server(socket.AF_INET, "127.0.0.1")
    woke = []

    def wait():
        try:
            woke.append(batch.recv())
        except OSError as exc:
            woke.append(exc)

    reader = threading.Thread(target=wait)
    reader.start()
    try:
        # What DnsServer.stop does: Linux wakes the reader though an unconnected UDP socket
        # answers ENOTCONN.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        reader.join(TIMEOUT)
        assert not reader.is_alive() and woke
    finally:
        sock.close()
