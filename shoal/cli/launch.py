"""The `shoal` command's entry point: hand the command to this user's CLI session, else run it here.

A CLI session (shoal/cli/session_server.py) is a resident process with the CLI's modules already
imported; it forks a child per command that takes this process's stdin, stdout and stderr, its
working directory, umask and environment, and runs exactly the code a fresh process would. What
the command saves is Python's start-up and ~0.2 s of imports (grpc, click, the protos): the reason
`shoal run -d` can be as quick as `docker run -d`. The first command of a session runs here and
starts the session for the next ones; it ends after IDLE_SECONDS without a command, when the code
it loaded changes, or when its socket is removed. It serves only callers confined as it is
(capabilities, no_new_privs, seccomp, namespaces, cgroup, LSM label: shoal/cli/confinement.py);
one in another cgroup finds a session of its own, any other runs its command here.

Never through a session: the daemons and the host-side commands (SESSIONLESS), or anything when
SHOAL_SESSION=off. `python -m shoal` never uses one.

This module is imported before anything else: builtins only, until it falls back.
"""
from __future__ import annotations

import os
import sys

from shoal.cli import session_wire as wire

SESSIONLESS = frozenset({"manager", "agent", "dev", "machine"})
GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--manager", "--tls-dir"})
IDLE_SECONDS = 600
SOCKET_PATH_MAX = 107   # sun_path


def main() -> None:
    argv = sys.argv[1:]
    env = dict(os.environ)   # before the CLI sets its defaults: the session is started with ours
    path = session_socket(argv, env)
    start = False
    if path is not None:
        code, start = run_in_session(path, argv)
        if code is not None:
            sys.exit(code)
    from shoal.cli.main import main as run_here
    try:
        run_here(argv)
    finally:
        if start:
            start_session(path, env)


def _scan(argv: list[str]) -> tuple[int, dict[str, str]]:
    """The index of the command word, and the global options before it."""
    i, options = 0, {}
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name in GLOBAL_OPTIONS_WITH_VALUE and not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
            i += 1
        options[name] = value
        i += 1
    return i, options


def verb(argv: list[str]) -> str | None:
    """The command word after the global options, if any."""
    i, _ = _scan(argv)
    return argv[i] if i < len(argv) else None


def global_options(argv: list[str]) -> tuple[str | None, str | None, bool]:
    """--manager, --tls-dir and --insecure as given before the command word."""
    _, options = _scan(argv)
    return options.get("--manager") or None, options.get("--tls-dir") or None, "--insecure" in options


def session_socket(argv: list[str], env) -> str | None:
    """This user's session socket for this interpreter and module path, or None when the command
    must not use a session (see the module's doc) or the run directory is not private to us."""
    if env.get("SHOAL_SESSION", "").lower() in ("off", "0", "no", "false"):
        return None
    if verb(argv) in SESSIONLESS:
        return None
    config = env.get("SHOAL_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".shoal")
    run_dir = os.path.join(config, "run")
    try:
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        st = os.stat(run_dir)
    except OSError:
        return None
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None   # another user could reach a socket in there
    path = os.path.join(run_dir, f"session-{_key():08x}.sock")
    return path if len(os.fsencode(path)) <= SOCKET_PATH_MAX else None


def _key() -> int:
    """Which session: one per interpreter, module path (a venv, a PYTHONPATH) and cgroup. The
    session checks the full values; this only names the socket."""
    h = 2166136261
    for b in os.fsencode("\0".join([sys.executable, *sys.path[1:], ""])) + _cgroup():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF   # FNV-1a: no hashlib/zlib import on this path
    return h


def _cgroup() -> bytes:
    """A session serves only callers of its own cgroup: a terminal in another one (each has its
    systemd scope) gets a session of its own rather than none."""
    try:
        fd = os.open("/proc/self/cgroup", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def request(argv: list[str]) -> bytes:
    umask = os.umask(0)
    os.umask(umask)
    return wire.encode_request(wire.Request(
        executable=os.fsencode(sys.executable), path=[os.fsencode(p) for p in sys.path[1:]],
        cwd=os.fsencode(os.getcwd()), umask=umask, context=process_context(),
        argv=[os.fsencode(a) for a in [sys.argv[0], *argv]],
        env={os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}))


NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


def process_context() -> bytes:
    """What a forked child takes from its parent, not from its caller, and the session must
    share with the caller: the namespaces (another network namespace reaches other addresses)
    and the group ids (file access). Said by the caller, so only a first check: the session reads
    the rest, and these again, from the caller's /proc entry (shoal/cli/confinement.py)."""
    parts = []
    for ns in NAMESPACES:
        try:
            parts.append(os.readlink(f"/proc/self/ns/{ns}"))
        except OSError:
            parts.append(ns + ":?")
    parts.append("gid:%d:%s" % (os.getegid(), ",".join(map(str, sorted(os.getgroups())))))
    return os.fsencode(" ".join(parts))


FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH")


def run_in_session(path: str, argv: list[str]) -> tuple[int | None, bool]:
    """(the command's exit status, or None if no session took it: run it here then; whether to
    start a session for the next command: none answered, or the one that did is ending)."""
    import _signal
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
        sock.sendmsg([request(argv)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        kind, pid = wire.parse_reply(_recv_exactly(sock, wire.REPLY_SIZE))
    except (OSError, ValueError):
        sock.close()
        return None, True
    if kind != wire.STARTED:
        sock.close()
        return None, kind != wire.REFUSED or pid == wire.ENDING

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    def stop(signum, frame):
        # ^Z: the command stops, then we do (the shell sees its job stopped); `fg` continues us,
        # and we continue it. SIGSTOP, not SIGTSTP: the session's process group has no
        # terminal, and the kernel drops SIGTSTP sent into such an (orphaned) group.
        forward(_signal.SIGSTOP, frame)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, stop)
        forward(_signal.SIGCONT, frame)

    for name in FORWARDED_SIGNALS:
        _signal.signal(getattr(_signal, name), forward)
    _signal.signal(_signal.SIGTSTP, stop)
    try:
        kind, status = wire.parse_reply(_recv_exactly(sock, wire.REPLY_SIZE))
    except OSError:
        kind, status = b"", 0
    finally:
        sock.close()
    if kind != wire.EXITED:
        os.write(2, b"shoal: the CLI session ended during the command (its exit status is lost)\n")
        return 1, False
    if status < 0:   # the command died of a signal: so do we, as a process of our own would have
        _signal.signal(-status, _signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        return 128 - status, False
    return status, False


def _recv_exactly(sock, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        if not chunk:
            raise OSError("the session closed the connection")
        got += chunk
    return got


def start_session(path: str, env: dict[str, str]) -> None:
    """A session for the next command, in the background; quietly nothing if it cannot start."""
    import subprocess

    try:
        # -P: no working directory on the module path, so the session imports what this command did.
        subprocess.Popen([sys.executable, "-P", "-m", "shoal.cli.session_server", "--idle", str(IDLE_SECONDS), path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         cwd="/", env=env, start_new_session=True, close_fds=True)
    except OSError:
        pass
