"""The manager's one gRPC server: the API port (mutual TLS) and the join port (TLS, no client
certificate: the join token authenticates). Plaintext only with an explicit --insecure."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import grpc

from shoal.pki.ca import ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER
from shoal.pki.files import Credentials
from shoal.pki.grpc_tls import Revocations, RoleCheck, server_credentials
from shoal.protos.limits import SERVER_OPTIONS
from shoal.protos.shoal.v1 import manager_pb2_grpc

# Admins drive the API; managers forward writes to the leader with their own certificate.
API_ROLES = frozenset({ROLE_ADMIN, ROLE_MANAGER})
PER_METHOD = {
    "Join": frozenset(),                                       # the token is checked instead
    "Renew": frozenset({ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER}),  # each renews its own name only
}


@dataclass
class Security:
    credentials: Callable[[], Credentials]
    revoked: Revocations
    join_listen: str


def build_server(listen: str, servicer: manager_pb2_grpc.ManagerServicer,
                 security: Security | None) -> grpc.aio.Server:
    """security None: plaintext, for a manager started with --insecure."""
    interceptors = [RoleCheck(API_ROLES, PER_METHOD, security.revoked)] if security else []
    server = grpc.aio.server(options=SERVER_OPTIONS, maximum_concurrent_rpcs=4096, interceptors=interceptors)
    manager_pb2_grpc.add_ManagerServicer_to_server(servicer, server)
    if security is None:
        bound = server.add_insecure_port(listen)
    else:
        bound = server.add_secure_port(listen, server_credentials(security.credentials, require_client_auth=True))
        if server.add_secure_port(security.join_listen,
                                  server_credentials(security.credentials, require_client_auth=False)) == 0:
            raise OSError(f"--join-listen: cannot bind {security.join_listen}")
    if bound == 0:
        raise OSError(f"--listen: cannot bind {listen}")
    return server
