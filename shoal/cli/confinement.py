"""What confines a process, as the kernel shows it in /proc, and the rule by which a CLI session
serves a caller: only when all of it is the same as the session's own.

A session's child has the session's credentials and confinement, not its caller's: served through
a session, a root caller with every capability dropped read files only full root can (issue 14,
finding 8). So the session compares, for each caller, what a fork would not carry over:

- the capability sets (CapInh/CapPrm/CapEff/CapBnd/CapAmb), no_new_privs, the seccomp mode and
  the number of seccomp filters (their programs are not visible; a count is what can be told);
- the user and group ids, all four of each, and the supplementary groups;
- the namespaces, the root directory (chroot) and the cgroup, compared as a whole: cgroup v2
  device limits are BPF programs no reader can compare, and any cgroup can carry limits
  (`systemd-run --scope -p ...`), so two cgroups are the same only when their paths are;
- the LSM label (/proc/PID/attr/current, where an LSM provides one).

Read from the caller's /proc entry by the session, never taken from what the caller says: a
confined process can connect to the socket itself and claim anything. A value that cannot be
read counts as a difference, so an unreadable caller is refused, never served.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import struct

from shoal.cli.launch import NAMESPACES

STATUS_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                 "Seccomp", "Seccomp_filters")
# An attr file with no LSM behind it: no label, which is not the same as an unreadable one.
NO_LSM = frozenset({errno.EINVAL, errno.ENOENT, errno.EOPNOTSUPP})

# asm-generic's value (Linux 6.5; Python 3.13 names it); alpha, mips, parisc and sparc number
# their socket options differently, and 77 means something else there.
SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD",
                       None if os.uname().machine.startswith(("alpha", "mips", "parisc", "sparc")) else 77)

Confinement = dict[str, str | None]   # None: could not be read


def parse_status(text: str) -> dict[str, str]:
    """The STATUS_FIELDS that /proc/PID/status shows, blanks normalised."""
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name in STATUS_FIELDS:
            found[name] = " ".join(value.split())
    return found


def differences(own: Confinement, peer: Confinement) -> list[str]:
    """The names of what differs; an unreadable value on either side always does."""
    return sorted(k for k in own.keys() | peer.keys()
                  if own.get(k) is None or peer.get(k) is None or own[k] != peer[k])


def read(proc: str) -> Confinement:
    """The confinement of the process at `proc` ("/proc/self", "/proc/PID")."""
    found: Confinement = {}
    status = _read_text(f"{proc}/status")
    fields = parse_status(status) if status is not None else {}
    for name in STATUS_FIELDS:
        # A field this kernel does not show is "" for both sides; an unreadable status is None.
        found[name] = None if status is None else fields.get(name, "")
    for ns in NAMESPACES:
        try:
            found["ns:" + ns] = os.readlink(f"{proc}/ns/{ns}")
        except OSError:
            found["ns:" + ns] = None
    try:
        st = os.stat(f"{proc}/root")
        found["root"] = f"{st.st_dev}:{st.st_ino}"
    except OSError:
        found["root"] = None
    found["cgroup"] = _read_text(f"{proc}/cgroup")
    try:
        with open(f"{proc}/attr/current", "rb") as f:
            found["lsm"] = f.read().rstrip(b"\0\n").decode("utf-8", "backslashreplace")
    except OSError as exc:
        found["lsm"] = "" if exc.errno in NO_LSM else None
    return found


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "backslashreplace")
    except OSError:
        return None


def peer(conn: socket.socket) -> Confinement:
    """The confinement of the process that connected `conn`. Through a pidfd of the peer (from the
    socket where the kernel can say, else opened from SO_PEERCRED's pid): if that process ended
    while we read, its pid may name another process by now, and everything counts as unreadable."""
    pid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    if pid <= 0:
        return {}   # not in our pid namespace: nothing to compare, so everything differs
    pidfd = _peer_pidfd(conn, pid)
    try:
        found = read(f"/proc/{pid}")
        if select.select([pidfd], [], [], 0)[0]:   # a pidfd is readable once its process has exited
            return dict.fromkeys(found)
        return found
    finally:
        os.close(pidfd)


def _peer_pidfd(conn: socket.socket, pid: int) -> int:
    if SO_PEERPIDFD is not None:
        try:
            return conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
        except OSError:
            pass   # before Linux 6.5
    # Should the peer have exited and its pid been reused between the connect and here (one
    # accept's time), we would read the new process: served only if it is this user's and
    # confined as we are, so a confined caller gains nothing by it unless such a process, not of
    # its making, takes that pid in that window.
    return os.pidfd_open(pid)
