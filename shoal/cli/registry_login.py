"""`shoal login` credentials: one file in the admin's config dir (registries.json, beside the
context), mode 0600 from its creation, replaced atomically. Docker's config.json layout
("auths": {key: {"auth": base64(user:password)}}), so its shape is familiar; never printed."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from shoal.client import config_dir
from shoal.image_refs import auth_key

FILE = "registries.json"


def path() -> Path:
    return config_dir() / FILE


def _read(p: Path) -> dict:
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        return {"auths": {}}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p}: unreadable ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("auths"), dict):
        raise ValueError(f"{p}: not a credentials file")
    return doc


def _write(p: Path, doc: dict) -> None:
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    # O_EXCL with mode 0600: the secret never sits in a file anyone else could read, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def store(server: str, username: str, password: str) -> str:
    p = path()
    doc = _read(p)
    key = auth_key(server)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    doc["auths"][key] = {"auth": token}
    _write(p, doc)
    return key


def forget(server: str) -> bool:
    p = path()
    doc = _read(p)
    if doc["auths"].pop(auth_key(server), None) is None:
        return False
    _write(p, doc)
    return True


def lookup(server: str) -> tuple[str, str] | None:
    """(username, password) stored for a registry, or None."""
    entry = _read(path())["auths"].get(auth_key(server))
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{path()}: the entry for {auth_key(server)} is damaged; run `shoal login` again") from None
    return user, password
