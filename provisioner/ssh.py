"""SSH to the host being provisioned: connect with a deadline and verified host keys, run commands
without a tty, put files atomically.

Why not paramiko's `SSHClient`: it tries every key it can find and passwords, checks host keys
only through its policy hook (mismatches never reach it), and its timeouts cover stages, not the
whole connect. Docker Machine's generic driver showed what users get otherwise: host keys never
checked, minutes of "Waiting for SSH to be available..." with no reason given, `sudo` that needs
a tty or a password, and half-written files on the host. So here:

- `connect()` has ONE overall deadline (`timeout`) covering TCP connect, the SSH banner, the key
  exchange and authentication, and retries only what can heal by itself (connection refused while
  sshd starts, timeouts, no ARP answer yet) with exponential back-off inside that deadline. What
  cannot heal (a host key mismatch, a rejected key) fails at once. Every failure kind is its own
  exception class with a one-line message (provisioner/errors.py).
- Host keys follow provisioner/hostkeys.py: pinned fingerprint, else known_hosts, else
  accept-and-record only with `accept_new=True`. Never silently.
- Only the keys the caller names are offered (`key_path`, like IdentitiesOnly), or, without one,
  the ssh-agent's keys and ~/.ssh/id_{ed25519,ecdsa,rsa}: an agent with many keys otherwise
  trips the server's MaxAuthTries before the right key is tried.
- `Session.run` never asks for a pty (so no tty-only sudo, no mangled output), closes stdin unless
  data is given (a command waiting for input gets EOF instead of hanging), bounds its output and
  has a per-command timeout. `sudo=True` means `sudo -n` (fails instead of prompting).
- `Session.put` writes to a temporary name in the target's directory, sets the mode before any
  byte is written, and renames into place, so a reader sees the old file or the new one, never a
  part; without root it stages under the user's home and lets `sudo -n install` + `mv` place it.

Secrets: key contents and passphrases are never logged or put in messages (keys are named by
path and public fingerprint); command text is logged at DEBUG only, so secrets must travel in
`stdin_data` or `put`, never on a command line (it would also show in the host's `ps`).
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import posixpath
import random
import secrets
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import paramiko

from shoal.provisioner import hostkeys
from shoal.provisioner.errors import (
    CommandFailed,
    CommandTimeout,
    HostKeyMismatch,
    KnownHostsError,
    PrivilegeError,
    SshAuthFailed,
    SshConnectionLost,
    SshError,
    SshKeyError,
    SshProtocolError,
    SshRefused,
    SshTimeout,
    SshUnreachable,
    TransferError,
    address,
    one_line,
)

log = logging.getLogger("shoal.provisioner.ssh")

DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
DEFAULT_TIMEOUT = 60.0  # overall, for connect()
DEFAULT_ATTEMPT_TIMEOUT = 15.0  # one attempt: TCP connect + banner + key exchange + authentication
MAX_OUTPUT = 1 << 20  # bytes kept per stream of one command; the rest is read and dropped
FIRST_BACKOFF = 0.25
MAX_BACKOFF = 5.0
EOF_GRACE = 0.5  # after the exit status, how long to wait for EOF (a daemon may hold stdout open)
KEEPALIVE = 15  # seconds between keepalives on an idle session

Privilege = Literal["root", "sudo"]
RetryHook = Callable[[int, SshError, float], None]


# --- pure helpers (unit-tested without a server) ---------------------------------------------


@dataclass(frozen=True)
class Result:
    """What a remote command did. `truncated` says output beyond `max_output` was dropped."""

    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def command_text(cmd: str | Sequence[str]) -> str:
    """A command as the remote shell gets it: a string as is, a list quoted word by word."""
    text = cmd if isinstance(cmd, str) else shlex.join(list(cmd))
    if not text.strip():
        raise ValueError("empty remote command")
    return text


def build_command(cmd: str | Sequence[str], *, sudo: bool, as_root: bool) -> str:
    """The command line sent to the host. With `sudo` and a non-root session it runs under
    `sudo -n` (never prompts: fails at once when a password would be needed) through `sh -c`, so
    pipes, redirections and `&&` all run as root, not just the first word."""
    text = command_text(cmd)
    if sudo and not as_root:
        return "sudo -n -- sh -c " + shlex.quote(text)
    return text


def describe_command(cmd: str | Sequence[str], limit: int = 80) -> str:
    """A short, one-line label of a command for error messages."""
    return "`" + one_line(command_text(cmd), limit) + "`"


def staging_name(remote_path: str, token: str) -> str:
    """The temporary name next to `remote_path` a file is written under before the rename."""
    directory, base = posixpath.split(remote_path)
    return posixpath.join(directory, f".{base[:200]}.shoal-{token}")


def install_command(staged: str, remote_path: str, mode: int, token: str) -> str:
    """Moves a staged upload into place as root, atomically: `install` copies it next to the
    target with its mode (and root ownership), `mv` renames it over the target; on failure the
    temporary copy is removed and the status kept."""
    q = shlex.quote
    tmp = staging_name(remote_path, token)
    return (
        f"install -m {mode:04o} -- {q(staged)} {q(tmp)} && mv -f -- {q(tmp)} {q(remote_path)}"
        f" || {{ rc=$?; rm -f -- {q(tmp)}; exit $rc; }}"
    )


PRIVILEGE_COMMANDS = ("id -u", "sudo -n true")


def interpret_privilege(target: str, user: str, id_result: Result, sudo_result: Result | None) -> Privilege:
    """How a session can act as root, from `id -u` and (when not root) `sudo -n true`."""
    if id_result.exit_code != 0:
        raise PrivilegeError(target, f"{target}: cannot tell whether {user} is root "
                                     f"(`id -u` exited {id_result.exit_code}: {one_line(id_result.stderr) or 'no output'})")
    if id_result.stdout.strip() == "0":
        return "root"
    if sudo_result is None:
        raise ValueError("sudo_result is needed when the user is not root")
    if sudo_result.exit_code == 0:
        return "sudo"
    said = one_line(sudo_result.stderr, 160)
    if sudo_result.exit_code == 127 or "not found" in said:
        raise PrivilegeError(target, f"{target}: {user} is not root and sudo is not installed: give --ssh-user root, "
                                     f"or install sudo and allow {user} password-less sudo (no tty needed)")
    message = (f"{target}: {user} is not root and `sudo -n` asks for a password or is not allowed: "
               f"give --ssh-user root, or allow {user} password-less sudo (no tty needed)")
    raise PrivilegeError(target, message + (f"; sudo said: {said}" if said else ""))


# --- client keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientKey:
    """A key to offer; `label` names it in messages (a path, or "agent key")."""

    label: str
    pkey: paramiko.PKey

    def describe(self) -> str:
        return f"{self.label} ({hostkeys.fingerprint(self.pkey.asbytes())})"


def load_key(path: str | os.PathLike, passphrase: str | None = None) -> ClientKey:
    """Reads one private key file; failures name the file and the reason, never the content."""
    shown = str(path)
    if shown.endswith(".pub"):
        raise SshKeyError(shown, "this is a public key; give the private key file (without .pub)")
    try:
        secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
        pkey = paramiko.PKey.from_path(Path(path).expanduser(), passphrase=secret)
    except FileNotFoundError:
        raise SshKeyError(shown, "no such file") from None
    except PermissionError:
        raise SshKeyError(shown, "permission denied") from None
    except IsADirectoryError:
        raise SshKeyError(shown, "is a directory") from None
    except paramiko.PasswordRequiredException:
        raise SshKeyError(shown, "it is encrypted: give its passphrase, or load it into ssh-agent") from None
    except OSError as exc:
        raise SshKeyError(shown, exc.strerror or str(exc)) from None
    except Exception as exc:  # paramiko raises SSHException, UnknownKeyType, ValueError... on bad content
        if passphrase is None and "password" in str(exc).lower():
            # paramiko says so with a plain SSHException for OpenSSH-format keys
            raise SshKeyError(shown, "it is encrypted: give its passphrase, or load it into ssh-agent") from None
        reason = "wrong passphrase, or not a private key" if passphrase else "not a private key paramiko can read"
        raise SshKeyError(shown, f"{reason} ({one_line(str(exc), 120) or type(exc).__name__})") from None
    return ClientKey(shown, pkey)


def _default_keys(passphrase: str | None, use_agent: bool) -> tuple[list[ClientKey], paramiko.Agent | None]:
    keys: list[ClientKey] = []
    agent = None
    if use_agent and os.environ.get("SSH_AUTH_SOCK"):
        try:
            agent = paramiko.Agent()
            keys += [ClientKey("agent key", k) for k in agent.get_keys()]
        except (paramiko.SSHException, OSError):
            agent = None
    home_ssh = Path.home() / ".ssh"
    for name in DEFAULT_IDENTITIES:
        path = home_ssh / name
        if not path.exists():
            continue
        try:
            keys.append(load_key(path, passphrase))
        except SshKeyError as exc:
            log.debug("skipping %s", exc)
    if not keys:
        if agent is not None:
            agent.close()
        names = ", ".join(DEFAULT_IDENTITIES)
        raise SshKeyError(str(home_ssh / "id_*"), f"no key to offer (none of {names} is usable without a "
                                                  "passphrase, and no ssh-agent key): give --ssh-key PATH")
    return keys, agent


# --- connecting ------------------------------------------------------------------------------


def default_known_hosts() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


def read_known_hosts(path: Path) -> list[hostkeys.KnownHostEntry]:
    try:
        return hostkeys.parse_known_hosts(path.read_text(errors="replace"))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise KnownHostsError(str(path), f"cannot read it ({exc.strerror or exc})") from None


def record_known_host(path: Path, host: str, port: int, key: paramiko.PKey) -> None:
    """Appends one hashed line for the host; every other line of the file stays as it was."""
    line = hostkeys.known_hosts_line(hostkeys.known_hosts_name(host, port), key.get_name(), key.asbytes(),
                                     salt=secrets.token_bytes(20))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            lead = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
            os.write(fd, lead + line.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise KnownHostsError(str(path), f"cannot record the host key ({exc.strerror or exc})") from None


class _Attempt:
    """One try: TCP, SSH handshake, host key check, authentication, all before `until`."""

    def __init__(self, host: str, port: int, until: float, deadline: float) -> None:
        self.host, self.port, self.until = host, port, until
        self.truncated = until >= deadline  # the overall deadline, not attempt_timeout, bounds this try

    def remaining(self) -> float:
        return self.until - time.monotonic()

    def tcp(self) -> socket.socket:
        started = time.monotonic()
        budget = self.remaining()
        if budget <= 0:
            raise SshTimeout(self.host, self.port, "TCP connect", 0.0)
        try:
            return socket.create_connection((self.host, self.port), timeout=budget)
        except socket.gaierror as exc:
            err = SshUnreachable(self.host, self.port, f"cannot resolve {self.host}: {exc.strerror}")
            err.transient = False
            raise err from None
        except ConnectionRefusedError:
            raise SshRefused(self.host, self.port) from None
        except (socket.timeout, TimeoutError):
            raise SshTimeout(self.host, self.port, "TCP connect", time.monotonic() - started) from None
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
                raise SshUnreachable(self.host, self.port) from None
            if exc.errno == errno.ENETUNREACH:
                err = SshUnreachable(self.host, self.port)
                err.transient = False  # no route in our own table: waiting will not add one
                raise err from None
            target = address(self.host, self.port)
            raise SshError(target, f"{target}: cannot connect ({exc.strerror or exc})") from None

    def handshake(self, *, known_types: Sequence[str] = (), only: Sequence[str] | None = None) -> paramiko.Transport:
        """TCP + banner + key exchange; returns the transport with the server's key proven
        (paramiko checks the server's signature over the exchange)."""
        started = time.monotonic()
        sock = self.tcp()
        try:
            t = paramiko.Transport(sock)
        except BaseException:
            sock.close()
            raise
        t.set_log_channel("shoal.provisioner.ssh.transport")
        try:
            budget = max(self.remaining(), 0.1)
            t.banner_timeout = budget
            t.handshake_timeout = budget
            options = t.get_security_options()
            default = tuple(options.key_types)
            if only is not None:
                options.key_types = tuple(only)
            elif known_types:
                options.key_types = hostkeys.preferred_algorithms(default, known_types)
            done = threading.Event()
            t.start_client(event=done)
            while not done.wait(0.05):  # poll the negotiation against our own deadline
                if self.remaining() <= 0:
                    stage = "SSH banner" if not t.remote_version else "key exchange"
                    raise SshTimeout(self.host, self.port, stage, time.monotonic() - started)
            if not t.is_active():
                raise self._handshake_failure(t, t.get_exception(), started)
            return t
        except BaseException:
            t.close()
            raise

    def _handshake_failure(self, t: paramiko.Transport, exc: BaseException | None, started: float) -> SshError:
        host, port = self.host, self.port
        cause = exc.__context__ if exc is not None else None
        if isinstance(exc, paramiko.IncompatiblePeer):
            return SshProtocolError(host, port, f"no algorithm in common ({one_line(str(exc), 160)})")
        if isinstance(cause, (socket.timeout, TimeoutError)) or self.remaining() <= 0:
            stage = "SSH banner" if not t.remote_version else "key exchange"
            return SshTimeout(host, port, stage, time.monotonic() - started)
        text = one_line(str(exc), 160) if exc is not None else ""
        if "Indecipherable protocol version" in text or "Invalid SSH banner" in text:
            return SshProtocolError(host, port, f"not an SSH server ({text})")
        if not t.remote_version:
            return SshProtocolError(host, port, "the server closed the connection before its SSH banner "
                                                "(sshd starting, or MaxStartups reached)", transient=True)
        if exc is None or isinstance(exc, (EOFError, OSError)) or isinstance(cause, (EOFError, OSError)):
            return SshProtocolError(host, port, "the connection closed during the key exchange", transient=True)
        return SshProtocolError(host, port, text or type(exc).__name__)

    def authenticate(self, t: paramiko.Transport, user: str, keys: Sequence[ClientKey]) -> ClientKey:
        host, port = self.host, self.port
        tried: list[str] = []
        started = time.monotonic()
        for key in keys:
            budget = self.remaining()
            if budget <= 0:
                raise SshTimeout(host, port, "authentication", time.monotonic() - started)
            t.auth_timeout = budget
            try:
                rest = t.auth_publickey(user, key.pkey)
            except paramiko.BadAuthenticationType as exc:
                allowed = ", ".join(exc.allowed_types) or "nothing"
                raise SshAuthFailed(user, host, port, f"(the server does not accept keys; it allows: {allowed})") from None
            except paramiko.AuthenticationException as exc:
                if "timeout" in str(exc).lower():
                    raise SshTimeout(host, port, "authentication", time.monotonic() - started) from None
                tried.append(key.describe())
                if not t.is_active():
                    break  # the server hung up (MaxAuthTries)
                continue
            except (paramiko.SSHException, EOFError, OSError):
                raise SshProtocolError(host, port, "the connection closed during authentication", transient=True) from None
            if rest:
                raise SshAuthFailed(user, host, port, f"with key {key.describe()}: the server also wants "
                                                      f"{', '.join(rest)}, which shoal does not do")
            if t.is_authenticated():
                return key
            tried.append(key.describe())
        noun = "key" if len(tried) == 1 else "keys"
        raise SshAuthFailed(user, host, port, f"with {noun} {', '.join(tried)}" if tried else "(no key was tried)")


def connect(
    host: str,
    *,
    port: int = 22,
    user: str = "root",
    key_path: str | os.PathLike | None = None,
    passphrase: str | None = None,
    host_key: str | None = None,
    known_hosts: str | os.PathLike | None = None,
    accept_new: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
    use_agent: bool = True,
    on_retry: RetryHook | None = None,
) -> Session:
    """Opens an authenticated session to USER@HOST:PORT, or raises an SshError subclass.

    host_key: a pinned `SHA256:...` fingerprint; when given, known_hosts is not consulted.
    known_hosts: the file to verify against and, with accept_new, to record in
        (default ~/.ssh/known_hosts).
    timeout: the overall deadline in seconds, retries included; attempt_timeout bounds one try.
    on_retry(attempt, error, delay): called before each back-off, e.g. to show progress.
    """
    pinned = hostkeys.parse_fingerprint(host_key) if host_key else None
    if key_path is not None:
        keys, agent = [load_key(key_path, passphrase)], None
    else:
        keys, agent = _default_keys(passphrase, use_agent)
    kh_path = Path(known_hosts).expanduser() if known_hosts is not None else default_known_hosts()
    try:
        return _connect(host, port, user, keys, pinned, kh_path, accept_new, timeout, attempt_timeout, on_retry)
    finally:
        if agent is not None:
            agent.close()


def _connect(host, port, user, keys, pinned, kh_path, accept_new, timeout, attempt_timeout, on_retry) -> Session:
    started = time.monotonic()
    deadline = started + timeout
    backoff = FIRST_BACKOFF
    definite: SshError | None = None  # the last failure not caused by the deadline cutting an attempt short
    attempt = 0
    while True:
        attempt += 1
        until = min(deadline, time.monotonic() + attempt_timeout)
        try_ = _Attempt(host, port, until, deadline)
        try:
            return _one_attempt(try_, user, keys, pinned, kh_path, accept_new)
        except SshError as exc:
            if not exc.transient:
                raise
            cut_short = isinstance(exc, SshTimeout) and try_.truncated
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                final = definite if cut_short and definite is not None else exc
                if attempt > 1:
                    final.args = (f"{final}; gave up after {attempt} attempts in {time.monotonic() - started:.1f} s",)
                raise final from None
            if not cut_short:
                definite = exc
            pause = min(backoff * random.uniform(0.8, 1.2), remaining)
            log.debug("attempt %d to %s failed (%s); retrying in %.2f s", attempt, address(host, port), exc, pause)
            if on_retry is not None:
                on_retry(attempt, exc, pause)
            time.sleep(pause)  # back-off between attempts
            backoff = min(backoff * 2, MAX_BACKOFF)


def _one_attempt(a: _Attempt, user, keys, pinned, kh_path: Path, accept_new: bool) -> Session:
    entries = [] if pinned else read_known_hosts(kh_path)
    known_types = [] if pinned else hostkeys.known_types_for(entries, hostkeys.known_hosts_name(a.host, a.port))
    t = a.handshake(known_types=known_types)
    try:
        key = t.get_remote_server_key()
        try:
            verdict = hostkeys.check_host_key(a.host, a.port, key.get_name(), key.asbytes(), pinned=pinned,
                                              entries=entries, known_hosts_path=str(kh_path), accept_new=accept_new)
        except HostKeyMismatch:
            if pinned is None:
                raise
            # The pin may be of another key type the server also has (e.g. its RSA key, as shown by
            # a cloud console): offer each other family alone and see whether it matches.
            probe = _probe_pinned(a, pinned, key.get_name(), tuple(t.get_security_options().key_types))
            if probe is None:
                raise
            t.close()
            t, key = probe, probe.get_remote_server_key()
            verdict = hostkeys.Verdict(record=False, source="--ssh-host-key")
        if verdict.record:
            record_known_host(kh_path, a.host, a.port, key)
            log.info("recorded host key %s of %s in %s", hostkeys.fingerprint(key.asbytes()),
                     address(a.host, a.port), kh_path)
        used = a.authenticate(t, user, keys)
        t.set_keepalive(KEEPALIVE)
        return Session(t, host=a.host, port=a.port, user=user, host_key=hostkeys.fingerprint(key.asbytes()),
                       host_key_type=key.get_name(), host_key_source=verdict.source, key_used=used.label)
    except BaseException:
        t.close()
        raise


def _probe_pinned(a: _Attempt, pinned: str, presented_type: str, default: Sequence[str]) -> paramiko.Transport | None:
    for algorithms in hostkeys.other_families(default, presented_type):
        try:
            t = a.handshake(only=algorithms)
        except SshError:
            continue  # the server has no key of that family (or the probe failed): not a match
        if hostkeys.fingerprint(t.get_remote_server_key().asbytes()) == pinned:
            return t
        t.close()
    return None


# --- the session -----------------------------------------------------------------------------


def _has_status(chan: paramiko.Channel) -> bool:
    """Whether the server sent an exit status (paramiko keeps -1 until one arrives)."""
    return chan.exit_status != -1


class Session:
    """An authenticated SSH connection to one host. Thread-safe for run(); put() serialises on
    one SFTP channel."""

    def __init__(self, transport: paramiko.Transport, *, host: str, port: int, user: str, host_key: str,
                 host_key_type: str, host_key_source: str, key_used: str) -> None:
        self._t = transport
        self.host, self.port, self.user = host, port, user
        self.host_key = host_key  # the verified fingerprint: store it to pin later connections
        self.host_key_type = host_key_type
        self.host_key_source = host_key_source
        self.key_used = key_used
        self._privilege: Privilege | None = "root" if user == "root" else None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()

    @property
    def target(self) -> str:
        return f"{self.user}@{address(self.host, self.port)}"

    @property
    def is_root(self) -> bool:
        return self._privilege == "root"

    def known_hosts_line(self) -> str:
        """The verified host key as one known_hosts line (for the system's ssh/scp)."""
        key = self._t.get_remote_server_key()
        return hostkeys.known_hosts_line(hostkeys.known_hosts_name(self.host, self.port), key.get_name(), key.asbytes())

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._sftp_lock:
            if self._sftp is not None:
                try:
                    self._sftp.close()
                except (OSError, EOFError, paramiko.SSHException):
                    pass
                self._sftp = None
        self._t.close()

    # -- commands --

    def run(
        self,
        cmd: str | Sequence[str],
        *,
        sudo: bool = False,
        timeout: float,
        stdin_data: bytes | str | None = None,
        max_output: int = MAX_OUTPUT,
        check: bool = False,
        what: str | None = None,
    ) -> Result:
        """Runs a command (no pty) and returns its exit code and output, each stream bounded to
        `max_output` bytes. `check=True` raises CommandFailed on a non-zero exit. `what` replaces
        the command text in messages."""
        command = build_command(cmd, sudo=sudo, as_root=self.is_root)
        label = what or describe_command(cmd)
        log.debug("%s: running %s", self.target, label)
        data = stdin_data.encode() if isinstance(stdin_data, str) else stdin_data
        chan = self._open_channel(min(timeout, 30.0))
        try:
            try:
                chan.exec_command(command)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise SshConnectionLost(self.target, f"while starting {label}: {one_line(str(exc), 120)}") from None
            result = self._collect(chan, data, timeout, max_output, label)
        finally:
            chan.close()
        if check and result.exit_code != 0:
            raise CommandFailed(self.target, label, result.exit_code, result.stderr)
        return result

    def _open_channel(self, timeout: float) -> paramiko.Channel:
        if not self._t.is_active():
            raise SshConnectionLost(self.target, "the session is closed")
        try:
            return self._t.open_session(timeout=timeout)
        except paramiko.ChannelException as exc:
            raise SshError(self.target, f"{self.target} refused a new channel ({one_line(exc.text or '', 100)})") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SshConnectionLost(self.target, one_line(str(exc), 120) or "cannot open a channel") from None

    def _collect(self, chan: paramiko.Channel, data: bytes | None, timeout: float, max_output: int,
                 label: str) -> Result:
        deadline = time.monotonic() + timeout
        out, err = bytearray(), bytearray()
        truncated = False
        pending = memoryview(data) if data else None
        if pending is None:
            chan.shutdown_write()  # stdin at EOF: nothing waits for input that never comes
        exit_seen = None

        def keep(buf: bytearray, chunk: bytes) -> None:
            nonlocal truncated
            room = max_output - len(buf)
            if len(chunk) > room:
                truncated = True
            buf += chunk[: max(room, 0)]

        while True:
            progressed = False
            while chan.recv_ready():
                chunk = chan.recv(65536)
                if not chunk:
                    break
                keep(out, chunk)
                progressed = True
            while chan.recv_stderr_ready():
                chunk = chan.recv_stderr(65536)
                if not chunk:
                    break
                keep(err, chunk)
                progressed = True
            if pending is not None and chan.send_ready():
                try:
                    sent = chan.send(pending[:32768])
                except (OSError, EOFError, paramiko.SSHException):
                    sent = len(pending)  # the command closed its stdin; its exit status tells the rest
                pending = pending[sent:] if sent < len(pending) else None
                if pending is None and not chan.closed:
                    chan.shutdown_write()
                progressed = True
            drained = not chan.recv_ready() and not chan.recv_stderr_ready()
            if drained and (chan.eof_received or chan.closed):
                # All output is in; the exit status follows at once (a closed channel sets the
                # event without one, e.g. a command killed by a signal or a dead transport).
                if not chan.status_event.wait(max(deadline - time.monotonic(), 0)):
                    raise CommandTimeout(self.target, label, timeout, out.decode(errors="replace"),
                                         err.decode(errors="replace"))
                if not _has_status(chan) and not self._t.is_active():
                    raise SshConnectionLost(self.target, f"while running {label}")
                break
            if chan.exit_status_ready() and drained:
                exit_seen = exit_seen or time.monotonic()
                if time.monotonic() - exit_seen > EOF_GRACE:
                    break  # exited, but a child it left behind holds stdout open
            now = time.monotonic()
            if now >= deadline:
                raise CommandTimeout(self.target, label, timeout, out.decode(errors="replace"),
                                     err.decode(errors="replace"))
            if not self._t.is_active():
                raise SshConnectionLost(self.target, f"while running {label}")
            if not progressed:
                wait = min(0.02 if pending is not None else 0.1, deadline - now)
                select.select([chan], [], [], max(wait, 0))
        code = chan.recv_exit_status() if chan.exit_status_ready() else -1
        return Result(code, out.decode(errors="replace"), err.decode(errors="replace"), truncated)

    def check_privilege(self, *, timeout: float = 30.0) -> Privilege:
        """"root" when the session user is uid 0, "sudo" when `sudo -n` works without a password
        or tty; otherwise PrivilegeError saying what is missing."""
        id_result = self.run(PRIVILEGE_COMMANDS[0], timeout=timeout)
        sudo_result = None
        if not (id_result.exit_code == 0 and id_result.stdout.strip() == "0"):
            sudo_result = self.run(PRIVILEGE_COMMANDS[1], timeout=timeout)
        self._privilege = interpret_privilege(self.target, self.user, id_result, sudo_result)
        return self._privilege

    # -- files --

    def put(
        self,
        data_or_local_path: bytes | str | os.PathLike,
        remote_path: str,
        mode: int = 0o644,
        *,
        sudo: bool | None = None,
        timeout: float = 120.0,
    ) -> None:
        """Writes a file on the host atomically with `mode`. `bytes` are the content; a str or
        path names a local file. sudo=None: write directly, and if that is denied to a non-root
        user, stage the file under the user's home and move it into place with `sudo -n`;
        sudo=True always stages (as root without sudo); sudo=False never does."""
        if not posixpath.isabs(remote_path) or remote_path.endswith("/"):
            raise TransferError(self.target, remote_path, "the remote path must be an absolute file path")
        if isinstance(data_or_local_path, (bytes, bytearray, memoryview)):
            data = bytes(data_or_local_path)
        else:
            try:
                data = Path(data_or_local_path).read_bytes()
            except OSError as exc:
                raise TransferError(self.target, remote_path,
                                    f"cannot read local file {data_or_local_path} ({exc.strerror or exc})") from None
        with self._sftp_lock:
            sftp = self._sftp_client(timeout)
            if sudo is True:
                self._put_staged(sftp, data, remote_path, mode, timeout)
                return
            try:
                self._put_direct(sftp, data, remote_path, mode)
            except PermissionError:
                if sudo is False or self.is_root:
                    raise TransferError(self.target, remote_path, "permission denied") from None
                self._put_staged(sftp, data, remote_path, mode, timeout)

    def _sftp_client(self, timeout: float) -> paramiko.SFTPClient:
        if self._sftp is None:
            chan = self._open_channel(min(timeout, 30.0))
            try:
                chan.invoke_subsystem("sftp")
                self._sftp = paramiko.SFTPClient(chan)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                chan.close()
                if not self._t.is_active():
                    raise SshConnectionLost(self.target, "while starting SFTP") from None
                raise SshError(self.target, f"{self.target} offers no SFTP ({one_line(str(exc), 100)}); "
                                            "enable `Subsystem sftp` in its sshd_config") from None
        self._sftp.get_channel().settimeout(timeout)
        return self._sftp

    def _put_direct(self, sftp: paramiko.SFTPClient, data: bytes, remote_path: str, mode: int) -> None:
        tmp = staging_name(remote_path, secrets.token_hex(6))
        try:
            self._write_new(sftp, tmp, data, mode)
            sftp.posix_rename(tmp, remote_path)
        except BaseException as exc:
            self._discard(sftp, tmp)
            if isinstance(exc, PermissionError) or not isinstance(exc, Exception):
                raise
            raise self._transfer_error(remote_path, exc) from None

    def _put_staged(self, sftp: paramiko.SFTPClient, data: bytes, remote_path: str, mode: int, timeout: float) -> None:
        token = secrets.token_hex(6)
        staged = None
        try:
            for directory in (sftp.normalize("."), "/tmp"):
                candidate = posixpath.join(directory, f".shoal-upload-{token}")
                try:
                    self._write_new(sftp, candidate, data, 0o600)
                    staged = candidate
                    break
                except PermissionError:
                    continue
            if staged is None:
                raise TransferError(self.target, remote_path, "cannot stage the upload in the user's home or /tmp")
            result = self.run(install_command(staged, remote_path, mode, token), sudo=True, timeout=timeout,
                              what=f"installing {remote_path}")
            if result.exit_code != 0:
                said = one_line(result.stderr, 160) or f"exit status {result.exit_code}"
                raise TransferError(self.target, remote_path, f"`sudo -n install` failed: {said}")
        except SshError:
            raise
        except Exception as exc:
            raise self._transfer_error(remote_path, exc) from None
        finally:
            if staged is not None:
                self._discard(sftp, staged)

    @staticmethod
    def _write_new(sftp: paramiko.SFTPClient, path: str, data: bytes, mode: int) -> None:
        # 'x': create, never reuse or follow an existing file; the mode is set before any data.
        with sftp.open(path, "wbx") as f:
            f.chmod(mode)
            f.set_pipelined(True)
            f.write(data)

    @staticmethod
    def _discard(sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            sftp.remove(path)
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def _transfer_error(self, remote_path: str, exc: BaseException) -> SshError:
        if isinstance(exc, SshError):
            return exc
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransferError(self.target, remote_path, "the transfer timed out")
        if isinstance(exc, FileNotFoundError):
            return TransferError(self.target, remote_path, f"directory {posixpath.dirname(remote_path)} does not exist")
        if isinstance(exc, (EOFError, paramiko.SSHException)) or not self._t.is_active():
            return SshConnectionLost(self.target, f"while writing {remote_path}")
        if isinstance(exc, OSError):
            return TransferError(self.target, remote_path, one_line(exc.strerror or str(exc), 160))
        return TransferError(self.target, remote_path, one_line(str(exc), 160) or type(exc).__name__)
