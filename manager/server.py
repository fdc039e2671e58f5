"""The manager's one gRPC server; TLS will slot in here and only here."""
from __future__ import annotations

import grpc

from protos.limits import SERVER_OPTIONS
from protos.shoal.v1 import manager_pb2_grpc


def build_server(listen: str, servicer: manager_pb2_grpc.ManagerServicer, *, insecure: bool) -> grpc.aio.Server:
    if not insecure:
        raise ValueError("--insecure: mutual TLS is not available yet; start the manager with --insecure")
    server = grpc.aio.server(options=SERVER_OPTIONS, maximum_concurrent_rpcs=4096)
    manager_pb2_grpc.add_ManagerServicer_to_server(servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise OSError(f"--listen: cannot bind {listen}")
    return server
