"""A CLI session: the `shoal` command's modules kept imported in one resident process per user,
interpreter and module path, forking a child per command (shoal/cli/launch.py explains why).

    python -P -m shoal.cli.session_server [--idle SECONDS] SOCKET

One thread, no gRPC channel of its own: a fork copies only the forking thread, and gRPC's core
must start in the child that uses it. Each child gets the client's stdin/stdout/stderr, working
directory, umask, argv and environment, and is a command as a fresh process would run it; the
differences, said plainly: atexit handlers do not run (the CLI registers none), and resource
limits (ulimit) are the session's.

Only the same user reaches it: the socket's directory is private (checked by the client), the
socket is 0600, and the session checks each peer's uid (SO_PEERCRED). It answers REFUSED, and
the client runs the command itself, when the client's interpreter, module path, PYTHON*/GRPC_*
variables (read when Python and gRPC start, so a child could not honour others), or its
confinement (a child has the session's, not its caller's: ids and groups, capabilities,
no_new_privs, seccomp, namespaces, root directory, cgroup, LSM label; read from the caller's /proc
entry, shoal/cli/confinement.py) are not its own;
when a file of the code it loaded (or the site-packages directory) changed, it refuses and ends.
"""
from __future__ import annotations

import argparse
import fcntl
import gc
import importlib
import os
import selectors
import signal
import socket
import struct
import sys
import sysconfig
import time
import traceback

from shoal.cli import confinement
from shoal.cli import session_wire as wire
from shoal.cli.launch import process_context

ACCEPT_TIMEOUT = 2.0   # a client sends its request at once; a silent peer is dropped after this
LOCK_WAIT = 2.0        # for a session that is ending (stale code) to let go of the lock


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shoal.cli.session_server")
    ap.add_argument("--idle", type=float, default=600.0, help="end after this many seconds without a command")
    ap.add_argument("socket")
    args = ap.parse_args(argv)
    startup_env = _startup_variables(os.environb)   # before the CLI's modules set their defaults
    lock = _lock(args.socket + ".lock")
    if lock is None:
        return 0   # another session serves this socket
    preload()
    # Children share the preloaded modules' pages until they write to them; a collection would
    # walk (and so copy) every object: frozen objects are never walked.
    gc.freeze()
    Session(args.socket, args.idle, lock, startup_env).serve()
    return 0


def _startup_variables(env) -> dict[bytes, bytes]:
    return {k: v for k, v in env.items() if k.startswith((b"PYTHON", b"GRPC_"))}


def _lock(path: str):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.05)   # poll interval while the previous session ends


def preload() -> None:
    """Every module a session-run command would import, so that a child imports nothing."""
    from shoal.cli import launch, main as cli_main

    for verb, target in cli_main.COMMANDS.items():
        if verb not in launch.SESSIONLESS:
            importlib.import_module(target.partition(":")[0])
    importlib.import_module("shoal.cli.context")


_PURELIB = sysconfig.get_paths()["purelib"]
OUR_PACKAGES = frozenset({"shoal", "protos", "pki", "manager", "agent", "provisioner"})


def code_stamps() -> dict[str, tuple[int, int]]:
    """(mtime, size) of the interpreter, of site-packages (an install or upgrade of anything there
    renames entries in it) and of each loaded module of ours (an edit of an editable checkout)."""
    files = [os.path.realpath(sys.executable), _PURELIB]
    for name, module in list(sys.modules.items()):
        f = getattr(module, "__file__", None)
        if f and name.partition(".")[0] in OUR_PACKAGES:
            files.append(f)
    stamps = {}
    for f in files:
        try:
            st = os.stat(f)
            stamps[f] = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamps[f] = (0, 0)
    return stamps


class Session:
    def __init__(self, path: str, idle: float, lock: int, startup_env: dict[bytes, bytes]) -> None:
        self.path, self.idle, self.lock = path, idle, lock
        self.stamps = code_stamps()
        self.identity = (os.fsencode(sys.executable), [os.fsencode(p) for p in sys.path], process_context(),
                         startup_env)
        self.confinement = confinement.read("/proc/self")
        self.children: dict[int, tuple[int, socket.socket]] = {}   # pidfd -> (pid, client)
        self.spare: tuple[int, int, socket.socket] | None = None    # (pid, pidfd, control socket)
        self.last_request: wire.Request | None = None
        self.selector = selectors.DefaultSelector()
        self.last_active = time.monotonic()
        self.stale = False

    def serve(self) -> None:
        # Bound and listening under another name first, then renamed over whatever a session that
        # died left (we hold the lock): a client never finds a socket that refuses it.
        pending = f"{self.path}.{os.getpid()}"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.listener.bind(pending)
        finally:
            os.umask(old)
        self.listener.listen(64)
        self.inode = os.stat(pending).st_ino
        os.rename(pending, self.path)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while self.listener is not None or self.children:
                if self.listener is not None and self._should_end():
                    self._stop_listening()   # its running commands still get their replies
                    continue
                for key, _ in self.selector.select(timeout=1.0):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "child":
                        self._reap(key.fd)
                    elif key.data == "spare":
                        self._drop_spare()
                    else:
                        self._client_gone(key.data)
        finally:
            self._stop_listening()

    def _stop_listening(self) -> None:
        """No more commands: the socket and the lock go at once, so that the next session can
        start while commands of this one still run."""
        self._drop_spare()
        if self.listener is None:
            return
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        if not self._socket_replaced():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self.lock)
        self.lock = -1

    def _should_end(self) -> bool:
        return self.stale or self._socket_replaced() or time.monotonic() - self.last_active > self.idle

    def _socket_replaced(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self.inode
        except FileNotFoundError:
            return True

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last_active = time.monotonic()
        try:
            conn.settimeout(ACCEPT_TIMEOUT)
            _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid != os.geteuid():
                conn.close()
                return
        except OSError:
            conn.close()
            return
        fds: list[int] = []
        try:
            raw = _read_request(conn, fds)
            req = wire.decode_request(raw[4:])
            if (req.executable, req.path, req.context, _startup_variables(req.env)) != self.identity \
                    or len(fds) != 3:
                return self._refuse(conn, wire.NOT_YOURS)
            if confinement.differences(self.confinement, confinement.peer(conn)):
                # Unless we were moved (another cgroup) since we started: then we end, and the
                # client starts a session where its cgroup's clients will find it.
                if confinement.read("/proc/self") == self.confinement:
                    return self._refuse(conn, wire.NOT_YOURS)
                self.stale = True
            if self.stale or code_stamps() != self.stamps:
                self.stale = True
                self._drop_spare()
                return self._refuse(conn, wire.ENDING)
            started = self._hand_to_spare(raw, fds) or self._fork_command(req, fds)
            self.last_request = req
            pid, pidfd = started
            self.children[pidfd] = (pid, conn)
            self.selector.register(pidfd, selectors.EVENT_READ, "child")
            conn.sendall(wire.reply(wire.STARTED, pid))
            self.selector.register(conn, selectors.EVENT_READ, pidfd)
        except (OSError, ValueError):
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _refuse(self, conn: socket.socket, why: int) -> None:
        conn.sendall(wire.reply(wire.REFUSED, why))
        conn.close()

    def _fork_command(self, req: wire.Request, fds: list[int]) -> tuple[int, int]:
        pid = self._fork()
        if pid == 0:
            _become_command(req, fds)   # never returns
        return pid, os.pidfd_open(pid)

    def _fork(self) -> int:
        """fork(); in the child, nothing of the session is left open, SIGTERM is the default
        again, and nothing returns into the session's code (os._exit on any way out)."""
        # Blocked across the fork: a SIGTERM for the child that came before it was ready would
        # run the session's handler in it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            return pid
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            self._close_inherited()
            return 0
        except BaseException:
            os._exit(1)

    def _make_spare(self) -> None:
        """The next command's process, forked ahead: gRPC started and, when the last command
        talked to a manager, a channel to it connecting (see shoal.client.prepare)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        hint = self.last_request
        pid = self._fork()
        if pid == 0:
            ours.close()
            _be_spare(theirs, hint)   # never returns
        theirs.close()
        pidfd = os.pidfd_open(pid)
        self.spare = (pid, pidfd, ours)
        self.selector.register(pidfd, selectors.EVENT_READ, "spare")

    def _hand_to_spare(self, raw: bytes, fds: list[int]) -> tuple[int, int] | None:
        if self.spare is None:
            return None
        pid, pidfd, control = self.spare
        self.spare = None
        self.selector.unregister(pidfd)
        try:
            control.sendmsg([raw], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
            return pid, pidfd
        except OSError:   # it died meanwhile: the caller forks a command of its own
            _end(pid, pidfd)
            return None
        finally:
            control.close()

    def _drop_spare(self) -> None:
        if self.spare is not None:
            pid, pidfd, control = self.spare
            self.spare = None
            self.selector.unregister(pidfd)
            control.close()   # it ends when it reads the end of its control socket
            _end(pid, pidfd)

    def _close_inherited(self) -> None:
        """In a forked child: nothing of the session stays open in it; a long command must not
        keep the next session out (the lock) or hold another client's connection."""
        self.selector.close()
        if self.listener is not None:
            self.listener.close()
            os.close(self.lock)
        for pidfd, (_, conn) in self.children.items():
            os.close(pidfd)
            conn.close()
        if self.spare is not None:
            os.close(self.spare[1])
            self.spare[2].close()

    def _reap(self, pidfd: int) -> None:
        if pidfd not in self.children:
            return
        pid, conn = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        try:
            self.selector.unregister(conn)
            conn.sendall(wire.reply(wire.EXITED, os.waitstatus_to_exitcode(status)))
        except (OSError, KeyError, ValueError):
            pass
        conn.close()
        self.last_active = time.monotonic()
        if self.spare is None and self.listener is not None and not self.stale:
            self._make_spare()

    def _client_gone(self, pidfd: int) -> None:
        """The client's end closed (or sent something) while its command runs: it was killed, so
        the command goes too, as it would have with the client's own process."""
        if pidfd not in self.children:
            return   # reaped earlier in the same batch of events
        pid, conn = self.children[pidfd]
        self.selector.unregister(conn)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _end(pid: int, pidfd: int) -> None:
    """Ends a spare: it holds nothing that needs a clean exit."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    os.close(pidfd)


def _read_request(conn: socket.socket, fds: list[int]) -> bytes:
    """One length-prefixed request, whole; the descriptors it carried are appended to `fds`
    (the caller closes them)."""
    data = b""
    while True:
        chunk, ancdata, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4))
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) - len(payload) % 4]))
        if not chunk:
            raise ValueError("request: truncated")
        data += chunk
        if len(data) >= 4:
            size = int.from_bytes(data[:4], "big")
            if size > wire.MAX_REQUEST:
                raise ValueError("request: too large")
            if len(data) >= 4 + size:
                return data[:4 + size]


def _be_spare(control: socket.socket, hint: wire.Request | None) -> None:
    """A spare: gets ready for a command like the last one, then waits for the real one (or
    for the end of its control socket: the session dropped it)."""
    try:
        if hint is not None:
            _prepare_channel(hint)
        fds: list[int] = []
        req = wire.decode_request(_read_request(control, fds)[4:])
        control.close()
    except BaseException:
        os._exit(0)
    _become_command(req, fds)


def _prepare_channel(hint: wire.Request) -> None:
    """Opens the channel that a command with the last one's options and environment would, so
    that the command finds it connected. The command still resolves its own manager and
    credentials; the channel is used only if they are the same (shoal.client.connect)."""
    from shoal import client
    from shoal.cli.launch import global_options

    try:
        os.chdir(hint.cwd)   # a relative --tls-dir is the caller's
        os.environb.clear()
        os.environb.update(hint.env)
        manager, tls_dir, insecure = global_options([os.fsdecode(a) for a in hint.argv[1:]])
        client.prepare(client.resolve_manager(manager), client.resolve_credentials(tls_dir, insecure))
    except Exception:
        pass   # a command that needs no manager, or one that will report its own error


def _become_command(req: wire.Request, fds: list[int]) -> None:
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        fds.clear()
        for name in ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGCHLD"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(req.cwd)
        os.umask(req.umask)
        os.environb.clear()
        os.environb.update(req.env)
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")   # as shoal.cli.main does on import
        sys.argv = [os.fsdecode(a) for a in req.argv]
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        code = _run(sys.argv[1:])
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _run(argv: list[str]) -> int:
    """The exit status of `shoal ARGV`, as the interpreter would give it."""
    from shoal.cli.main import main as cli_main

    try:
        cli_main(argv)
        return 0
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code & 0xFF
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BaseException:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
