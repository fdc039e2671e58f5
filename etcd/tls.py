"""The TLS a daemon shows etcd: its own cluster certificate (its CN is its etcd user), unless the
admin gives other files (--etcd-cacert / --etcd-cert / --etcd-key)."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from shoal.etcd.client import TlsConfig


class Credentials(Protocol):
    """What of a daemon's cluster credentials (shoal.pki.files.Credentials) etcd's TLS takes: the
    etcd client stays below PKI, beside it rather than on top."""
    @property
    def ca(self) -> bytes: ...
    @property
    def cert(self) -> bytes: ...
    @property
    def key(self) -> bytes: ...


def secure(urls: list[str]) -> bool:
    return any(u.startswith("https://") for u in urls)


def etcd_tls(urls: list[str], overrides: dict[str, Path], creds: Credentials | None) -> TlsConfig | None:
    """None when etcd is plaintext (http:// URLs)."""
    if not secure(urls):
        return None

    def pick(name: str, default: bytes | None) -> bytes | None:
        path = overrides.get(name)
        return path.read_bytes() if path else default

    return TlsConfig(ca=pick("ca", creds.ca if creds else None), cert=pick("cert", creds.cert if creds else None),
                     key=pick("key", creds.key if creds else None))
