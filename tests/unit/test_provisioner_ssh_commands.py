"""The pure parts of provisioner.ssh and provisioner.hostkeys, without a server.

The sudo paths (a non-root user with and without password-less sudo) are not run against this
machine's users; what they depend on is here: the command lines built, the decision taken from
`id -u` and `sudo -n true`, and the messages. The host key policy and the known_hosts format
(vectors made with OpenSSH's ssh-keygen) are table-tested too.
"""
from __future__ import annotations

import base64
import shlex
import stat
import subprocess

import pytest

from shoal.provisioner import hostkeys
from shoal.provisioner.errors import (
    BadFingerprint,
    CommandFailed,
    CommandTimeout,
    HostKeyMismatch,
    HostKeyRevoked,
    PrivilegeError,
    SshAuthFailed,
    SshProtocolError,
    SshRefused,
    SshTimeout,
    SshUnreachable,
    TransferError,
    UnknownHostKey,
)
from shoal.provisioner.ssh import (
    Result,
    build_command,
    describe_command,
    install_command,
    interpret_privilege,
    staging_name,
)

TARGET = "deploy@10.0.0.5:22"


# --- command lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "sudo", "as_root", "expected"),
    [
        ("apt-get update", False, False, "apt-get update"),
        ("apt-get update", True, True, "apt-get update"),  # root needs no sudo (and may have none)
        ("apt-get update", True, False, "sudo -n -- sh -c 'apt-get update'"),
        ("echo a | tee /etc/x && systemctl restart y", True, False,
         "sudo -n -- sh -c 'echo a | tee /etc/x && systemctl restart y'"),
        (["printf", "%s", "it's"], False, False, "printf %s 'it'\"'\"'s'"),
        (["install", "-d", "/etc/my dir"], True, False, "sudo -n -- sh -c 'install -d '\"'\"'/etc/my dir'\"'\"''"),
    ],
)
def test_build_command(cmd, sudo, as_root, expected):
    assert build_command(cmd, sudo=sudo, as_root=as_root) == expected


@pytest.mark.parametrize("cmd", ["echo 'quoted' \"double\" $HOME `x` \\ done", "a && b || c; d | e > f", "x\ny"])
def test_sudo_wraps_the_whole_command_for_sh_without_a_password_prompt(cmd):
    words = shlex.split(build_command(cmd, sudo=True, as_root=False))
    assert words[:5] == ["sudo", "-n", "--", "sh", "-c"]  # -n: fail instead of asking; no -S, no tty
    assert words[5] == cmd and len(words) == 6


@pytest.mark.parametrize("cmd", ["", "   ", []])
def test_empty_commands_are_refused(cmd):
    with pytest.raises(ValueError):
        build_command(cmd, sudo=False, as_root=True)


def test_describe_command_is_short_and_one_line():
    assert describe_command("echo hi") == "`echo hi`"
    label = describe_command("apt-get install -y " + "pkg " * 50 + "\nmore")
    assert "\n" not in label and len(label) <= 82 and label.endswith("...`")


def test_staging_name_is_hidden_next_to_the_target():
    assert staging_name("/etc/shoal/agent.conf", "ab12") == "/etc/shoal/.agent.conf.shoal-ab12"
    assert len(staging_name("/x/" + "n" * 300, "t").rsplit("/", 1)[1]) < 255


def test_install_command_shape():
    cmd = install_command("/home/u/.shoal-upload-t", "/etc/my dir/f.conf", 0o640, "t")
    assert cmd == ("install -m 0640 -- /home/u/.shoal-upload-t '/etc/my dir/.f.conf.shoal-t' && "
                   "mv -f -- '/etc/my dir/.f.conf.shoal-t' '/etc/my dir/f.conf' || "
                   "{ rc=$?; rm -f -- '/etc/my dir/.f.conf.shoal-t'; exit $rc; }")
    assert shlex.split(build_command(cmd, sudo=True, as_root=False))[5] == cmd


def test_install_command_places_atomically_and_cleans_up_on_failure(tmp_path):
    # Run it with the local sh (what the host runs under `sudo -n`): no network, no privileges.
    staged = tmp_path / "staged"
    staged.write_bytes(b"content")
    target_dir = tmp_path / "etc dir"
    target_dir.mkdir()
    target = target_dir / "f.conf"
    target.write_bytes(b"old")
    ok = subprocess.run(["sh", "-c", install_command(str(staged), str(target), 0o604, "t1")], capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert target.read_bytes() == b"content" and stat.S_IMODE(target.stat().st_mode) == 0o604
    assert sorted(p.name for p in target_dir.iterdir()) == ["f.conf"]

    missing = tmp_path / "no-such-file"
    bad = subprocess.run(["sh", "-c", install_command(str(missing), str(target), 0o600, "t2")], capture_output=True)
    assert bad.returncode != 0
    assert target.read_bytes() == b"content"  # the old file stays
    assert sorted(p.name for p in target_dir.iterdir()) == ["f.conf"]


# --- privilege -------------------------------------------------------------------------------

ROOT_HINT = "give --ssh-user root, or allow deploy password-less sudo (no tty needed)"


@pytest.mark.parametrize(
    ("id_result", "sudo_result", "expected"),
    [
        (Result(0, "0\n", ""), None, "root"),
        (Result(0, "1000\n", ""), Result(0, "", ""), "sudo"),
        (Result(0, "1000\n", ""), Result(1, "", "sudo: a password is required\n"),
         f"{TARGET}: deploy is not root and `sudo -n` asks for a password or is not allowed: {ROOT_HINT}; "
         "sudo said: sudo: a password is required"),
        (Result(0, "1000\n", ""), Result(1, "", "deploy is not in the sudoers file.\nThis incident will be reported.\n"),
         f"{TARGET}: deploy is not root and `sudo -n` asks for a password or is not allowed: {ROOT_HINT}; "
         "sudo said: deploy is not in the sudoers file. This incident will be reported."),
        (Result(0, "1000\n", ""), Result(1, "", "sudo: sorry, you must have a tty to run sudo\n"),
         f"{TARGET}: deploy is not root and `sudo -n` asks for a password or is not allowed: {ROOT_HINT}; "
         "sudo said: sudo: sorry, you must have a tty to run sudo"),
        (Result(0, "1000\n", ""), Result(127, "", "sh: 1: sudo: not found\n"),
         f"{TARGET}: deploy is not root and sudo is not installed: give --ssh-user root, or install sudo and "
         "allow deploy password-less sudo (no tty needed)"),
        (Result(0, "1000\n", ""), Result(1, "", ""),
         f"{TARGET}: deploy is not root and `sudo -n` asks for a password or is not allowed: {ROOT_HINT}"),
        (Result(126, "", "id: cannot exec\n"), None,
         f"{TARGET}: cannot tell whether deploy is root (`id -u` exited 126: id: cannot exec)"),
    ],
)
def test_interpret_privilege(id_result, sudo_result, expected):
    if expected in ("root", "sudo"):
        assert interpret_privilege(TARGET, "deploy", id_result, sudo_result) == expected
    else:
        with pytest.raises(PrivilegeError) as info:
            interpret_privilege(TARGET, "deploy", id_result, sudo_result)
        assert str(info.value) == expected


# --- error messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (SshUnreachable("10.0.0.5", 22), "10.0.0.5:22 unreachable (no route / host down)"),
        (SshUnreachable("fe80::1", 22), "[fe80::1]:22 unreachable (no route / host down)"),
        (SshRefused("10.0.0.5", 2222), "10.0.0.5:2222 refused the connection (is sshd running and listening on port 2222?)"),
        (SshTimeout("10.0.0.5", 22, "SSH banner", 10), "10.0.0.5:22 timed out during SSH banner after 10.0 s (is it an SSH server?)"),
        (SshTimeout("10.0.0.5", 22, "authentication", 2.25), "10.0.0.5:22 timed out during authentication after 2.2 s"),
        (SshAuthFailed("root", "10.0.0.5", 22, "with key /k (SHA256:x)"), "authentication failed for root@10.0.0.5:22 with key /k (SHA256:x)"),
        (SshProtocolError("10.0.0.5", 22, "not an SSH server (HTTP/1.1\n400)"), "10.0.0.5:22: SSH handshake failed: not an SSH server (HTTP/1.1 400)"),
        (CommandTimeout(TARGET, "`apt-get update`", 300), f"`apt-get update` on {TARGET} timed out after 300 s"),
        (CommandFailed(TARGET, "`apt-get install`", 100, "Reading...\nE: Unable to locate package x\n"),
         f"`apt-get install` on {TARGET} exited 100: E: Unable to locate package x"),
        (TransferError(TARGET, "/etc/x", "permission\ndenied"), f"cannot write /etc/x on {TARGET}: permission denied"),
    ],
)
def test_error_messages_are_one_line(error, message):
    assert str(error) == message


def test_transient_kinds():
    assert SshRefused("h", 22).transient and SshTimeout("h", 22, "TCP connect", 1).transient
    assert SshUnreachable("h", 22).transient
    assert not SshAuthFailed("u", "h", 22, "x").transient
    assert not UnknownHostKey("h", 22, presented="SHA256:x", key_type="ssh-ed25519").transient


# --- host keys (vectors made with ssh-keygen) --------------------------------------------------

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6DcUMzsR+ZwDsoWyWYnSZ7WF/GEjJeaIF1Lm8PEpER"
BLOB = base64.b64decode(PUB.split()[1])
FP = "SHA256:p4NaSB4LgsUniOXwJ47lO63gmCANQ5e3/9x8DCorDUg"  # ssh-keygen -lf
HASHED_10_0_0_5_2222 = "|1|5K/M+ZKooL2L8Bm5evfLvDmcOpM=|64ZqAlBIkGiIVJipuRCuNTtJRp8="  # ssh-keygen -H
HASHED_WEB = "|1|mExiezn1gjVIiY3eolZBlzTzfmo=|ZrOh+qvxbSeUnrIz21z2ogTTkZ4="  # web.example.com
OTHER_BLOB = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))  # another ed25519 key


def test_fingerprint_is_openssh_sha256():
    assert hostkeys.fingerprint(BLOB) == FP


@pytest.mark.parametrize(
    ("text", "expected"),
    [(FP, FP), (FP + "=", FP), (f"  {FP}\n", FP)],
)
def test_parse_fingerprint(text, expected):
    assert hostkeys.parse_fingerprint(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "p4NaSB4LgsUniOXwJ47lO63gmCANQ5e3/9x8DCorDUg", "MD5:aa:bb", "SHA256:short", "sha256:" + FP[7:],
     FP + "x", "SHA256:" + "!" * 43],
)
def test_bad_fingerprints(text):
    with pytest.raises(BadFingerprint, match="expected SHA256: and 43 base64 characters"):
        hostkeys.parse_fingerprint(text)


@pytest.mark.parametrize(("host", "port", "name"), [("10.0.0.5", 22, "10.0.0.5"), ("10.0.0.5", 2222, "[10.0.0.5]:2222")])
def test_known_hosts_name(host, port, name):
    assert hostkeys.known_hosts_name(host, port) == name


@pytest.mark.parametrize(
    ("hosts", "name", "matches"),
    [
        ("10.0.0.5", "10.0.0.5", True),
        ("10.0.0.5", "10.0.0.50", False),
        ("10.0.0.5", "[10.0.0.5]:2222", False),  # another port is another entry
        ("[10.0.0.5]:2222", "[10.0.0.5]:2222", True),
        ("web,10.0.0.5", "10.0.0.5", True),
        ("10.0.0.*", "10.0.0.77", True),
        ("10.0.0.?", "10.0.0.7", True),
        ("10.0.0.?", "10.0.0.77", False),
        ("[10.0.0.*]:2222", "[10.0.0.5]:2222", True),  # '[' is literal, not a character class
        ("10.0.0.*,!10.0.0.9", "10.0.0.9", False),
        ("10.0.0.*,!10.0.0.9", "10.0.0.8", True),
        ("WEB.Example.com", "web.example.com", True),
        (HASHED_10_0_0_5_2222, "[10.0.0.5]:2222", True),
        (HASHED_10_0_0_5_2222, "10.0.0.5", False),
        (HASHED_WEB, "web.example.com", True),
        ("|1|broken", "10.0.0.5", False),
    ],
)
def test_host_matches(hosts, name, matches):
    assert hostkeys.host_matches(hosts, name) is matches


def test_our_hashed_lines_match_like_openssh_ones():
    line = hostkeys.known_hosts_line("[10.0.0.5]:2222", "ssh-ed25519", BLOB, salt=b"s" * 20)
    (entry,) = hostkeys.parse_known_hosts(line)
    assert entry.hosts.startswith("|1|") and entry.blob == BLOB
    assert hostkeys.host_matches(entry.hosts, "[10.0.0.5]:2222")
    assert hostkeys.known_hosts_line("10.0.0.5", "ssh-ed25519", BLOB) == "10.0.0.5 " + PUB


def test_parse_known_hosts_skips_what_it_cannot_use():
    text = "\n".join([
        "# comment",
        "",
        f"10.0.0.5 {PUB} comment words",
        "@revoked * " + PUB,
        "@cert-authority *.example.com " + PUB,
        "@unknown-marker * " + PUB,
        "10.0.0.6 ssh-ed25519 !!!not-base64!!!",
        "only-two fields",
        f"\t[10.0.0.7]:2222\t{PUB}",
    ])
    entries = hostkeys.parse_known_hosts(text)
    assert [(e.lineno, e.marker, e.hosts) for e in entries] == [
        (3, None, "10.0.0.5"), (4, "revoked", "*"), (5, "cert-authority", "*.example.com"), (9, None, "[10.0.0.7]:2222"),
    ]


def check(entries_text="", *, pinned=None, accept_new=False, blob=BLOB, port=22):
    return hostkeys.check_host_key("10.0.0.5", port, "ssh-ed25519", blob, pinned=pinned,
                                   entries=hostkeys.parse_known_hosts(entries_text), known_hosts_path="/kh",
                                   accept_new=accept_new)


def test_policy_pinned():
    assert check(pinned=FP) == hostkeys.Verdict(record=False, source="--ssh-host-key")
    # a pin wins over known_hosts, in both directions
    assert check(f"10.0.0.5 ssh-ed25519 {base64.b64encode(OTHER_BLOB).decode()}", pinned=FP).source == "--ssh-host-key"
    with pytest.raises(HostKeyMismatch) as info:
        check(f"10.0.0.5 {PUB}", pinned=hostkeys.fingerprint(OTHER_BLOB), accept_new=True)
    assert str(info.value).startswith(
        f"host key mismatch for 10.0.0.5:22: expected {hostkeys.fingerprint(OTHER_BLOB)} (--ssh-host-key), "
        f"presented {FP} (ssh-ed25519); ")


def test_policy_known_hosts():
    assert check(f"# x\n10.0.0.5 {PUB}") == hostkeys.Verdict(record=False, source="/kh:2")
    assert check(f"{HASHED_10_0_0_5_2222} {PUB}", port=2222).source == "/kh:1"
    other = f"10.0.0.5 ssh-ed25519 {base64.b64encode(OTHER_BLOB).decode()}"
    for accept_new in (False, True):
        with pytest.raises(HostKeyMismatch) as info:
            check(other, accept_new=accept_new)
        assert str(info.value) == (
            f"host key mismatch for 10.0.0.5:22: expected {hostkeys.fingerprint(OTHER_BLOB)} (/kh:1), presented {FP} "
            "(ssh-ed25519); the host was reinstalled or someone is intercepting the connection; if you verified the "
            "new key out of band, remove the old entry with `ssh-keygen -R '10.0.0.5' -f /kh`")
    # one of several keys for the host matches: fine
    assert check(f"{other}\n10.0.0.5 {PUB}").source == "/kh:2"
    # entries of other hosts or ports do not count
    with pytest.raises(UnknownHostKey):
        check(f"[10.0.0.5]:2222 {PUB}\n10.0.0.50 {PUB}")


def test_policy_revoked_and_unknown():
    with pytest.raises(HostKeyRevoked, match=r"^host key SHA256:\S+ \(ssh-ed25519\) of 10.0.0.5:22 is revoked \(/kh:1\)$"):
        check(f"@revoked * {PUB}\n10.0.0.5 {PUB}")
    with pytest.raises(UnknownHostKey) as info:
        check("")
    assert str(info.value) == (f"unknown host key for 10.0.0.5:22: {FP} (ssh-ed25519); check it out of band, then "
                               f"give --ssh-host-key {FP} or --accept-new-host-key")
    assert check("", accept_new=True) == hostkeys.Verdict(record=True, source="accepted as new")
    # a @cert-authority line alone does not make a key known
    with pytest.raises(UnknownHostKey):
        check(f"@cert-authority * {PUB}")


PARAMIKO_ORDER = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                  "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-dss")


@pytest.mark.parametrize(
    ("known", "first"),
    [
        ([], ("ssh-ed25519",)),
        (["ssh-rsa"], ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-ed25519")),
        (["ecdsa-sha2-nistp384"], ("ecdsa-sha2-nistp384", "ssh-ed25519")),
        (["ssh-rsa", "ssh-ed25519"], ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ecdsa-sha2-nistp256")),
        (["sk-ssh-ed25519@openssh.com"], ("ssh-ed25519",)),
    ],
)
def test_known_key_types_are_negotiated_first(known, first):
    order = hostkeys.preferred_algorithms(PARAMIKO_ORDER, known)
    assert order[: len(first)] == first and sorted(order) == sorted(PARAMIKO_ORDER)


def test_other_families_for_probing_a_pin():
    assert hostkeys.other_families(PARAMIKO_ORDER, "ssh-ed25519") == [
        ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"), ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")]
    assert hostkeys.other_families(PARAMIKO_ORDER, "ecdsa-sha2-nistp521") == [
        ("ssh-ed25519",), ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")]
    assert hostkeys.other_families(("ssh-ed25519", "ssh-rsa"), "ssh-rsa") == [("ssh-ed25519",)]
