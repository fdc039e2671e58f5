"""The manager's outgoing gRPC channels, one per address, made in this one place.

With TLS, each channel presents this manager's certificate and expects the peer's name
(manager.shoal for managers, <node id>.node.shoal for agents); when the manager's
certificate is renewed, channels are rebuilt on next use.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Generic, TypeVar

import grpc

from shoal.pki.grpc_tls import channel_credentials, expect_name
from shoal.pki.renewal import Holder
from shoal.protos.limits import GRPC_OPTIONS

S = TypeVar("S")
# Calls in flight on a replaced channel (a long `logs -f`) get this long to finish.
RETIRE_GRACE = 60.0


class Channels(Generic[S]):
    def __init__(self, stub_class: Callable[[grpc.aio.Channel], S], holder: Holder | None,
                 peer_name: Callable[[str], str] = lambda address: ""):
        """holder None: plaintext (the manager runs with --insecure)."""
        self._stub_class = stub_class
        self._holder = holder
        self._peer_name = peer_name
        self._generation = holder.generation if holder else 0
        self._channels: dict[str, tuple[str, grpc.aio.Channel]] = {}
        self._retiring: set[asyncio.Task] = set()

    def _retire(self, channel: grpc.aio.Channel) -> None:
        task = asyncio.get_running_loop().create_task(channel.close(grace=RETIRE_GRACE))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _open(self, address: str, name: str) -> grpc.aio.Channel:
        if self._holder is None:
            return grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
        creds = self._holder.current
        return grpc.aio.secure_channel(address, channel_credentials(creds.ca, creds),
                                       options=[*GRPC_OPTIONS, *expect_name(name)])

    def stub(self, address: str) -> S:
        if self._holder is not None and self._holder.generation != self._generation:
            self._generation = self._holder.generation
            stale, self._channels = self._channels, {}
            for _, channel in stale.values():
                self._retire(channel)
        name = self._peer_name(address) if self._holder is not None else ""
        entry = self._channels.get(address)
        if entry is None or entry[0] != name:
            if entry is not None:
                self._retire(entry[1])
            entry = (name, self._open(address, name))
            self._channels[address] = entry
        return self._stub_class(entry[1])

    async def forget(self, address: str) -> None:
        entry = self._channels.pop(address, None)
        if entry is not None:
            await entry[1].close()

    async def close(self) -> None:
        for address in list(self._channels):
            await self.forget(address)
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
