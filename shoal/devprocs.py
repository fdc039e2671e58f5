"""Processes of the dev cluster and the test hosts, known by pid and start time.

Each process is recorded with its pid and its start time (field 22 of
/proc/<pid>/stat) and is only ever signalled after the start time matched, through
a pidfd, so a reused pid is never hit.  Nothing is ever found or killed by name.
Children start in a session of their own, stdout and stderr in their log, with an
environment that has no proxy settings (they only ever talk to loopback and the
test hosts).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from shoal.deverrors import DevClusterError

_PROXY_VARS = (
    "http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "grpc_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY", "GRPC_PROXY",
)  # fmt: skip

__all__ = [
    "child_env", "log_tail", "proc_stat", "running", "send_signal", "start_process", "stop_pid",
    "wait_gone", "which",
]  # fmt: skip


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of pid, None if no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # comm may contain spaces and parens: split after the last ')'
    rest = data[data.rindex(")") + 2 :].split()
    return rest[0], int(rest[19])  # field 3 = state, field 22 = starttime


def _pid_matches(pid: int, start: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[1] == start


def running(pid: int, start: int) -> bool:
    """The recorded process still exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[1] == start and st[0] not in ("Z", "X")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def send_signal(pid: int, start: int, sig: int) -> bool:
    """Send sig to pid only if it is still the process started at `start`.
    Uses a pidfd so a pid reused between the check and the kill is never hit."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, FileNotFoundError):
        return False
    except OSError as e:
        if e.errno == errno.ESRCH:
            return False
        raise
    try:
        if not _pid_matches(pid, start):
            return False
        try:
            signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            return False
        return True
    finally:
        os.close(fd)


def wait_gone(pid: int, start: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not running(pid, start):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_pid(pid: int, start: int, timeout: float) -> bool:
    """SIGTERM, wait up to timeout, then SIGKILL.  True if it is gone."""
    if not running(pid, start):
        _reap(pid)
        return True
    send_signal(pid, start, signal.SIGTERM)
    if wait_gone(pid, start, timeout):
        return True
    send_signal(pid, start, signal.SIGKILL)
    return wait_gone(pid, start, 10)


def log_tail(path: Path, limit: int = 200) -> str:
    """The last non-empty line of a log, cut to limit: what an error message quotes."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def child_env() -> dict[str, str]:
    """Our environment without proxy settings (children only ever talk to
    loopback and the test hosts) and with the repo on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def which(cmd: str) -> str:
    path = shutil.which(cmd) or shutil.which(cmd, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        raise DevClusterError(f"{cmd} not found on PATH")
    return path


def start_process(
    argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, int | None]:
    """Start argv in a session of its own (a signal to our group never reaches it), output
    appended to log after a line saying what started.  Returns it and its start time."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab", buffering=0) as logf:
        logf.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**child_env(), **(env or {})},
            cwd=str(cwd),
        )
    st = proc_stat(p.pid)
    return p, (st[1] if st else None)
