"""The agent's one gRPC server: mutual TLS, managers only. Plaintext only with an explicit --insecure."""
from __future__ import annotations

from typing import Callable

import grpc

from shoal.pki.ca import ROLE_MANAGER
from shoal.pki.files import Credentials
from shoal.pki.grpc_tls import Revocations, RoleCheck, server_credentials
from shoal.protos.limits import SERVER_OPTIONS
from shoal.protos.shoal.v1 import agent_pb2_grpc


def build_server(listen: str, servicer: agent_pb2_grpc.AgentServicer,
                 credentials: Callable[[], Credentials] | None, revoked: Revocations) -> grpc.aio.Server:
    """credentials None: plaintext, for an agent started with --insecure."""
    interceptors = [RoleCheck(frozenset({ROLE_MANAGER}), {}, revoked)] if credentials else []
    server = grpc.aio.server(options=SERVER_OPTIONS, maximum_concurrent_rpcs=1024, interceptors=interceptors)
    agent_pb2_grpc.add_AgentServicer_to_server(servicer, server)
    if credentials is None:
        bound = server.add_insecure_port(listen)
    else:
        bound = server.add_secure_port(listen, server_credentials(credentials, require_client_auth=True))
    if bound == 0:
        raise OSError(f"--listen: cannot bind {listen}")
    return server
