"""Channels from a follower manager to the leader: the one place they are made."""
from __future__ import annotations

import grpc

from protos.limits import GRPC_OPTIONS
from protos.shoal.v1 import manager_pb2_grpc


class Peers:
    def __init__(self, *, insecure: bool):
        if not insecure:
            raise ValueError("--insecure: mutual TLS is not available yet; start the manager with --insecure")
        self._channels: dict[str, grpc.aio.Channel] = {}

    def stub(self, address: str) -> manager_pb2_grpc.ManagerStub:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
            self._channels[address] = channel
        return manager_pb2_grpc.ManagerStub(channel)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
