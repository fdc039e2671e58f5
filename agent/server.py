"""The agent's one gRPC server; TLS will slot in here and only here."""
from __future__ import annotations

import grpc

from protos.limits import SERVER_OPTIONS
from protos.shoal.v1 import agent_pb2_grpc


def build_server(listen: str, servicer: agent_pb2_grpc.AgentServicer, *, insecure: bool) -> grpc.aio.Server:
    if not insecure:
        raise ValueError("--insecure: mutual TLS is not available yet; start the agent with --insecure")
    server = grpc.aio.server(options=SERVER_OPTIONS, maximum_concurrent_rpcs=1024)
    agent_pb2_grpc.add_AgentServicer_to_server(servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise OSError(f"--listen: cannot bind {listen}")
    return server
