"""provisioner.ssh against a real OpenSSH server.

Each test starts its own `/usr/sbin/sshd -D -e -f CONFIG` on 127.0.0.1 and a free port, with host
keys, authorized_keys and pid file in the test's tmp dir, and stops it by its pid. The session
user is root (the tests run as root); the non-root sudo paths are covered by
tests/unit/test_provisioner_ssh_commands.py. Traffic goes to loopback, and for the unreachable
case to a bridge the test makes (provt-br, 10.213.61.0/24) and removes.
"""
from __future__ import annotations

import base64
import logging
import os
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from shoal.provisioner import hostkeys, ssh
from shoal.provisioner.errors import (
    CommandFailed,
    CommandTimeout,
    HostKeyMismatch,
    SshAuthFailed,
    SshKeyError,
    SshRefused,
    SshTimeout,
    SshUnreachable,
    TransferError,
    UnknownHostKey,
)
from tests.polling import poll
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # compiled into sshd; Debian's ssh.service makes it at boot
BRIDGE = "provt-br"
BRIDGE_CIDR = "10.213.61.1/24"
ABSENT_HOST = "10.213.61.99"


# --- keys and the server --------------------------------------------------------------------


class Key:
    """A key pair written as OpenSSH files: `path` (private, 0600) and `path.pub`."""

    def __init__(self, path: Path, kind: str = "ed25519", passphrase: str | None = None) -> None:
        private = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
        encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                      else serialization.NoEncryption())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
        self.public_line = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        self.path = path
        path.write_bytes(pem)
        path.chmod(0o600)
        Path(f"{path}.pub").write_text(self.public_line + "\n")
        self.private_text = pem.decode()
        self.key_type, b64 = self.public_line.split()[:2]
        self.blob = base64.b64decode(b64)
        self.fingerprint = hostkeys.fingerprint(self.blob)


class Sshd:
    """One sshd process of this test, on 127.0.0.1:port."""

    def __init__(self, directory: Path, port: int, client_keys: list[Key]) -> None:
        self.dir = directory
        self.port = port
        self.authorized = directory / "authorized_keys"
        self.authorized.write_text("".join(k.public_line + "\n" for k in client_keys))
        self.proc: subprocess.Popen | None = None
        self.host_keys: list[Key] = []
        self.generation = 0

    def new_host_keys(self, kinds=("ed25519",)) -> list[Key]:
        self.generation += 1
        return [Key(self.dir / f"host_{kind}_{self.generation}", kind) for kind in kinds]

    def start(self, host_keys: list[Key] | None = None) -> None:
        self.host_keys = host_keys or self.host_keys or self.new_host_keys()
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            *(f"HostKey {k.path}" for k in self.host_keys),
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized}",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "LogLevel VERBOSE",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]))
        self.log = open(self.dir / f"sshd-{self.generation}.log", "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        poll(self._speaks_ssh, timeout=10, interval=0.02, what=f"sshd on port {self.port}")

    def _speaks_ssh(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"sshd exited {self.proc.returncode}: {(self.dir / f'sshd-{self.generation}.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None:
            self.log.close()
        self.proc = None

    def restart(self, host_keys: list[Key]) -> None:
        self.stop()
        self.start(host_keys)

    @property
    def host_key(self) -> Key:
        return self.host_keys[0]


@pytest.fixture(scope="module", autouse=True)
def privsep_dir():
    if os.geteuid() != 0:
        pytest.fail("the sshd tests need root (sshd privilege separation, the session user is root)")
    # sshd refuses to start without its privilege separation directory; it is a system directory
    # (tmpfs, made by ssh.service at boot), not ours to remove afterwards: other sshds may use it.
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)


@pytest.fixture
def client_key(tmp_path) -> Key:
    return Key(tmp_path / "id_client")


@pytest.fixture
def sshd(tmp_path, client_key):
    server = Sshd(tmp_path, free_port(), [client_key])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path) -> Path:
    return tmp_path / "ssh" / "known_hosts"


def opts(sshd: Sshd, client_key: Key, **kw):
    return dict(port=sshd.port, user="root", key_path=client_key.path, use_agent=False, timeout=10.0) | kw


# --- connect, run, put ----------------------------------------------------------------------


def test_pinned_fingerprint_connect_run_and_put(sshd, client_key, tmp_path):
    # Our fingerprint format is OpenSSH's: compare with ssh-keygen's own.
    keygen = subprocess.run(["ssh-keygen", "-lf", f"{sshd.host_key.path}.pub"], capture_output=True, text=True,
                            check=True)
    assert keygen.stdout.split()[1] == sshd.host_key.fingerprint

    with ssh.connect("127.0.0.1", **opts(sshd, client_key, host_key=sshd.host_key.fingerprint)) as s:
        assert s.host_key == sshd.host_key.fingerprint and s.host_key_source == "--ssh-host-key"
        assert s.key_used == str(client_key.path)

        r = s.run("echo out; echo err >&2; exit 3", timeout=10)
        assert (r.exit_code, r.stdout, r.stderr, r.truncated) == (3, "out\n", "err\n", False)
        assert s.run(["printf", "%s|", "a b", "c'd"], timeout=10).stdout == "a b|c'd|"
        assert s.run("cat", timeout=10, stdin_data=b"x" * 300_000).stdout == "x" * 300_000
        assert s.run("test -t 0 || echo no-tty", timeout=10).stdout == "no-tty\n"
        assert s.run("cat; echo eof", timeout=10).stdout == "eof\n"  # stdin is at EOF, nothing hangs
        assert s.run("id -u", sudo=True, timeout=10).stdout == "0\n"  # root: no sudo needed (none installed)
        assert s.check_privilege() == "root"

        big = s.run("head -c 3000000 /dev/zero", timeout=10, max_output=1000)
        assert big.exit_code == 0 and len(big.stdout) == 1000 and big.truncated

        with pytest.raises(CommandFailed, match=r"^`false` on root@127\.0\.0\.1:\d+ exited 1: no error output$"):
            s.run("false", timeout=10, check=True)

        started = time.monotonic()
        with pytest.raises(CommandTimeout, match=r"^`exec sleep 3` on root@127\.0\.0\.1:\d+ timed out after 0.3 s$"):
            s.run("exec sleep 3", timeout=0.3)
        assert time.monotonic() - started < 1.5

        # A command that leaves a child holding stdout open returns once it exited, not when the child does.
        started = time.monotonic()
        assert s.run("(sleep 3 &); echo started", timeout=10).stdout == "started\n"
        assert time.monotonic() - started < 2

        target_dir = tmp_path / "etc-shoal"
        target_dir.mkdir()
        target = target_dir / "agent.conf"
        target.write_text("old\n")
        old_inode = target.stat().st_ino
        s.put(b"new content\n", str(target), 0o640)
        assert target.read_bytes() == b"new content\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
        assert target.stat().st_ino != old_inode  # renamed into place, not rewritten in place
        assert sorted(p.name for p in target_dir.iterdir()) == ["agent.conf"]  # no temporary left

        local = tmp_path / "local.bin"
        local.write_bytes(os.urandom(200_000))
        s.put(local, str(target_dir / "blob"), 0o600)
        assert (target_dir / "blob").read_bytes() == local.read_bytes()
        assert stat.S_IMODE((target_dir / "blob").stat().st_mode) == 0o600

        # The staged path (what a sudo user gets): upload under the home dir, install + mv into place.
        home = Path(s.run("echo $HOME", timeout=10).stdout.strip())
        before = set(home.glob(".shoal-upload-*"))
        s.put(b"staged\n", str(target_dir / "staged.conf"), 0o604, sudo=True)
        assert (target_dir / "staged.conf").read_bytes() == b"staged\n"
        assert stat.S_IMODE((target_dir / "staged.conf").stat().st_mode) == 0o604
        assert set(home.glob(".shoal-upload-*")) == before
        assert sorted(p.name for p in target_dir.iterdir()) == ["agent.conf", "blob", "staged.conf"]

        with pytest.raises(TransferError, match=r"^cannot write /nonexistent-dir/x on root@127\.0\.0\.1:\d+: "
                                                r"directory /nonexistent-dir does not exist$"):
            s.put(b"x", "/nonexistent-dir/x")


def test_pinned_fingerprint_mismatch_names_both(sshd, client_key):
    other = Key(sshd.dir / "not_the_host_key")
    with pytest.raises(HostKeyMismatch) as info:
        ssh.connect("127.0.0.1", **opts(sshd, client_key, host_key=other.fingerprint))
    message = str(info.value)
    assert message.startswith(f"host key mismatch for 127.0.0.1:{sshd.port}: expected {other.fingerprint} "
                              f"(--ssh-host-key), presented {sshd.host_key.fingerprint} (ssh-ed25519); ")
    assert "\n" not in message


def test_pin_of_another_key_type_of_the_server_is_found(sshd, client_key):
    # The server has an ed25519 and an ECDSA key; paramiko prefers ed25519, the pin is the ECDSA
    # one (as a cloud console may show): the other key families are probed before refusing.
    keys = sshd.new_host_keys(("ed25519", "ecdsa"))
    sshd.restart(keys)
    with ssh.connect("127.0.0.1", **opts(sshd, client_key, host_key=keys[1].fingerprint)) as s:
        assert s.host_key == keys[1].fingerprint and s.host_key_type == "ecdsa-sha2-nistp256"
        assert s.run("true", timeout=10).ok


def test_unknown_host_key_is_refused_with_both_ways_to_accept(sshd, client_key, known_hosts):
    with pytest.raises(UnknownHostKey) as info:
        ssh.connect("127.0.0.1", **opts(sshd, client_key, known_hosts=known_hosts))
    fp = sshd.host_key.fingerprint
    assert str(info.value) == (f"unknown host key for 127.0.0.1:{sshd.port}: {fp} (ssh-ed25519); check it out of "
                               f"band, then give --ssh-host-key {fp} or --accept-new-host-key")
    assert not known_hosts.exists()


def test_accept_new_records_then_verifies_then_detects_a_changed_key(sshd, client_key, known_hosts):
    first = sshd.host_key
    with ssh.connect("127.0.0.1", **opts(sshd, client_key, known_hosts=known_hosts, accept_new=True)) as s:
        assert s.host_key == first.fingerprint and s.host_key_source == "accepted as new"
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    assert stat.S_IMODE(known_hosts.parent.stat().st_mode) == 0o700
    lines = known_hosts.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("|1|")  # hashed, like Debian's HashKnownHosts yes
    # OpenSSH itself finds the entry under the [host]:port name.
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f", str(known_hosts)],
                           capture_output=True, text=True)
    assert found.returncode == 0 and first.public_line.split()[1] in found.stdout

    with ssh.connect("127.0.0.1", **opts(sshd, client_key, known_hosts=known_hosts)) as s:
        assert s.host_key == first.fingerprint and s.host_key_source == f"{known_hosts}:1"
    assert len(known_hosts.read_text().splitlines()) == 1  # verified, not recorded again

    second = sshd.new_host_keys()[0]
    sshd.restart([second])
    for accept_new in (False, True):  # accepting NEW keys never accepts a CHANGED one
        with pytest.raises(HostKeyMismatch) as info:
            ssh.connect("127.0.0.1", **opts(sshd, client_key, known_hosts=known_hosts, accept_new=accept_new))
        message = str(info.value)
        assert f"expected {first.fingerprint} ({known_hosts}:1), presented {second.fingerprint} (ssh-ed25519)" in message
        assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {known_hosts}" in message
    assert len(known_hosts.read_text().splitlines()) == 1


@pytest.mark.parametrize("form", ["plain", "hashed-by-ssh-keygen", "wildcard"])
def test_known_hosts_entries_written_by_others_verify(sshd, client_key, known_hosts, form):
    key = sshd.host_key
    name = {"plain": f"[127.0.0.1]:{sshd.port}", "hashed-by-ssh-keygen": f"[127.0.0.1]:{sshd.port}",
            "wildcard": f"[127.0.0.*]:{sshd.port}"}[form]
    known_hosts.parent.mkdir(mode=0o700)
    known_hosts.write_text(f"{name} {key.public_line}\n")
    if form == "hashed-by-ssh-keygen":
        subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
        assert f"{sshd.port}" not in known_hosts.read_text()
    # Lines we must step over without failing: comments, markers, garbage.
    known_hosts.write_text(f"# a comment\n@cert-authority *.example.com {key.public_line}\nnot a valid line\n"
                           + known_hosts.read_text())
    with ssh.connect("127.0.0.1", **opts(sshd, client_key, known_hosts=known_hosts)) as s:
        assert s.host_key == key.fingerprint


def test_known_key_type_is_negotiated_first(sshd, client_key, known_hosts):
    keys = sshd.new_host_keys(("ed25519", "ecdsa"))
    sshd.restart(keys)
    known_hosts.parent.mkdir(mode=0o700)
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {keys[1].public_line}\n")  # only the ECDSA key is known
    with ssh.connect("127.0.0.1", **opts(sshd, client_key, known_hosts=known_hosts)) as s:
        assert s.host_key == keys[1].fingerprint


# --- authentication and client keys ---------------------------------------------------------


def test_wrong_client_key_names_the_key_not_its_content(sshd, client_key, tmp_path):
    wrong = Key(tmp_path / "id_wrong")
    with pytest.raises(SshAuthFailed) as info:
        ssh.connect("127.0.0.1", **opts(sshd, wrong, host_key=sshd.host_key.fingerprint))
    message = str(info.value)
    assert message == (f"authentication failed for root@127.0.0.1:{sshd.port} with key {wrong.path} "
                       f"({wrong.fingerprint})")
    assert wrong.private_text.splitlines()[1] not in message


def test_encrypted_key_needs_its_passphrase_which_is_never_shown(sshd, tmp_path, caplog):
    passphrase = "correct horse battery staple"
    key = Key(tmp_path / "id_encrypted", passphrase=passphrase)
    sshd.authorized.write_text(key.public_line + "\n")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SshKeyError, match=r"^cannot use SSH key .*id_encrypted: it is encrypted: give its passphrase"):
        ssh.connect("127.0.0.1", **opts(sshd, key, host_key=sshd.host_key.fingerprint))
    with pytest.raises(SshKeyError) as info:
        ssh.connect("127.0.0.1", **opts(sshd, key, host_key=sshd.host_key.fingerprint, passphrase="wrong guess"))
    assert "wrong guess" not in str(info.value)
    secret_input = "s3cr3t-join-token"
    with ssh.connect("127.0.0.1", **opts(sshd, key, host_key=sshd.host_key.fingerprint, passphrase=passphrase)) as s:
        assert s.run("cat > /dev/null", timeout=10, stdin_data=secret_input).ok
    for secret in (passphrase, "wrong guess", secret_input, key.private_text.splitlines()[1]):
        assert secret not in caplog.text


def test_agent_keys_are_used_without_key_path(sshd, client_key, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        poll(sock.exists, timeout=10, interval=0.02, what="ssh-agent socket")
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", str(client_key.path)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))  # no ~/.ssh/id_* to fall back on
        with ssh.connect("127.0.0.1", port=sshd.port, host_key=sshd.host_key.fingerprint, timeout=10) as s:
            assert s.key_used == "agent key"
        monkeypatch.delenv("SSH_AUTH_SOCK")
        with pytest.raises(SshKeyError, match="no key to offer .*give --ssh-key PATH"):
            ssh.connect("127.0.0.1", port=sshd.port, host_key=sshd.host_key.fingerprint, timeout=10)
    finally:
        agent.terminate()
        agent.wait(timeout=5)


# --- failures in time -----------------------------------------------------------------------


def test_closed_port_is_refused_fast(client_key, tmp_path):
    port = free_port()
    started = time.monotonic()
    with pytest.raises(SshRefused) as info:
        ssh.connect("127.0.0.1", port=port, key_path=client_key.path, use_agent=False, timeout=1.0,
                    known_hosts=tmp_path / "kh")
    elapsed = time.monotonic() - started
    assert str(info.value).startswith(f"127.0.0.1:{port} refused the connection (is sshd running and listening "
                                      f"on port {port}?); gave up after ")
    assert elapsed < 2.0


def test_silent_listener_times_out_within_the_deadline(client_key, tmp_path):
    # The kernel completes the TCP handshakes (listen backlog); nobody ever sends an SSH banner.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        deadline = 2.0
        started = time.monotonic()
        with pytest.raises(SshTimeout) as info:
            ssh.connect("127.0.0.1", port=port, key_path=client_key.path, use_agent=False, timeout=deadline,
                        known_hosts=tmp_path / "kh")
        elapsed = time.monotonic() - started
    assert info.value.stage == "SSH banner"
    assert str(info.value).startswith(f"127.0.0.1:{port} timed out during SSH banner after ")
    assert deadline - 0.2 <= elapsed <= deadline + 1.0


def test_sshd_starting_after_connect_began_is_reached_by_retrying(tmp_path, client_key):
    server = Sshd(tmp_path, free_port(), [client_key])
    first_failure = threading.Event()
    failures: list[Exception] = []

    def on_retry(attempt, error, delay):
        failures.append(error)
        first_failure.set()

    def start_late():
        if first_failure.wait(10):
            server.start()

    starter = threading.Thread(target=start_late)
    starter.start()
    try:
        host_keys = server.new_host_keys()
        server.host_keys = host_keys
        with ssh.connect("127.0.0.1", **opts(server, client_key, host_key=host_keys[0].fingerprint,
                                             timeout=15.0, on_retry=on_retry)) as s:
            assert s.run("echo up", timeout=10).stdout == "up\n"
        assert failures and isinstance(failures[0], SshRefused)
    finally:
        first_failure.set()
        starter.join(timeout=15)
        server.stop()


@pytest.fixture
def bridge():
    def ip(*args, check=True):
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)

    ip("link", "del", BRIDGE, check=False)  # ours, left over from an interrupted run
    ip("link", "add", BRIDGE, "type", "bridge")
    try:
        ip("addr", "add", BRIDGE_CIDR, "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        yield BRIDGE
    finally:
        ip("link", "del", BRIDGE, check=False)


def test_absent_host_is_unreachable_within_the_deadline(bridge, client_key, tmp_path):
    # Nothing answers ARP for .99 on our empty bridge: the kernel reports EHOSTUNREACH after ~3 s.
    deadline = 5.0
    started = time.monotonic()
    with pytest.raises(SshUnreachable) as info:
        ssh.connect(ABSENT_HOST, port=22, key_path=client_key.path, use_agent=False, timeout=deadline,
                    known_hosts=tmp_path / "kh")
    elapsed = time.monotonic() - started
    assert str(info.value).startswith(f"{ABSENT_HOST}:22 unreachable (no route / host down)")
    assert elapsed <= deadline + 1.0
