"""Channels from the manager to the agents."""
from __future__ import annotations

from manager.channels import Channels
from protos.shoal.v1 import agent_pb2_grpc


class AgentPool(Channels[agent_pb2_grpc.AgentStub]):
    def __init__(self, *, insecure: bool):
        super().__init__(agent_pb2_grpc.AgentStub, insecure=insecure)
