"""What every CLI command shares: the manager stub and gRPC error handling."""
from __future__ import annotations

from dataclasses import dataclass, field

import click
import grpc

from shoal.client import certificate_problem, connect, resolve_credentials, resolve_manager

CALL_TIMEOUT = 30.0


@dataclass
class Ctx:
    manager_flag: str | None = None
    tls_dir: str | None = None
    insecure: bool = False
    _stub: object = field(default=None, repr=False)

    def stub(self):
        global _credentials
        if self._stub is None:
            address = resolve_manager(self.manager_flag)
            creds = _credentials = resolve_credentials(self.tls_dir, self.insecure)
            _, self._stub = connect(address, creds)
        return self._stub


# The credentials of this run's calls: a refused handshake is explained from them.
_credentials = None


pass_ctx = click.make_pass_decorator(Ctx, ensure=True)


def rpc_error_message(exc: grpc.RpcError) -> str:
    code = exc.code()
    details = exc.details() or code.name
    lowered = details.lower()
    problem = certificate_problem(_credentials) if code == grpc.StatusCode.UNAVAILABLE and _credentials else None
    if problem:
        return f"TLS: the manager refused our certificate: {problem}"
    if code == grpc.StatusCode.UNAVAILABLE and ("certificate_verify_failed" in lowered or "handshake" in lowered):
        return ("TLS: the manager's certificate does not verify against this context's CA "
                f"(another cluster, or not a Shoal manager): {details}")
    if code == grpc.StatusCode.UNAVAILABLE and ("socket closed" in lowered or "connection reset" in lowered):
        return ("TLS: the manager closed the connection during the handshake: our client certificate is "
                f"refused (from another CA, expired, or revoked), or the manager serves no TLS: {details}")
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in lowered:
        return f"manager unreachable: {details}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the manager did not answer in time ({details})"
    return details
