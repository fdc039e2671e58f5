"""The manager's outgoing gRPC channels, one per address, made in this one place (TLS slots in here)."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

import grpc

from protos.limits import GRPC_OPTIONS

S = TypeVar("S")


class Channels(Generic[S]):
    def __init__(self, stub_class: Callable[[grpc.aio.Channel], S], *, insecure: bool):
        if not insecure:
            raise ValueError("--insecure: mutual TLS is not available yet; start the manager with --insecure")
        self._stub_class = stub_class
        self._channels: dict[str, grpc.aio.Channel] = {}

    def stub(self, address: str) -> S:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
            self._channels[address] = channel
        return self._stub_class(channel)

    async def forget(self, address: str) -> None:
        channel = self._channels.pop(address, None)
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        for address in list(self._channels):
            await self.forget(address)
