"""The files of `shoal cluster init`: the cluster CA and the first credentials. Idempotent:
files that exist are kept, so running it again changes nothing."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from shoal.pki import ca as ca_mod
from shoal.pki import files
from shoal.pki.files import Credentials

ADMIN_LIFETIME = timedelta(days=365)


class InitError(Exception):
    pass


@dataclass
class Created:
    authority: ca_mod.Authority
    manager: Credentials
    admin: Credentials
    new: list[str]          # what this run created (empty: everything was there)


def load_authority(state_dir: Path) -> ca_mod.Authority | None:
    try:
        return ca_mod.Authority.load((state_dir / "ca.pem").read_bytes(), (state_dir / "ca.key").read_bytes())
    except FileNotFoundError:
        return None


def _issue(authority: ca_mod.Authority, common_name: str, role: str, lifetime: timedelta,
           ip_addresses: tuple[str, ...] = ()) -> Credentials:
    key = ca_mod.new_key()
    cert = ca_mod.issue_for_role(authority, key.public_key(), common_name, role, lifetime, ip_addresses)
    return Credentials(authority.pem, ca_mod.cert_pem(cert), ca_mod.key_pem(key))


def create_files(state_dir: Path, admin_dir: Path, *, cluster: str = "shoal",
                 lifetime: timedelta = ca_mod.DEFAULT_LIFETIME) -> Created:
    for directory in (state_dir, admin_dir):
        try:
            files.ensure_private_dir(directory)
        except files.StateDirError as exc:
            raise InitError(str(exc)) from None
    new = []
    authority = load_authority(state_dir)
    if authority is None:
        if (state_dir / "ca.pem").exists() or (state_dir / "manager.pem").exists():
            raise InitError(f"{state_dir}: holds a certificate but no CA key; refusing to make a second CA")
        authority = ca_mod.Authority.create(cluster)
        files.write_private(state_dir / "ca.key", ca_mod.key_pem(authority.key))
        files.write_public(state_dir / "ca.pem", authority.pem)
        new.append("cluster CA")
    manager = files.load(state_dir, "manager")
    if manager is None:
        manager = _issue(authority, "mgr-" + secrets.token_hex(6), ca_mod.ROLE_MANAGER, lifetime)
        files.save(state_dir, "manager", manager)
        new.append("manager certificate")
    admin = files.load(admin_dir, "admin")
    if admin is None or admin.ca != authority.pem:
        admin = _issue(authority, "admin", ca_mod.ROLE_ADMIN, ADMIN_LIFETIME)
        files.save(admin_dir, "admin", admin)
        new.append("admin certificate")
    return Created(authority, manager, admin, new)


def etcd_server_credentials(authority: ca_mod.Authority, directory: Path, ips: tuple[str, ...]) -> Credentials:
    """A serving certificate for etcd from the cluster CA (etcd then trusts the same CA for clients)."""
    creds = files.load(directory, "etcd-server")
    if creds is None or creds.ca != authority.pem:
        creds = _issue(authority, "etcd", ca_mod.ROLE_ETCD, timedelta(days=3650), ips)
        files.save(directory, "etcd-server", creds)
    return creds


def context_doc(manager: str, admin_dir: Path) -> dict:
    """What the CLI's context records: where the manager is and which certificate to show it."""
    ca, cert, key = files.paths(admin_dir, "admin")
    return {"manager": manager, "ca": str(ca), "cert": str(cert), "key": str(key)}
