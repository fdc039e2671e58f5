"""Credentials on disk: a CA certificate, a certificate and its key. Keys are written 0600, atomically."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pki.identity import Identity


@dataclass(frozen=True)
class Credentials:
    ca: bytes      # PEM of the cluster CA: the only root trusted
    cert: bytes    # PEM of this holder's certificate
    key: bytes     # PEM of its private key

    @property
    def identity(self) -> Identity:
        from pki import identity   # not at the top: the CLI loads credentials and never parses them
        return identity.of_pem(self.cert)

    def __repr__(self) -> str:
        return f"Credentials({self.identity})"


def write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)    # the umask must not widen or narrow what we asked for
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def write_private(path: Path, data: bytes) -> None:
    write_file(path, data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    write_file(path, data, 0o644)


def paths(directory: Path, stem: str) -> tuple[Path, Path, Path]:
    return directory / "ca.pem", directory / f"{stem}.pem", directory / f"{stem}.key"


def load(directory: Path, stem: str) -> Credentials | None:
    """None when any of the three files is missing."""
    ca, cert, key = paths(directory, stem)
    try:
        return Credentials(ca.read_bytes(), cert.read_bytes(), key.read_bytes())
    except FileNotFoundError:
        return None


def save(directory: Path, stem: str, creds: Credentials) -> None:
    ca, cert, key = paths(directory, stem)
    write_private(key, creds.key)     # key first: a cert without its key is useless, the reverse is harmless
    write_public(cert, creds.cert)
    write_public(ca, creds.ca)
