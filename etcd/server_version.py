"""Whether the etcd server is older than Shoal's production minimum, and the one start-up warning.

The minimum is the first release of each line that fixes the authorization bypasses a host's
etcd identity could use (docs/SECURITY.md, "Production minimum etcd"): CVE-2023-32082 (3.4.26,
3.5.9), GHSA-q8m4-xhhv-38mg (3.4.42, 3.5.28, 3.6.9), CVE-2026-44283 (3.4.44, 3.5.30, 3.6.11) and
GHSA-xg4h-6gfc-h4m8 (3.5.33, 3.6.14, 3.7.1). 3.4 reached its end with 3.4.45 before the last of
these was fixed, so no 3.4 release qualifies.
"""
from __future__ import annotations

import asyncio
import logging
import re

from shoal.etcd.client import EtcdClient, EtcdError, EtcdPermissionDenied

MINIMUM = {(3, 5): 33, (3, 6): 14, (3, 7): 1}   # (major, minor) -> first patch release that qualifies
NEWEST_LINE = max(MINIMUM)
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(-\S+)?")
ATTEMPTS, FIRST_DELAY = 6, 1.0     # then it gives up (about a minute): a warning, not a duty


def minimum_text() -> str:
    return ", ".join(f"{major}.{minor}.{patch}" for (major, minor), patch in sorted(MINIMUM.items()))


def below_minimum(version: str) -> bool | None:
    """True when `version` (etcd's "3.4.23") is older than the minimum of its release line, or of a
    line older than every one that qualifies; None when it cannot be read. A pre-release of a
    minimum ("3.5.33-rc.0") is older than it; lines newer than the newest known one qualify."""
    m = _VERSION.fullmatch(version.strip())
    if m is None:
        return None
    major, minor, patch = int(m[1]), int(m[2]), int(m[3])
    line = (major, minor)
    if line > NEWEST_LINE:
        return False
    if line not in MINIMUM:
        return True
    return (patch, m[4] is None) < (MINIMUM[line], True)


async def warn_if_below_minimum(etcd: EtcdClient, log: logging.Logger) -> None:
    """Asks etcd its version (Maintenance.Status) until it answers; logs one WARNING when it is below
    the minimum. Run as a task of its own, which ends by itself: start-up never waits for it."""
    for attempt in range(ATTEMPTS):
        try:
            status = await etcd.status()
            break
        except EtcdPermissionDenied as exc:
            log.debug("cannot ask etcd its version: %s", exc)
            return
        except EtcdError as exc:
            if attempt == ATTEMPTS - 1:
                log.debug("etcd did not tell its version: %s", exc)
                return
            await asyncio.sleep(FIRST_DELAY * 2 ** attempt)
    old = below_minimum(status.version)
    if old:
        log.warning("WARNING: etcd %s is older than Shoal's production minimum (%s): it lets etcd users bypass "
                    "parts of its access control, so a compromised host can do more than docs/SECURITY.md says; "
                    "upgrade etcd", status.version, minimum_text())
    elif old is None:
        log.warning("WARNING: etcd reports version %r, which Shoal cannot compare with its production minimum (%s)",
                    status.version[:80], minimum_text())
