"""The SSH test hosts of tests/integration/sshhosts.py (docs/TESTHOSTS.md): each a Debian
bookworm machine of its own (overlay root, netns, pid namespace, sshd), offline, where
`apt-get install docker.io` and a dockerd really land on that host.

Real everything: sshd, paramiko, apt, dpkg, dockerd.  Traffic goes only to the hosts made here
(10.213.60.0/24) and loopback; the hosts have no default route.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paramiko
import pytest

from shoal import devcleanup, devhosts, devimage, devprocs
from tests.polling import poll
from tests.integration.sshhosts import (
    BUILD_SCRIPT,
    DEFAULT_PREFIX,
    REPO_IN_HOST,
    STATE_DIR,
    SshTestHostError,
    SshTestHosts,
    _netns_ino,
    _pids_in_netns,
    find_cache,
    fingerprint,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

_missing = [c for c in ("nsenter", "unshare", "chroot", "mount") if not shutil.which(c)]
if os.geteuid() != 0 or _missing:
    pytest.skip(f"SSH test hosts need root and {', '.join(_missing) or 'util-linux'}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]


def report(capsys, line: str) -> None:
    """Print a measurement so it shows in the test output even without -s."""
    with capsys.disabled():
        print(f"\n[sshhosts] {line}", flush=True)


class PinnedFingerprint(paramiko.MissingHostKeyPolicy):
    """Accept exactly one host key, named by its OpenSSH SHA256 fingerprint (how
    `shoal machine create --fingerprint` will pin); anything else is refused."""

    def __init__(self, expected: str):
        self.expected = expected

    def missing_host_key(self, client, hostname, key):
        got = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
        if got != self.expected:
            raise paramiko.SSHException(f"host key of {hostname} is {got}, not the pinned {self.expected}")


def connect(host, user: str = "root", policy: paramiko.MissingHostKeyPolicy | None = None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(policy or paramiko.RejectPolicy())
    client.connect(host.ip, port=host.port, username=user, key_filename=str(host.key_path),
                   look_for_keys=False, allow_agent=False, timeout=15, banner_timeout=15, auth_timeout=15)
    return client


def ssh(client: paramiko.SSHClient, command: str, timeout: float = 60) -> tuple[int, str]:
    """(exit status, stdout+stderr) of a command over SSH, no pty."""
    stdin, stdout, _ = client.exec_command(command, timeout=timeout)
    stdin.close()
    stdout.channel.set_combine_stderr(True)
    out = stdout.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out


@pytest.fixture(scope="module")
def cache():
    return find_cache()


@pytest.fixture(scope="module")
def sshhosts(tmp_path_factory, cache):
    with SshTestHosts(tmp_path_factory.mktemp("sshhosts"), count=2, cache=cache) as hosts:
        yield hosts


def assert_gone(state: dict) -> None:
    assert devhosts.netns_with_prefix(f"{DEFAULT_PREFIX}-") == []
    assert devhosts.links_with_prefix(f"{DEFAULT_PREFIX}-") == []
    assert not Path(state["base_dir"]).exists()
    assert devcleanup.mounts_under(Path(state["base_dir"]).parent) == []
    for h in state["hosts"]:
        for key in ("init", "unshare"):
            rec = h[key]
            assert rec is None or not devprocs.running(rec["pid"], rec["start"]), (h["name"], key, rec)
    assert not (STATE_DIR / f"{DEFAULT_PREFIX}.json").exists()


# -- the cache (no hosts) -----------------------------------------------------------------------


def test_cached_rootfs_and_offline_repo(cache, capsys):
    t = time.monotonic()
    r = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=60)
    warm = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert "cache current" in r.stdout and r.stdout.strip().splitlines()[-1] == str(cache.dir)
    assert warm < 5, f"a current cache must be reused at once, took {warm:.1f} s"

    rootfs, repo = cache.rootfs, cache.repo
    assert "VERSION_CODENAME=bookworm" in (rootfs / "usr/lib/os-release").read_text()
    status = (rootfs / "var/lib/dpkg/status").read_text()
    assert "\nPackage: openssh-server\n" in status and "\nPackage: python3-venv\n" in status
    assert "\nPackage: docker.io\n" not in status and not (rootfs / "usr/sbin/dockerd").exists()
    assert list((rootfs / "etc/ssh").glob("ssh_host_*")) == []  # every host makes its own
    assert (rootfs / "etc/apt/sources.list").read_text().strip() == f"deb [trusted=yes] file:{REPO_IN_HOST} ./"
    assert list((rootfs / "etc/apt/sources.list.d").iterdir()) == []
    assert list(repo.glob("docker.io_*.deb")) and list(repo.glob("containerd_*.deb"))
    assert "Package: docker.io" in (repo / "Packages").read_text()
    recipe = cache.recipe()
    report(capsys, f"rootfs cache {cache.dir.name}: first build {recipe['build_seconds']} s "
                   f"({recipe['repo']}); a current cache is reused in {warm * 1000:.0f} ms")


# -- lifecycle (before the module's hosts exist: same prefix and subnet) ---------------------------


def test_close_removes_everything_even_a_running_daemon(tmp_path, cache):
    hosts = SshTestHosts(tmp_path, count=1, cache=cache).start()
    state = hosts._state()
    h = hosts[0]
    try:
        # a daemon left running in the host, its machine pid found by its netns
        h.run("setsid tail -f /dev/null > /dev/null 2>&1 < /dev/null &")
        assert h.run("ps -e -o comm=").stdout.split().count("tail") == 1
        assert h.path("/etc/hostname").read_text().strip() == h.name
        assert devcleanup.mounts_under(h.dir)
        assert (STATE_DIR / f"{DEFAULT_PREFIX}.json").exists()
        # its processes, as the machine sees them: init, sshd, tail (and nothing else of ours)
        pids = [(pid, devprocs.proc_stat(pid)[1]) for pid in _pids_in_netns(_netns_ino(h.netns))]
        assert len(pids) >= 3, pids
        # a second set with the same names cannot start while this one lives
        with pytest.raises(SshTestHostError, match="in use by pid"):
            SshTestHosts(tmp_path / "second", count=1, cache=cache).start()
    finally:
        hosts.close()
    assert_gone(state)
    assert [p for p, start in pids if devprocs.running(p, start)] == []
    hosts.close()  # idempotent


def test_a_killed_runs_hosts_are_removed_by_the_next_run(tmp_path, cache):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from pathlib import Path\n"
        "from tests.integration.sshhosts import SshTestHosts, TestHostCache\n"
        "h = SshTestHosts(sys.argv[2], count=1, cache=TestHostCache(Path(sys.argv[3]))).start()\n"
        "print('up', flush=True)\n"
        "sys.stdin.read()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(tmp_path / "dead"), str(cache.dir)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "up"
        state_file = STATE_DIR / f"{DEFAULT_PREFIX}.json"
        assert state_file.exists()
        dead_state = json.loads(state_file.read_text())
        # while its owner lives, a second run refuses to take the names
        with pytest.raises(SshTestHostError, match="in use by pid"):
            SshTestHosts(tmp_path / "second", count=1, cache=cache).start()
        p.send_signal(signal.SIGKILL)  # no atexit, no teardown: everything stays behind
        p.wait(timeout=10)
        assert devhosts.netns_with_prefix(f"{DEFAULT_PREFIX}-") == [f"{DEFAULT_PREFIX}-h1"]
        assert devcleanup.mounts_under(tmp_path / "dead")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    with SshTestHosts(tmp_path / "next", count=1, cache=cache) as hosts:  # recovers, then starts
        assert devcleanup.mounts_under(tmp_path / "dead") == []
        assert not Path(dead_state["base_dir"]).exists()
        assert hosts[0].run("hostname").stdout.strip() == f"{DEFAULT_PREFIX}-h1"
    assert_gone(dead_state)


# -- two hosts ---------------------------------------------------------------------------------------


def test_start_times(sshhosts, capsys):
    times = sshhosts.start_seconds
    report(capsys, "host start (overlay, netns, mounts, init, sshd up) from the warm cache: "
                   + ", ".join(f"{n} {s:.2f} s" for n, s in times.items()))
    assert len(times) == 2 and all(0 < s < 10 for s in times.values()), times


def test_root_logs_in_with_the_host_key_pinned(sshhosts):
    h1, h2 = sshhosts
    assert h1.host_key_fingerprint != h2.host_key_fingerprint
    for h in (h1, h2):
        # the fingerprint we expose is the one OpenSSH itself computes for the host's key
        out = h.run("ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub").stdout
        assert out.split()[1] == h.host_key_fingerprint, out
        assert h.host_key_fingerprint.startswith("SHA256:") and len(h.host_key_fingerprint) == 50

        # unknown key + RejectPolicy: refused
        with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
            connect(h)
        # the other host's fingerprint: refused
        other = h2 if h is h1 else h1
        with pytest.raises(paramiko.SSHException, match="not the pinned"):
            connect(h, policy=PinnedFingerprint(other.host_key_fingerprint))
        # pinned by fingerprint: in, as root, on that host
        client = connect(h, policy=PinnedFingerprint(h.host_key_fingerprint))
        try:
            assert ssh(client, "id -u; hostname; . /etc/os-release; echo $ID $VERSION_ID") == (
                0, f"0\n{h.name}\ndebian 12\n")
            # SFTP works (how the agent will be uploaded)
            with client.open_sftp() as sftp:
                sftp.mkdir("/opt/shoal")
                with sftp.open("/opt/shoal/hello.txt", "w") as f:
                    f.write(f"uploaded to {h.name}\n")
            assert h.path("/opt/shoal/hello.txt").read_text() == f"uploaded to {h.name}\n"
        finally:
            client.close()
        # and the helper's own client (known host key + RejectPolicy)
        c = h.connect("root")
        try:
            assert ssh(c, "cat /etc/hostname") == (0, f"{h.name}\n")
        finally:
            c.close()


def test_each_host_is_its_own_machine(sshhosts):
    h1, h2 = sshhosts
    marker = f"/root/marker-{uuid.uuid4().hex}"
    c1, c2 = h1.connect(), h2.connect()
    try:
        assert ssh(c1, f"echo one > {marker} && cat {marker}") == (0, "one\n")
        assert ssh(c2, f"test -e {marker}")[0] == 1
        assert not Path(marker).exists()  # not on the machine
        assert not (sshhosts.cache.rootfs / marker.lstrip("/")).exists()  # not in the shared cache
        assert (h1.upper / marker.lstrip("/")).read_text() == "one\n"  # in host 1's own layer
        assert not (h2.upper / marker.lstrip("/")).exists()

        for c, h in ((c1, h1), (c2, h2)):
            # own process table: pid 1 is the host's init, and the other host's sshd is not there
            rc, out = ssh(c, "ps -e -o pid=,comm=")
            procs = [line.split() for line in out.strip().splitlines()]
            assert rc == 0 and procs[0] == ["1", "python3"], out
            assert len(procs) < 15, out
            # own network: lo and eth0 only, its own address
            assert ssh(c, "ls /sys/class/net") == (0, "eth0\nlo\n")
            rc, out = ssh(c, "ip -o -4 addr show dev eth0")
            assert rc == 0 and f"inet {h.ip}/24" in out
            # own /var/lib/docker: a real directory, not the overlay (dockerd's overlay2 needs that)
            rc, out = ssh(c, "stat -f -c %T /var/lib/docker /")
            assert out.split() == ["ext2/ext3", "overlayfs"], out
            # /dev as in a container: no disks of the machine; ptys of its own
            rc, out = ssh(c, "ls /dev")
            assert rc == 0 and "vda" not in out.split() and {"null", "pts", "ptmx", "shm"} <= set(out.split()), out
            stdin, stdout, _ = c.exec_command("tty; sudo -n true && echo sudo-ok", get_pty=True, timeout=30)
            stdin.close()
            assert stdout.read().decode().replace("\r", "").splitlines() == ["/dev/pts/0", "sudo-ok"]
            # the repo is read-only
            rc, out = ssh(c, f"touch {REPO_IN_HOST}/x")
            assert rc != 0 and "Read-only file system" in out
    finally:
        c1.close()
        c2.close()


def test_deploy_has_passwordless_sudo_and_nosudo_has_none(sshhosts):
    h = sshhosts[0]
    deploy, nosudo = h.connect("deploy"), h.connect("nosudo")
    try:
        assert ssh(deploy, "id -un; sudo -n true && sudo -n id -u") == (0, "deploy\n0\n")
        rc, out = ssh(nosudo, "id -un; sudo -n true")
        assert rc == 1 and out.startswith("nosudo\n") and "a password is required" in out, out
        rc, out = ssh(nosudo, "cat /etc/shadow")
        assert rc != 0
    finally:
        deploy.close()
        nosudo.close()


def test_hosts_are_offline_but_reach_each_other(sshhosts):
    h1, h2 = sshhosts
    c = h1.connect()
    try:
        rc, out = ssh(c, "ip -4 route")
        assert rc == 0 and out == f"10.213.60.0/24 dev eth0 proto kernel scope link src {h1.ip} \n", out
        # no route: the kernel refuses at once, no packet leaves (192.0.2.1 is TEST-NET-1)
        probe = ("python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(3)\n"
                 "try: s.connect((sys.argv[1], 80))\nexcept OSError as e: print(e.errno)' ")
        assert ssh(c, probe + "192.0.2.1") == (0, "101\n")  # ENETUNREACH
        # the other host over the bridge: sshd's banner
        rc, out = ssh(c, "python3 -c 'import socket; s=socket.create_connection((\"%s\", 22), 5); "
                         "print(s.recv(7).decode())'" % h2.ip)
        assert (rc, out) == (0, "SSH-2.0\n"), out
    finally:
        c.close()


def test_sshd_stop_start_and_a_new_host_key(sshhosts):
    h = sshhosts[1]
    old_fp = h.host_key_fingerprint
    h.stop()
    assert h.sshd_pid() is None
    with pytest.raises(OSError):  # NoValidConnectionsError: connection refused
        h.connect()
    h.start()
    assert h.sshd_pid() is not None
    h.connect().close()

    new_fp = h.swap_host_key()
    assert new_fp != old_fp and new_fp == h.host_key_fingerprint
    with pytest.raises(paramiko.SSHException, match="not the pinned"):
        connect(h, policy=PinnedFingerprint(old_fp))
    connect(h, policy=PinnedFingerprint(new_fp)).close()
    assert "Server listening on" in h.sshd_log.read_text()


def test_host_key_mismatch_is_reported_as_such(sshhosts):
    h = sshhosts[1]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kind, blob = h.host_public_key.split()[:2]
    client.get_host_keys().add(h.ip, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
    h.swap_host_key()
    try:
        with pytest.raises(paramiko.BadHostKeyException):
            client.connect(h.ip, username="root", key_filename=str(h.key_path), look_for_keys=False,
                           allow_agent=False, timeout=15, banner_timeout=15, auth_timeout=15)
    finally:
        client.close()
    assert fingerprint(h.host_public_key) == h.host_key_fingerprint


def test_os_release_can_pretend_another_distribution(sshhosts):
    h = sshhosts[0]
    h.set_os_release('NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n')
    c = h.connect()
    try:
        assert ssh(c, ". /etc/os-release; echo $ID $VERSION_ID; cat /usr/lib/os-release | head -n1") == (
            0, 'fedora 40\nNAME="Fedora Linux"\n')
        h.reset_os_release()
        assert ssh(c, ". /etc/os-release; echo $ID $VERSION_ID; readlink /etc/os-release") == (
            0, "debian 12\n../usr/lib/os-release\n")
    finally:
        c.close()


def test_docker_io_installs_offline_and_dockerd_runs_containers(sshhosts, capsys):
    h = sshhosts[1]
    c = h.connect()
    try:
        assert ssh(c, "command -v dockerd; dpkg -s docker.io")[0] != 0  # not there yet

        t = time.monotonic()
        rc, out = ssh(c, "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io", timeout=600)
        install = time.monotonic() - t
        assert rc == 0, out[-3000:]
        assert f"file:{REPO_IN_HOST}" in out and "http://" not in out and "https://" not in out, out[:2000]
        rc, out = ssh(c, "dpkg-query -W -f '${Status} ${Version}' docker.io containerd runc")
        assert rc == 0 and out.count("install ok installed") == 3, out
        rc, out = ssh(c, "ps -e -o comm=")
        assert rc == 0 and "dockerd" not in out.split(), out  # the install started nothing (no init system)

        # dockerd without systemd: in the background, its own session, a pidfile; iptables off
        # (DESIGN.md section 5), a --bip of this host's own
        t = time.monotonic()
        rc, out = ssh(c, f"setsid dockerd --iptables=false --ip-masq=false --bip {h.docker_bip} "
                         "--pidfile /run/docker.pid > /var/log/dockerd.log 2>&1 < /dev/null &")
        assert rc == 0, out
        poll(lambda: ssh(c, "docker version --format '{{.Server.Version}}'")[0] == 0, 60,
             what=f"dockerd in {h.name} (log: {h.path('/var/log/dockerd.log')})")
        dockerd_up = time.monotonic() - t
        rc, out = ssh(c, "docker info --format '{{.Driver}} {{.CgroupDriver}} {{.DockerRootDir}}'")
        assert (rc, out) == (0, "overlay2 cgroupfs /var/lib/docker\n"), out

        # the tiny image (no registry anywhere), imported through the host's socket
        assert devimage.load_image(h.path("/run/docker.sock")) is True
        t = time.monotonic()
        rc, out = ssh(c, "docker run --rm shoal/busybox:latest sh -c 'echo hello from $(hostname); ip -4 -o addr show eth0'")
        run = time.monotonic() - t
        assert rc == 0 and out.startswith("hello from "), out
        assert "inet 10.214.62." in out, out  # on this host's docker0 (--bip)
        # the container's data really is on this host only
        assert (h.docker_dir / "image/overlay2/repositories.json").exists()
        assert not (sshhosts[0].docker_dir / "image").exists()

        rc, out = ssh(c, "kill $(cat /run/docker.pid)")
        assert rc == 0, out
        poll(lambda: ssh(c, "test -e /run/docker.pid")[0] != 0, 30, what="dockerd to stop")
    finally:
        c.close()
    report(capsys, f"{h.name}: apt-get update + install -y docker.io (offline) {install:.1f} s; "
                   f"dockerd up {dockerd_up:.1f} s; docker run --rm {run:.2f} s")


# -- systemd as pid 1 (SshTestHosts(..., systemd=...)) --------------------------------------------
#
# Own prefixes and subnets: these sets live next to the module's `sshh` hosts.

SYSTEMD_PREFIX, SYSTEMD_SUBNET = "sshs", "10.213.66.0/24"
TEARDOWN_PREFIX, TEARDOWN_SUBNET = "sshk", "10.213.67.0/24"

PROBE_UNIT = """\
[Unit]
Description=shoal test host probe

[Service]
ExecStart=/usr/bin/python3 -c "import time, os; open('/run/probe.pid', 'w').write(str(os.getpid())); time.sleep(86400)"

[Install]
WantedBy=multi-user.target
"""


@pytest.fixture(scope="module")
def systemd_hosts(tmp_path_factory, cache):
    """Host 1 boots systemd; host 2 is a reaper host of the same set."""
    with SshTestHosts(tmp_path_factory.mktemp("systemd"), count=2, cache=cache, systemd={1},
                      prefix=SYSTEMD_PREFIX, subnet=SYSTEMD_SUBNET) as hosts:
        yield hosts


def machine_pid_of(host, pid_in_host: int) -> int:
    """The machine pid of a process of `host` named by its pid in the host (NSpid's last field)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != os.readlink(f"/proc/{host.init_pid}/ns/pid"):
                continue
            with open(f"/proc/{entry}/status") as f:
                nspid = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
        except (OSError, StopIteration):
            continue
        if int(nspid[-1]) == pid_in_host:
            return int(entry)
    raise AssertionError(f"no process {pid_in_host} in {host.name}")


def test_a_systemd_host_boots_systemd_with_sshd_as_a_unit(systemd_hosts, capsys):
    h, plain = systemd_hosts
    assert (h.systemd, plain.systemd) == (True, False)
    client = connect(h, policy=PinnedFingerprint(h.host_key_fingerprint))
    try:
        assert ssh(client, "cat /proc/1/comm; hostname") == (0, f"systemd\n{h.name}\n")
        # boot finished (the helper waited); --wait as a provisioner would, bounded
        rc, out = ssh(client, "timeout 60 systemctl is-system-running --wait")
        assert (rc, out) == (0, "running\n"), ssh(client, "systemctl --failed --no-pager --plain")[1]
        assert ssh(client, "systemctl list-units --failed --no-legend --plain") == (0, "")
        # sshd is Debian's ssh.service, and its pidfile is the one the helper reads
        assert ssh(client, "systemctl is-active ssh.service; systemctl is-enabled ssh.service") == (
            0, "active\nenabled\n")
        rc, out = ssh(client, "systemctl show -p MainPID --value ssh.service; cat /run/sshd.pid")
        main_pid, pidfile_pid = out.split()
        assert rc == 0 and main_pid == pidfile_pid == str(h.sshd_pid()), out
        # in a container, in cgroups of its own: the host's subtree is its root
        assert ssh(client, "systemd-detect-virt --container") == (0, "container-other\n")
        rc, out = ssh(client, "grep -E '^(0|[0-9]+:name=systemd):' /proc/1/cgroup")
        assert rc == 0 and len(out.split()) == 2 and all(line.endswith(":/init.scope") for line in out.split()), out
        # what could change the machine cannot: its sysctls are read-only, but for net
        rc, out = ssh(client, "cat /proc/sys/fs/file-max > /proc/sys/fs/file-max")
        assert rc != 0 and "Read-only file system" in out, out
        assert ssh(client, "echo 0 > /proc/sys/net/ipv4/ip_forward && echo net-ok") == (0, "net-ok\n")
        assert ssh(client, "systemctl is-enabled systemd-sysctl.service getty.target apt-daily.timer")[1].split() == [
            "masked"] * 3
    finally:
        client.close()
    # the other host of the same set is the usual reaper host
    assert plain.run("cat /proc/1/comm").stdout == "python3\n"
    assert plain.run("systemctl is-system-running", check=False).stdout.strip() == "offline"
    # deploy drives systemd through sudo (how the provisioner does it)
    deploy = h.connect("deploy")
    try:
        assert ssh(deploy, "sudo -n systemctl is-system-running") == (0, "running\n")
        # stop/start/swap_host_key go through ssh.service; this session outlives the stop
        old_fp = h.host_key_fingerprint
        h.stop()
        assert h.run("systemctl is-active ssh.service", check=False).stdout == "inactive\n"
        with pytest.raises(OSError):
            h.connect()
        assert ssh(deploy, "echo still-here") == (0, "still-here\n")
        h.start()
        assert h.swap_host_key() != old_fp
        connect(h, policy=PinnedFingerprint(h.host_key_fingerprint)).close()
        assert "Server listening on" in h.sshd_log.read_text()
    finally:
        deploy.close()
    report(capsys, f"{h.name}: systemd booted (is-system-running = running) {h.boot_seconds:.2f} s after its "
                   f"pid 1 started; host up with sshd answering in {h.start_seconds:.2f} s")


def test_a_unit_is_enabled_started_and_runs_inside_the_host(systemd_hosts):
    h, plain = systemd_hosts
    client = h.connect("root")
    try:
        with client.open_sftp() as sftp:  # as the provisioner writes its unit
            with sftp.open("/etc/systemd/system/shoal-probe.service", "w") as f:
                f.write(PROBE_UNIT)
        assert ssh(client, "systemctl daemon-reload && systemctl enable --now shoal-probe.service")[0] == 0
        assert ssh(client, "systemctl is-enabled shoal-probe; systemctl is-active shoal-probe") == (
            0, "enabled\nactive\n")
        assert h.path("/etc/systemd/system/multi-user.target.wants/shoal-probe.service").is_symlink()
        pid = int(poll(lambda: h.path("/run/probe.pid").exists() and h.path("/run/probe.pid").read_text(), 30,
                       what="the probe unit's process"))
        rc, out = ssh(client, f"systemctl show -p MainPID --value shoal-probe; grep name=systemd /proc/{pid}/cgroup")
        main_pid, cgroup = out.split()
        assert (rc, main_pid) == (0, str(pid)), out
        assert cgroup.endswith(":name=systemd:/system.slice/shoal-probe.service"), out

        # a process of the host's pid namespace: a small pid there, another one on the machine,
        # in the host's netns and cgroup subtree, and nowhere in the other host
        machine_pid = machine_pid_of(h, pid)
        assert machine_pid != pid
        assert os.readlink(f"/proc/{machine_pid}/ns/net") == os.readlink(f"/proc/{h.init_pid}/ns/net")
        assert os.readlink(f"/proc/{machine_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
        own_systemd = next(line for line in open(f"/proc/{machine_pid}/cgroup") if ":name=systemd:" in line)
        assert own_systemd.rstrip().endswith(f"/shoal-testhost/{h.name}/system.slice/shoal-probe.service")
        assert "python3 -c import time" not in plain.run("ps -e -o args=").stdout

        assert ssh(client, "systemctl stop shoal-probe && systemctl is-active shoal-probe")[1] == "inactive\n"
        poll(lambda: not os.path.exists(f"/proc/{machine_pid}"), 15, what="the probe to exit")
        assert ssh(client, "systemctl disable -q shoal-probe && systemctl is-enabled shoal-probe") == (1, "disabled\n")
    finally:
        client.close()


def test_docker_io_installs_and_docker_service_runs_under_systemd(systemd_hosts, capsys):
    h = systemd_hosts[0]
    c = h.connect()
    try:
        t = time.monotonic()
        rc, out = ssh(c, "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io", timeout=600)
        install = time.monotonic() - t
        assert rc == 0, out[-3000:]
        # the package's own postinst enabled and started it (deb-systemd-invoke): nothing else to do
        t = time.monotonic()
        poll(lambda: ssh(c, "systemctl is-active docker.service containerd.service")[1] == "active\nactive\n", 60,
             what=f"docker.service in {h.name}")
        poll(lambda: ssh(c, "docker version --format '{{.Server.Version}}'")[0] == 0, 60, what="dockerd to answer")
        up = time.monotonic() - t
        assert ssh(c, "systemctl is-enabled docker.service") == (0, "enabled\n")
        rc, out = ssh(c, "docker info --format '{{.Driver}} {{.CgroupDriver}} {{.DockerRootDir}}'")
        assert (rc, out) == (0, "overlay2 cgroupfs /var/lib/docker\n"), out
        assert ssh(c, "systemctl is-system-running") == (0, "running\n")

        assert devimage.load_image(h.path("/run/docker.sock")) is True
        rc, out = ssh(c, "docker run -d --name probe shoal/busybox:latest sleep 600")
        assert rc == 0, out
        cid = out.strip()
        # the container's cgroups are inside the host's subtree, not the machine's /docker
        rc, out = ssh(c, f"test -d /sys/fs/cgroup/systemd/docker/{cid} && echo in-host")
        assert out == "in-host\n", out
        assert not any(os.path.isdir(os.path.join(root, "docker", cid)) for root in
                       ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"))
        assert ssh(c, "docker rm -f probe")[0] == 0  # (a restart would give its sleep 10 s to stop)
        t = time.monotonic()
        assert ssh(c, "systemctl restart docker.service && docker ps -q") == (0, "")
        restart = time.monotonic() - t
    finally:
        c.close()
    report(capsys, f"{h.name} (systemd): apt-get install -y docker.io {install:.1f} s; docker.service active + "
                   f"answering {up:.1f} s later; systemctl restart docker {restart:.1f} s")


def test_a_systemd_hosts_teardown_leaves_nothing(tmp_path, cache):
    hosts = SshTestHosts(tmp_path, count=1, cache=cache, systemd=True,
                         prefix=TEARDOWN_PREFIX, subnet=TEARDOWN_SUBNET).start()
    state = hosts._state()
    h = hosts[0]
    try:
        # processes under systemd (a unit), beside it (run()'s background job) and a session
        h.path("/etc/systemd/system/shoal-probe.service").write_text(PROBE_UNIT)
        h.run("systemctl daemon-reload && systemctl start shoal-probe.service")
        h.run("setsid tail -f /dev/null > /dev/null 2>&1 < /dev/null &")
        session = h.connect()
        ssh(session, "true")
        cgroups = state["hosts"][0]["cgroups"]
        assert cgroups and all(c.endswith(f"/shoal-testhost/{h.name}") and os.path.isdir(c) for c in cgroups)
        assert os.path.isdir(os.path.join(next(c for c in cgroups if "/systemd/" in c), "system.slice",
                                          "shoal-probe.service"))
        pids = [(pid, devprocs.proc_stat(pid)[1]) for pid in _pids_in_netns(_netns_ino(h.netns))]
        assert len(pids) >= 6, pids  # systemd, journald, dbus, logind, sshd (+ session), probe, tail
    finally:
        hosts.close()
    assert devhosts.netns_with_prefix(f"{TEARDOWN_PREFIX}-") == []
    assert devhosts.links_with_prefix(f"{TEARDOWN_PREFIX}-") == []
    assert not Path(state["base_dir"]).exists()
    assert devcleanup.mounts_under(Path(state["base_dir"]).parent) == []
    assert [p for p, start in pids if devprocs.running(p, start)] == []
    assert [c for c in cgroups if os.path.exists(c)] == []
    for parent in {os.path.dirname(c) for c in cgroups}:  # the shared parent too, unless another set uses it
        assert not os.path.exists(parent) or [e for e in os.scandir(parent) if e.is_dir()], parent
    assert not (STATE_DIR / f"{TEARDOWN_PREFIX}.json").exists()
