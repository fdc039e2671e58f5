"""Credentials on disk: a CA certificate, a certificate and its key. Keys are written 0600, atomically,
into files no one else can have planted; `ensure_private_dir` refuses a directory others can write in."""
from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shoal.pki.identity import Identity


@dataclass(frozen=True)
class Credentials:
    ca: bytes      # PEM of the cluster CA: the only root trusted
    cert: bytes    # PEM of this holder's certificate
    key: bytes     # PEM of its private key

    @property
    def identity(self) -> Identity:
        from shoal.pki import identity   # not at the top: the CLI loads credentials and never parses them
        return identity.of_pem(self.cert)

    def __repr__(self) -> str:
        return f"Credentials({self.identity})"


class StateDirError(Exception):
    """A directory keys must not be kept in; the message names it and why."""


def _owner(uid: int) -> str:
    import pwd
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def ensure_private_dir(directory: Path, *, create: bool = True) -> None:
    """Refuse a directory someone else could plant files or symlinks in: whoever can write in it
    can swap a key for their own, or make a write land where they choose. Made 0700 if missing
    (create=False: a missing one is left missing, there is nothing in it to trust yet)."""
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateDirError(f"{directory}: cannot create it ({exc.strerror})") from None
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        if create:
            raise StateDirError(f"{directory}: vanished as it was created") from None
        return
    if not stat.S_ISDIR(st.st_mode):
        raise StateDirError(f"{directory}: not a directory")
    if st.st_uid != os.geteuid():
        raise StateDirError(f"{directory}: owned by {_owner(st.st_uid)}, not by this process's {_owner(os.geteuid())}; "
                            "refusing to keep keys in it")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateDirError(f"{directory}: mode {stat.S_IMODE(st.st_mode):04o} lets group or others write in it; "
                            f"refusing to keep keys in it (chmod go-w {directory})")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Into a file this call creates: O_EXCL fails on anything already there, a symlink included
    (O_NOFOLLOW says so again), so the data never lands in a file someone else planted."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)    # the umask must not widen or narrow what we asked for
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A random name: no temporary left by a crash is in the way, and none can be planted ahead.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    _write_new(tmp, data, mode)
    try:
        # rename() replaces whatever is at `path`, a symlink itself rather than its target.
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    """So that the rename survives a crash of the machine, not only of the process."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
