"""Reading a manager's CA from its TLS handshake, checked against a join token's digest.

No trust on first use: a CA whose digest differs from the token's is refused before any
request is sent to that server.
"""
from __future__ import annotations

import socket
import ssl

from shoal.pki import ca as ca_mod


class CaMismatch(Exception):
    pass


def fetch_ca(address: str, expected_digest: str, timeout: float = 5.0) -> bytes:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The chain is not trusted yet: it is checked by digest below, then used as the only root.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=ca_mod.MANAGER_NAME) as tls:
        # Public from Python 3.13; the same method lives on the private object before that.
        getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]
        chain = [c.public_bytes().encode() if isinstance(c.public_bytes(), str) else c.public_bytes()
                 for c in (getter() or [])]
    seen = []
    for pem in chain:
        try:
            d = ca_mod.digest(pem)
        except ValueError:
            continue
        if d == expected_digest:
            return pem
        seen.append(d)
    raise CaMismatch(f"--join-token: the manager at {address} presents a CA with digest "
                     f"{(seen[-1] if seen else 'none')[:16]}..., the token pins {expected_digest[:16]}...; "
                     "refusing to join (wrong manager, or a token of another cluster)")
