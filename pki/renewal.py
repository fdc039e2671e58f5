"""Keeping a certificate fresh: renewed once two thirds of its lifetime have passed, without a restart."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Awaitable, Callable

from shoal.pki import ca as ca_mod
from shoal.pki import files
from shoal.pki.files import Credentials

log = logging.getLogger("shoal.tls")


class Holder:
    """The current credentials of this process, kept on disk under `directory/stem.*`."""

    def __init__(self, directory: Path, stem: str, creds: Credentials):
        self.directory = directory
        self.stem = stem
        self._creds = creds
        self.generation = 0       # bumped on every replacement, so channel caches know to rebuild
        self.listeners: list[Callable[[Credentials], None]] = []

    @property
    def current(self) -> Credentials:
        return self._creds

    def replace(self, creds: Credentials) -> None:
        files.save(self.directory, self.stem, creds)
        self._creds = creds
        self.generation += 1
        for listener in self.listeners:
            listener(creds)


def renew_at(creds: Credentials) -> datetime:
    cert = ca_mod.load_cert(creds.cert)
    # not_before is backdated for clock skew; the lifetime counts from issue time.
    issued = cert.not_valid_before_utc + ca_mod.BACKDATE
    return issued + (cert.not_valid_after_utc - issued) * 2 / 3


async def keep_renewed(holder: Holder, renew: Callable[[bytes], Awaitable[bytes]],
                       clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
    """renew(csr_pem) -> certificate PEM for the same name and role (by RPC, or signed locally)."""
    failures = 0
    while True:
        due = renew_at(holder.current)
        wait = (due - clock()).total_seconds()
        if wait > 0:
            # A timer, not a wait for an event: the renewal is due at a known time.
            await asyncio.sleep(min(wait, 3600.0))
            continue
        who = holder.current.identity
        key = ca_mod.new_key()
        try:
            cert = await renew(ca_mod.make_csr(key, who.common_name))
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # any failure: retry soon, the old certificate still works
            failures += 1
            remaining = (who.not_after - clock()).total_seconds()
            delay = max(1.0, min(30.0, remaining / 10, 2.0 ** failures))
            log.warning("certificate renewal failed (%s); retrying in %.0f s, %.0f s before it expires",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__, delay, remaining)
            await asyncio.sleep(delay)
            continue
        failures = 0
        fresh = Credentials(holder.current.ca, cert, ca_mod.key_pem(key))
        if fresh.identity.common_name != who.common_name or fresh.identity.role != who.role:
            raise RuntimeError(f"renewal returned a certificate for {fresh.identity}, not {who}")
        holder.replace(fresh)
        log.info("certificate renewed: serial %s valid until %s", fresh.identity.serial,
                 fresh.identity.not_after.isoformat(timespec="seconds"))


def local_renewer(authority: ca_mod.Authority, lifetime: timedelta,
                  common_name: str, role: str) -> Callable[[bytes], Awaitable[bytes]]:
    """For managers, which hold the CA key and sign their own renewals."""
    async def renew(csr: bytes) -> bytes:
        cert = ca_mod.issue_for_role(authority, ca_mod.csr_public_key(csr), common_name, role, lifetime)
        return ca_mod.cert_pem(cert)
    return renew
