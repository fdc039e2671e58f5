"""A tiny upstream resolver for tests: answers *.test names from a fixed table over UDP.
It plays "the host's upstream DNS" so that forwarding is tested without leaving the machine."""
from __future__ import annotations

import socket
import threading

from dnslib import QTYPE, RR, A, DNSRecord


class FakeResolver:
    def __init__(self, host: str, port: int, table: dict[str, str]):
        self.table = {k.rstrip(".").lower(): v for k, v in table.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            try:
                query = DNSRecord.parse(data)
            except Exception:
                continue
            self.queries += 1
            reply = query.reply()
            name = str(query.q.qname).rstrip(".").lower()
            if name in self.table and query.q.qtype == QTYPE.A:
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(self.table[name]), ttl=60))
            elif name not in self.table:
                reply.header.rcode = 3
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
