"""TLS for gRPC: server and channel credentials, and the role check every server runs on every call.

The TLS handshake proves the peer holds a certificate of the cluster CA that has not expired;
the interceptor below then checks the certificate's role (OU) against the method called and
refuses revoked serials, so a revocation takes effect on the next call, not the next connection.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Iterable

import grpc

from shoal.pki.files import Credentials

if TYPE_CHECKING:
    from shoal.pki.identity import Identity

log = logging.getLogger("shoal.tls")


def server_credentials(current: Callable[[], Credentials], *, require_client_auth: bool) -> grpc.ServerCredentials:
    """Credentials re-read at each new handshake, so a renewed certificate is served without a restart.

    The chain sent includes the CA certificate: a joining host reads it from the handshake and
    checks it against the digest in its join token before trusting anything.
    """
    first = current()
    served = {"cert": first.cert}

    def config(c: Credentials):
        return grpc.ssl_server_certificate_configuration([(c.key, c.cert + c.ca)], root_certificates=c.ca)

    def fetch():
        c = current()
        if c.cert == served["cert"]:
            return None
        served["cert"] = c.cert
        return config(c)

    return grpc.dynamic_ssl_server_credentials(config(first), fetch,
                                               require_client_authentication=require_client_auth)


def channel_credentials(ca: bytes, creds: Credentials | None) -> grpc.ChannelCredentials:
    if creds is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=creds.key, certificate_chain=creds.cert)


def expect_name(name: str) -> list[tuple[str, str]]:
    """Channel options that make the client verify the server's certificate for `name`
    (a role name such as manager.shoal, or a node's name), whatever address it dialled."""
    return [("grpc.ssl_target_name_override", name), ("grpc.default_authority", name)]


def caller(context) -> Identity | None:
    """The verified client certificate's identity, None when the client sent none."""
    certs = (context.auth_context() or {}).get("x509_pem_cert")
    if not certs:
        return None
    from shoal.pki import identity   # not at the top: the CLI imports this module and never needs X.509
    return identity.of_pem(certs[0])


class Revocations:
    """Serials refused everywhere; fed from etcd by the process that owns it."""

    def __init__(self, serials: Iterable[str] = ()):
        self._serials = set(serials)

    def replace(self, serials: Iterable[str]) -> None:
        self._serials = set(serials)

    def add(self, serial: str) -> None:
        self._serials.add(serial)

    def discard(self, serial: str) -> None:
        self._serials.discard(serial)

    def __contains__(self, serial: str) -> bool:
        return serial in self._serials

    def __len__(self) -> int:
        return len(self._serials)


class RoleCheck(grpc.aio.ServerInterceptor):
    """Every method needs one of `default` roles unless `per_method` says otherwise;
    an empty set means the method is open to callers without a certificate (joining)."""

    def __init__(self, default: frozenset[str], per_method: dict[str, frozenset[str]], revoked: Revocations):
        self._default = default
        self._per_method = per_method
        self._revoked = revoked

    def refusal(self, context, method: str) -> tuple[grpc.StatusCode, str] | None:
        roles = self._per_method.get(method, self._default)
        if not roles:
            return None
        who = caller(context)
        if who is None:
            return grpc.StatusCode.UNAUTHENTICATED, f"{method}: a client certificate of the cluster CA is required"
        if who.serial in self._revoked:
            return grpc.StatusCode.UNAUTHENTICATED, f"{method}: certificate {who.serial} of {who} has been revoked"
        if who.role not in roles:
            return (grpc.StatusCode.PERMISSION_DENIED,
                    f"{method}: {'an' if who.role[:1] in 'aeiou' else 'a'} {who.role} certificate may not call this (needs {' or '.join(sorted(roles))})")
        return None

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]
        check = self.refusal

        async def deny_or_pass(context) -> None:
            refused = check(context, method)
            if refused is not None:
                log.warning("refused %s from %s: %s", method, context.peer(), refused[1])
                await context.abort(*refused)

        # One wrapper per reply shape; the request (a message or a stream of them) is passed through.
        if handler.response_streaming:
            inner_stream = handler.unary_stream or handler.stream_stream

            async def call(request, context):
                await deny_or_pass(context)
                async for item in inner_stream(request, context):
                    yield item
        else:
            inner = handler.unary_unary or handler.stream_unary

            async def call(request, context):  # type: ignore[misc]
                await deny_or_pass(context)
                return await inner(request, context)
        make = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
                (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
        return make[(handler.request_streaming, handler.response_streaming)](
            call, handler.request_deserializer, handler.response_serializer)
