"""Host key policy: pinned fingerprint, else known_hosts, else accept-and-record only when asked.

Why this exists: Docker Machine's generic driver connected with host key checking off, so the
first `docker-machine create` against an address trusted whoever answered there. Here a host is
trusted only when (in this order)

1. the caller pinned its fingerprint (`--ssh-host-key SHA256:...`, or the one stored with the
   machine): the presented key must match it;
2. otherwise the known_hosts file has an entry for it: the presented key must match one;
3. otherwise the caller said `--accept-new-host-key`: the key is accepted and recorded in that
   known_hosts file, so every later connection is verified against it.

Anything else is refused with the fingerprint in the message, never accepted silently.

Why our own known_hosts reader rather than paramiko's `HostKeys`: paramiko's loader aborts on one
malformed line, misreads `@revoked` / `@cert-authority` lines, ignores wildcard patterns, and
its `save()` rewrites the whole file without the lines it could not parse. OpenSSH's format is
small: hashed names (`|1|salt|hash`), `[host]:port` for ports other than 22, comma-separated
patterns with `*`, `?` and `!` negation, markers. Recording appends one hashed line (Debian's
ssh_config sets HashKnownHosts yes) and leaves every other line alone.

This module is pure (no I/O): ssh.py reads and appends the file and hands the text in here.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from shoal.provisioner.errors import BadFingerprint, HostKeyMismatch, HostKeyRevoked, UnknownHostKey

# Host key algorithms per key family, for steering the negotiation to a key type we know.
RSA_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
ECDSA_ALGORITHMS = ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
FAMILIES: tuple[tuple[str, ...], ...] = (("ssh-ed25519",), ECDSA_ALGORITHMS, RSA_ALGORITHMS)

_FINGERPRINT = re.compile(r"SHA256:([A-Za-z0-9+/]{43})=?")


def fingerprint(blob: bytes) -> str:
    """OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64 of its SHA-256."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def parse_fingerprint(text: str) -> str:
    """Normalises a user-given `SHA256:...` fingerprint (a trailing '=' is tolerated)."""
    m = _FINGERPRINT.fullmatch(text.strip())
    if not m:
        raise BadFingerprint(text)
    try:
        if len(base64.b64decode(m.group(1) + "=", validate=True)) != 32:
            raise BadFingerprint(text)
    except binascii.Error:
        raise BadFingerprint(text) from None
    return "SHA256:" + m.group(1)


def key_algorithms(key_type: str) -> tuple[str, ...]:
    """The host key algorithms that make a server present a key of `key_type`
    (an RSA key is offered as rsa-sha2-512/256 or ssh-rsa)."""
    return RSA_ALGORITHMS if key_type == "ssh-rsa" else (key_type,)


def family_of(key_type: str) -> tuple[str, ...]:
    """The family of algorithms a key type belongs to (ECDSA curves together)."""
    for family in FAMILIES:
        if key_type in family:
            return family
    return (key_type,)


def preferred_algorithms(default: Sequence[str], known_types: Iterable[str]) -> tuple[str, ...]:
    """`default` reordered so the algorithms of key types we already know come first: a server
    picks the first algorithm of ours it supports, so it presents a key we can verify."""
    known = {a for t in known_types for a in key_algorithms(t)}
    return tuple(a for a in default if a in known) + tuple(a for a in default if a not in known)


def other_families(default: Sequence[str], presented_type: str) -> list[tuple[str, ...]]:
    """The other key families worth probing for a pinned fingerprint, each limited to `default`."""
    mine = family_of(presented_type)
    out = []
    for family in FAMILIES:
        if family == mine:
            continue
        algos = tuple(a for a in default if a in family)
        if algos:
            out.append(algos)
    return out


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under: `host` on port 22, `[host]:port` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class KnownHostEntry:
    lineno: int
    marker: str | None  # None, "revoked" or "cert-authority"
    hosts: str  # the raw host field: patterns, or one |1|salt|hash
    key_type: str
    blob: bytes


def parse_known_hosts(text: str) -> list[KnownHostEntry]:
    """Every usable line of a known_hosts file; malformed lines are skipped, as OpenSSH does."""
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker = fields[0][1:]
            fields = fields[1:]
            if marker not in ("revoked", "cert-authority"):
                continue
        if len(fields) < 3:
            continue
        hosts, key_type, b64 = fields[:3]
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        if not blob:
            continue
        entries.append(KnownHostEntry(lineno, marker, hosts, key_type, blob))
    return entries


def hash_name(name: str, salt: bytes) -> str:
    """OpenSSH's hashed host name: |1|base64(salt)|base64(HMAC-SHA1(salt, name))."""
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return "|1|" + base64.b64encode(salt).decode() + "|" + base64.b64encode(digest).decode()


def _glob(pattern: str, name: str) -> bool:
    """OpenSSH's match_pattern: '*' and '?' only ('[' is literal, as in [host]:port)."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, name, re.IGNORECASE | re.DOTALL) is not None


def host_matches(hosts: str, name: str) -> bool:
    """Whether a host field (hashed name, or patterns with negation) covers `name`."""
    if hosts.startswith("|1|"):
        parts = hosts.split("|")
        if len(parts) != 4:
            return False
        try:
            salt = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(hash_name(name, salt), hosts)
    matched = False
    for pattern in hosts.split(","):
        negated = pattern.startswith("!")
        if _glob(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            matched = True
    return matched


def known_hosts_line(name: str, key_type: str, blob: bytes, salt: bytes | None = None) -> str:
    """One known_hosts line for `name`; hashed when a 20-byte salt is given."""
    host_field = hash_name(name, salt) if salt is not None else name
    return f"{host_field} {key_type} {base64.b64encode(blob).decode()}"


@dataclass(frozen=True)
class Verdict:
    """An accepted host key: `record` says it must be appended to known_hosts; `source` says why
    it is trusted ("--ssh-host-key", "PATH:LINE" or "accepted as new")."""

    record: bool
    source: str


def known_types_for(entries: Sequence[KnownHostEntry], name: str) -> list[str]:
    """Key types known_hosts holds for `name` (plain entries only), in file order."""
    seen: list[str] = []
    for e in entries:
        if e.marker is None and e.key_type not in seen and host_matches(e.hosts, name):
            seen.append(e.key_type)
    return seen


def check_host_key(
    host: str,
    port: int,
    key_type: str,
    blob: bytes,
    *,
    pinned: str | None,
    entries: Sequence[KnownHostEntry],
    known_hosts_path: str,
    accept_new: bool,
) -> Verdict:
    """Applies the policy above to a presented key; raises a HostKeyError subclass when refused."""
    presented = fingerprint(blob)
    if pinned is not None:
        if hmac.compare_digest(presented, pinned):
            return Verdict(record=False, source="--ssh-host-key")
        raise HostKeyMismatch(
            host, port, expected=[pinned], presented=presented, key_type=key_type, source="--ssh-host-key",
            hint="the host was reinstalled or someone is intercepting the connection; "
                 "verify the new key out of band before pinning it",
        )
    name = known_hosts_name(host, port)
    relevant = [e for e in entries if host_matches(e.hosts, name)]
    for e in relevant:
        if e.marker == "revoked" and e.blob == blob:
            raise HostKeyRevoked(host, port, presented=presented, key_type=key_type,
                                 source=f"{known_hosts_path}:{e.lineno}")
    known = [e for e in relevant if e.marker is None]
    for e in known:
        if e.blob == blob:
            return Verdict(record=False, source=f"{known_hosts_path}:{e.lineno}")
    if known:
        expected: list[str] = []
        for e in known:
            if fingerprint(e.blob) not in expected:
                expected.append(fingerprint(e.blob))
        lines = ",".join(str(e.lineno) for e in known)
        raise HostKeyMismatch(
            host, port, expected=expected, presented=presented, key_type=key_type,
            source=f"{known_hosts_path}:{lines}",
            hint="the host was reinstalled or someone is intercepting the connection; if you verified the new "
                 f"key out of band, remove the old entry with `ssh-keygen -R '{name}' -f {known_hosts_path}`",
        )
    if accept_new:
        return Verdict(record=True, source="accepted as new")
    raise UnknownHostKey(host, port, presented=presented, key_type=key_type)
