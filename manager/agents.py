"""Channels from the manager to the agents: the one place they are made (TLS slots in here)."""
from __future__ import annotations

import grpc

from protos.limits import GRPC_OPTIONS
from protos.shoal.v1 import agent_pb2_grpc


class AgentPool:
    def __init__(self, *, insecure: bool):
        if not insecure:
            raise ValueError("--insecure: mutual TLS is not available yet; start the manager with --insecure")
        self._channels: dict[str, grpc.aio.Channel] = {}

    def stub(self, address: str) -> agent_pb2_grpc.AgentStub:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
            self._channels[address] = channel
        return agent_pb2_grpc.AgentStub(channel)

    async def forget(self, address: str) -> None:
        channel = self._channels.pop(address, None)
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        for address in list(self._channels):
            await self.forget(address)
