"""Every failure the provisioner can report, one class per kind, each with a one-line message.

Why a class per kind: `shoal machine create` (and whoever retries it) must tell a host that is
down from a host whose key changed, without parsing text. Why the messages are built here: the
wording is the user interface (Docker Machine's "Error running SSH command: exit status 255"
is the counter-example), so each message names its target, says what went wrong and, where the
user has a move, what it is. Nothing here does I/O; the classes are plain data.

Messages never contain secrets: a client key is named by its path and public fingerprint, never
its content or passphrase.
"""
from __future__ import annotations


def one_line(text: str, limit: int = 300) -> str:
    """Collapses whitespace (newlines included) and bounds the length, for remote text in messages."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def address(host: str, port: int) -> str:
    """HOST:PORT, with an IPv6 literal bracketed ([::1]:22)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProvisionerError(Exception):
    """Base of every provisioner error; str() is the one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message, limit=1000))

    @property
    def message(self) -> str:
        return str(self)


# --- SSH ------------------------------------------------------------------------------------


class SshError(ProvisionerError):
    """Base of the SSH failures. `target` is "IP:PORT" or "USER@IP:PORT"."""

    #: whether connect() retries after this failure (within its overall deadline)
    transient = False

    def __init__(self, target: str, message: str) -> None:
        super().__init__(message)
        self.target = target


class SshUnreachable(SshError):
    """No route to the host, or the host does not answer ARP/ICMP (down)."""

    transient = True

    def __init__(self, host: str, port: int, detail: str = "no route / host down") -> None:
        target = address(host, port)
        super().__init__(target, f"{target} unreachable ({detail})")


class SshRefused(SshError):
    """The host answered but nothing listens on the port (sshd not started yet, or wrong port)."""

    transient = True

    def __init__(self, host: str, port: int) -> None:
        target = address(host, port)
        super().__init__(target, f"{target} refused the connection (is sshd running and listening on port {port}?)")


class SshTimeout(SshError):
    """A stage of the connection did not finish in time: "TCP connect", "SSH banner",
    "key exchange" or "authentication"."""

    transient = True

    def __init__(self, host: str, port: int, stage: str, seconds: float) -> None:
        target = address(host, port)
        hint = " (is it an SSH server?)" if stage == "SSH banner" else ""
        super().__init__(target, f"{target} timed out during {stage} after {seconds:.1f} s{hint}")
        self.stage = stage


class SshProtocolError(SshError):
    """The peer is not an SSH server we can talk to, or it hung up during the handshake."""

    def __init__(self, host: str, port: int, reason: str, *, transient: bool = False) -> None:
        target = address(host, port)
        super().__init__(target, f"{target}: SSH handshake failed: {reason}")
        self.transient = transient


class SshAuthFailed(SshError):
    """The server refused every key we offered (or does not accept keys at all)."""

    def __init__(self, user: str, host: str, port: int, tried: str) -> None:
        target = f"{user}@{address(host, port)}"
        super().__init__(target, f"authentication failed for {target} {tried}")
        self.user = user


class SshKeyError(SshError):
    """The client key cannot be used: missing, unreadable, encrypted without a passphrase."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, f"cannot use SSH key {path}: {reason}")


class HostKeyError(SshError):
    """Base of the host key failures: the server could not be proven to be the host meant."""


class HostKeyMismatch(HostKeyError):
    """The server presented a key other than the pinned or known one."""

    def __init__(self, host: str, port: int, *, expected: list[str], presented: str, key_type: str,
                 source: str, hint: str) -> None:
        target = address(host, port)
        super().__init__(
            target,
            f"host key mismatch for {target}: expected {' or '.join(expected)} ({source}), "
            f"presented {presented} ({key_type}); {hint}",
        )
        self.expected = list(expected)
        self.presented = presented


class UnknownHostKey(HostKeyError):
    """Neither a pin nor a known_hosts entry, and the caller did not ask to accept new keys."""

    def __init__(self, host: str, port: int, *, presented: str, key_type: str) -> None:
        target = address(host, port)
        super().__init__(
            target,
            f"unknown host key for {target}: {presented} ({key_type}); check it out of band, then give "
            f"--ssh-host-key {presented} or --accept-new-host-key",
        )
        self.presented = presented


class HostKeyRevoked(HostKeyError):
    """The presented key is listed under @revoked in known_hosts."""

    def __init__(self, host: str, port: int, *, presented: str, key_type: str, source: str) -> None:
        target = address(host, port)
        super().__init__(target, f"host key {presented} ({key_type}) of {target} is revoked ({source})")
        self.presented = presented


class KnownHostsError(HostKeyError):
    """The known_hosts file cannot be read or written."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, f"known_hosts {path}: {reason}")


class BadFingerprint(ProvisionerError, ValueError):
    """A --ssh-host-key value that is not an OpenSSH SHA256 fingerprint."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f"invalid host key fingerprint {text!r}: expected SHA256: and 43 base64 characters "
            f"(as printed by `ssh-keygen -lf`)"
        )


class SshConnectionLost(SshError):
    """An established session died (host rebooted, network cut, sshd restarted)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(target, f"connection to {target} lost ({reason})")


class CommandTimeout(SshError):
    """A remote command ran past its timeout; partial output is kept on the exception."""

    def __init__(self, target: str, what: str, seconds: float, stdout: str = "", stderr: str = "") -> None:
        super().__init__(target, f"{what} on {target} timed out after {seconds:g} s")
        self.stdout = stdout
        self.stderr = stderr


class CommandFailed(SshError):
    """A remote command exited non-zero where success was required (Result.check())."""

    def __init__(self, target: str, what: str, exit_code: int, stderr: str) -> None:
        detail = one_line(stderr.strip().splitlines()[-1]) if stderr.strip() else "no error output"
        super().__init__(target, f"{what} on {target} exited {exit_code}: {detail}")
        self.exit_code = exit_code


class PrivilegeError(SshError):
    """The session can act as root neither directly nor through password-less `sudo -n`."""


class TransferError(SshError):
    """A file could not be put in place on the host."""

    def __init__(self, target: str, remote_path: str, reason: str) -> None:
        super().__init__(target, f"cannot write {remote_path} on {target}: {reason}")
        self.remote_path = remote_path


# --- facts ----------------------------------------------------------------------------------


class UnsupportedOS(ProvisionerError):
    """The host runs an OS `machine create` does not provision."""


class FactError(ProvisionerError):
    """A fact's command printed something we cannot interpret."""


# --- machine store --------------------------------------------------------------------------


class StoreError(ProvisionerError):
    """Base of the machine store's errors."""


class InvalidMachineName(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"invalid machine name {name!r}: use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )


class MachineNotFound(StoreError):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(f"machine {name!r} not found (no {path})")


class CorruptMachineRecord(StoreError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: corrupt machine record ({reason})")
        self.path = path
