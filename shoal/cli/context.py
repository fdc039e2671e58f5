"""What every CLI command shares: the manager stub and gRPC error handling."""
from __future__ import annotations

from dataclasses import dataclass, field

import click
import grpc

from shoal.client import connect, resolve_manager

CALL_TIMEOUT = 30.0


@dataclass
class Ctx:
    manager_flag: str | None = None
    _stub: object = field(default=None, repr=False)

    def stub(self):
        if self._stub is None:
            _, self._stub = connect(resolve_manager(self.manager_flag))
        return self._stub


pass_ctx = click.make_pass_decorator(Ctx, ensure=True)


def rpc_error_message(exc: grpc.RpcError) -> str:
    code = exc.code()
    details = exc.details() or code.name
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in details.lower():
        return f"manager unreachable: {details}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the manager did not answer in time ({details})"
    return details
