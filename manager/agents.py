"""Channels from the manager to the agents: each agent must present the certificate of the node
the manager means to call (its node id), not merely any certificate of the cluster."""
from __future__ import annotations

from typing import Callable

from shoal.manager.channels import Channels
from shoal.pki.ca import node_name
from shoal.pki.renewal import Holder
from shoal.protos.shoal.v1 import agent_pb2_grpc

# Matches no certificate: a call to an address no live node claims fails its TLS check.
NO_NODE = "unknown.invalid"


class AgentPool(Channels[agent_pb2_grpc.AgentStub]):
    def __init__(self, holder: Holder | None, node_at: Callable[[str], str | None] = lambda a: None):
        def peer_name(address: str) -> str:
            node_id = node_at(address)
            return node_name(node_id) if node_id else NO_NODE
        super().__init__(agent_pb2_grpc.AgentStub, holder, peer_name)
