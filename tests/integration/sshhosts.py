"""SSH test hosts: throw-away Debian machines on one machine, for the `shoal machine` (SSH
provisioning) tests.  docs/TESTHOSTS.md has the why; in short, a host is

* its own root filesystem: an overlayfs whose lower layer is the cached Debian bookworm rootfs
  built by scripts/build-testhost-rootfs.sh (no docker.io) and whose upper layer is per host,
  under the test's tmp dir, so whatever a test installs lands on that host only;
* its own network: netns ``<prefix>-hK`` joined by veth ``<prefix>-hK`` to bridge ``<prefix>-br``
  (shoal.devhosts), eth0 = .(10+K) of the subnet, NO default route (offline by construction);
* its own process table, hostname and mounts: an init process (pid 1, a reaper) in new pid,
  mount, UTS and IPC namespaces, chrooted into the merged root; everything else (sshd, the
  commands of ``run()``, a dockerd a test starts over SSH) enters those namespaces, so ``ps``
  in a host shows only that host and killing its init ends everything in it;
* sshd on eth0:22 with a fresh ed25519 host key, root/deploy/nosudo logging in with one key
  made per SshTestHosts; ``deploy`` has passwordless sudo, ``nosudo`` has none;
* optionally (``systemd=True``) real systemd as pid 1 instead of the reaper: the host gets a
  cgroup subtree of its own in every hierarchy (seen through a cgroup namespace as its root),
  a read-only /proc/sys (but for net), units that cannot work in a container masked, and its
  sshd is Debian's ssh.service;
* apt pointed only at the offline repository (bind-mounted read-only at /srv/shoal-repo), so
  ``apt-get update && apt-get install -y docker.io`` works with no network; /var/lib/docker is a
  bind mount of a real directory (overlay2 cannot sit on overlayfs).

Use::

    with SshTestHosts(tmp_path, count=2) as hosts:
        h = hosts[0]
        client = h.connect("root")            # paramiko, host key pinned, RejectPolicy
        h.run("cat /etc/os-release")           # as root inside the host, no SSH

    with SshTestHosts(tmp_path, count=2, systemd={1}, prefix="sdx", subnet="10.213.70.0/24") as hosts:
        hosts[0].run("systemctl is-system-running")   # "running": booted before start() returned

Clean-up is by pid (+ start time) and by the names created here, never by process name; a
state file (/run/shoal-sshhosts/<prefix>.json) lets a later run tear down what a killed run left.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pyroute2 import IPRoute

from shoal import devcleanup, devhosts, devprocs
from tests.polling import poll

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_SUBNET",
    "REPO_IN_HOST",
    "SshTestHost",
    "SshTestHostError",
    "SshTestHosts",
    "TestHostCache",
    "find_cache",
    "fingerprint",
    "new_ed25519_key",
]

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-testhost-rootfs.sh"
STATE_DIR = Path("/run/shoal-sshhosts")
DEFAULT_PREFIX = "sshh"
DEFAULT_SUBNET = "10.213.60.0/24"
DOCKER_BIP_BASE = (10, 214, 61)  # host K: --bip 10.214.(61+K-1).1/24, inside its own netns
REPO_IN_HOST = "/srv/shoal-repo"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_ENV = {"PATH": HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
READY_MARK = "run/shoal-testhost-init.ready"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
BOOT_TIMEOUT = 90.0  # systemd up to `is-system-running` = running/degraded (2 cores, busy CI)
CGROUP_PARENT = "shoal-testhost"  # <our own cgroup>/shoal-testhost/<host name> in each hierarchy
SYSTEMD_CONTAINER = "shoal-testhost"  # $container for systemd: "in a container" (container-other)

# Units of a systemd host that cannot work in a container sharing the machine's kernel, or
# that would change the machine (sysctls, modules, binfmt and audit are not namespaced), or
# that would race the tests (apt timers hold the dpkg lock).  Masked in the host's upper layer.
SYSTEMD_MASKED = (
    "systemd-sysctl.service", "systemd-modules-load.service", "kmod-static-nodes.service",
    "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount", "proc-sys-fs-binfmt_misc.mount",
    "systemd-journald-audit.socket", "systemd-remount-fs.service", "systemd-firstboot.service",
    "sys-kernel-config.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount", "dev-hugepages.mount",
    "getty.target", "console-getty.service", "getty@.service", "serial-getty@.service",
    "systemd-udevd.service", "systemd-udev-trigger.service", "systemd-udev-settle.service",
    "systemd-hwdb-update.service", "systemd-timesyncd.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer",
)  # fmt: skip

# First stage of a systemd host's pid 1, run by the machine's sh: join the host's cgroups, so
# that the `unshare --cgroup` it execs makes them the root of the host's cgroup namespace.
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done; shift; exec "$@"'

# Second stage, inside the new mount and pid namespaces, still the machine's sh and mount:
# /proc/sys read-only but for net (per netns: dockerd sets ip_forward), as systemd-nspawn
# does, so systemd itself (fs.file-max, fs.nr_open) and its units never set the machine's
# sysctls; then systemd becomes pid 1, chrooted into the host.
_SYSTEMD_STAGE2 = (
    'set -e; m=$1; r=$2; shift 2; '
    '"$m" --bind "$r/proc/sys" "$r/proc/sys"; '
    '"$m" -o remount,bind,ro,nosuid,nodev,noexec "$r/proc/sys"; '
    '"$m" --bind "$r/proc/sys/net" "$r/proc/sys/net"; '
    '"$m" -o remount,bind,rw,nosuid,nodev,noexec "$r/proc/sys/net"; '
    'exec "$@"'
)

# pid 1 of a host: reaps every orphan (sessions' background jobs, a dockerd started with `&`)
# and exits on SIGTERM/SIGINT.  Handlers must exist: pid 1 of a pid namespace never gets
# signals left at SIG_DFL.  Blocked + sigwait, so no reap is ever missed.
_INIT = r"""
import os, signal, socket, sys
socket.sethostname(sys.argv[1])
for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda *a: None)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT})
open("/run/shoal-testhost-init.ready", "w").close()
while True:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    if signal.sigwait({signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}) != signal.SIGCHLD:
        sys.exit(0)
"""

_SSHD_CONFIG = """\
# written by tests/integration/sshhosts.py (sshd_config.d comes first: these settings win)
ListenAddress {ip}:{port}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""


class SshTestHostError(RuntimeError):
    pass


# -- small helpers ------------------------------------------------------------------------


def _cmd(argv: list[str], timeout: float = 30) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SshTestHostError(f"{' '.join(argv)} exited {r.returncode}: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def _which(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise SshTestHostError(f"{name} not found")
    return path


def _proc_record(pid: int) -> dict | None:
    st = devprocs.proc_stat(pid)
    return None if st is None else {"pid": pid, "start": st[1]}


def _alive(rec: dict | None) -> bool:
    return bool(rec) and devprocs.running(rec["pid"], rec["start"])


def _remove_tree(path: Path) -> None:
    """rm -rf that never crosses into another filesystem, and only when nothing is mounted below."""
    if not path.exists():
        return
    left = devcleanup.mounts_under(path)
    if left:
        raise SshTestHostError(f"not removing {path}: still mounted: {left[:3]}")
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True, timeout=120)


def new_ed25519_key(comment: str = "") -> tuple[bytes, str]:
    """(private key in OpenSSH format, public key line "ssh-ed25519 AAAA... comment")."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public.decode()
    return private, f"{line} {comment}".rstrip()


def fingerprint(public_line: str) -> str:
    """OpenSSH's SHA256 fingerprint ("SHA256:base64-without-padding") of a public key line."""
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class TestHostCache:
    """The cached rootfs + offline repo of scripts/build-testhost-rootfs.sh."""

    __test__ = False  # not a pytest test class

    dir: Path

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    @property
    def repo(self) -> Path:
        return self.dir / "repo"

    def recipe(self) -> dict[str, str]:
        """recipe.txt as a dict (key, built, suite, include, repo, build_seconds)."""
        out = {}
        for line in (self.dir / "recipe.txt").read_text().splitlines():
            k, _, v = line.partition(": ")
            out[k] = v
        return out


def find_cache() -> TestHostCache:
    """The current cache, as the build script names it (never builds: that needs the network)."""
    r = subprocess.run([str(BUILD_SCRIPT), "--print-dir"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SshTestHostError(
            f"no test host rootfs for the current recipe: run {BUILD_SCRIPT} as root "
            f"(scripts/setup.sh does): {r.stderr.strip()}"
        )
    return TestHostCache(Path(r.stdout.strip()))


# -- one host ---------------------------------------------------------------------------------


class SshTestHost:
    """One test host.  Made and destroyed by SshTestHosts; see the module docstring."""

    __test__ = False

    port = 22
    users = ("root", "deploy", "nosudo")

    def __init__(self, hosts: "SshTestHosts", index: int, systemd: bool = False):
        self._hosts = hosts
        self.index = index
        self.systemd = systemd  # pid 1 is systemd (else the reaper); sshd is then ssh.service
        self.name = f"{hosts.prefix}-h{index}"
        self.ip = str(hosts.network.network_address + 10 + index)
        self.netns = self.name
        self.veth = self.name
        self.dir = hosts.base_dir / self.name
        self.root = self.dir / "merged"  # the host's "/" as seen from the machine
        self.upper = self.dir / "upper"  # what this host changed (overlayfs upper layer)
        self.docker_dir = self.dir / "docker"  # the real directory mounted at /var/lib/docker
        a, b, c = DOCKER_BIP_BASE
        self.docker_bip = f"{a}.{b}.{c + index - 1}.1/24"  # a distinct --bip for a dockerd in this host
        self.host_public_key = ""  # "ssh-ed25519 AAAA... root@NAME"
        self.start_seconds = 0.0  # set-up time of this host (mounts, netns, init, sshd up)
        self.boot_seconds = 0.0  # systemd hosts: init started to `is-system-running` running/degraded
        self.cgroups: list[str] = []  # systemd hosts: the host's cgroup in each machine hierarchy
        self._init: dict | None = None  # pid 1 of the host, from the machine: {"pid", "start"}
        self._unshare: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"<SshTestHost {self.name} {self.ip}:{self.port}>"

    # -- what tests use ------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        """Private key (ed25519, OpenSSH format) authorized for root, deploy and nosudo."""
        return self._hosts.key_path

    @property
    def host_key_fingerprint(self) -> str:
        """The current host key's fingerprint, "SHA256:..." as `ssh-keygen -l` prints it."""
        return fingerprint(self.host_public_key)

    @property
    def known_hosts_line(self) -> str:
        key = " ".join(self.host_public_key.split()[:2])
        host = self.ip if self.port == 22 else f"[{self.ip}]:{self.port}"
        return f"{host} {key}"

    @property
    def sshd_pidfile(self) -> Path:
        """sshd's pidfile (/run/sshd.pid in the host; the pid is one of the host's pid namespace)."""
        return self.path("/run/sshd.pid")

    @property
    def sshd_log(self) -> Path:
        return self.path("/var/log/sshd.log")

    @property
    def init_pid(self) -> int | None:
        """Machine pid of the host's pid 1 (everything in the host descends from it)."""
        return self._init["pid"] if self._init else None

    def path(self, path: str | os.PathLike) -> Path:
        """A path inside the host, as seen from the machine (through the merged overlay)."""
        return self.root / str(path).lstrip("/")

    def run(
        self,
        command: str | list[str],
        *,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a command as root inside the host (its namespaces and root; no SSH involved).

        A string runs under /bin/sh -c.  stdout/stderr are captured as text.  A command that
        leaves a background job must redirect the job's output, or this waits for it."""
        if not _alive(self._init):
            raise SshTestHostError(f"{self.name} is not running")
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        full = [
            _which("nsenter"), "--target", str(self._init["pid"]),
            "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--", *argv,
        ]  # fmt: skip
        if self.systemd:  # in the host's cgroups too, so its cgroup tree holds all of the host
            full[3:3] = ["--cgroup"]
            full = ["/bin/sh", "-c", _JOIN_CGROUPS, "sh", *self.cgroups, "--", *full]
        r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input, env=HOST_ENV)
        if check and r.returncode != 0:
            raise SshTestHostError(
                f"{self.name}: {argv!r} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-2000:]}"
            )
        return r

    def connect(self, user: str = "root", timeout: float = 15, **kwargs):
        """A paramiko SSHClient logged in as `user`, the host key pinned (RejectPolicy for any other)."""
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        kind, blob = self.host_public_key.split()[:2]
        client.get_host_keys().add(
            self.ip if self.port == 22 else f"[{self.ip}]:{self.port}",
            kind,
            paramiko.PKey.from_type_string(kind, base64.b64decode(blob)),
        )
        client.connect(
            self.ip, port=self.port, username=user, key_filename=str(self.key_path),
            look_for_keys=False, allow_agent=False,
            timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, **kwargs,
        )  # fmt: skip
        return client

    def set_os_release(self, text: str) -> None:
        """Replace /etc/os-release (and /usr/lib/os-release) of this host, e.g. to look like
        another distribution.  reset_os_release() puts Debian's back."""
        for p in ("/etc/os-release", "/usr/lib/os-release"):
            target = self.path(p)
            if target.is_symlink() or target.exists():
                target.unlink()
            target.write_text(text)
            target.chmod(0o644)

    def reset_os_release(self) -> None:
        original = (self._hosts.cache.rootfs / "usr/lib/os-release").read_text()
        lib = self.path("/usr/lib/os-release")
        if lib.is_symlink() or lib.exists():
            lib.unlink()
        lib.write_text(original)
        etc = self.path("/etc/os-release")
        if etc.is_symlink() or etc.exists():
            etc.unlink()
        etc.symlink_to("../usr/lib/os-release")

    def sshd_pid(self) -> int | None:
        """sshd's pid in the host's pid namespace, if it is running."""
        try:
            pid = int(self.sshd_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        r = self.run(["cat", f"/proc/{pid}/comm"], check=False)
        return pid if r.returncode == 0 and r.stdout.strip() == "sshd" else None

    def stop(self) -> None:
        """Stop sshd (its listener; open sessions live on, as with `service ssh stop`)."""
        pid = self.sshd_pid()
        if pid is None:
            return
        if self.systemd:  # KillMode=process: only the listener goes, as above
            self.run(["systemctl", "stop", "ssh.service"])
        else:
            self.run(["kill", "-TERM", str(pid)])
        poll(lambda: self.run(["kill", "-0", str(pid)], check=False).returncode != 0, STOP_TIMEOUT,
             interval=0.05, what=f"sshd (pid {pid} in {self.name}) to exit", error=SshTestHostError)
        poll(lambda: not _banner(self.ip, self.port), STOP_TIMEOUT,
             interval=0.05, what=f"{self.ip}:{self.port} to close", error=SshTestHostError)
        try:
            self.sshd_pidfile.unlink()
        except FileNotFoundError:
            pass

    def start(self) -> None:
        """Start sshd (daemonized inside the host; logs to /var/log/sshd.log there).  Returns
        once it answers with its banner on ip:22."""
        if self.sshd_pid() is not None:
            return
        if self.systemd:  # Debian's ssh.service; /etc/default/ssh adds the same -E log
            r = self.run(["systemctl", "start", "ssh.service"], check=False, timeout=60)
        else:
            r = self.run("mkdir -p -m 0755 /run/sshd && /usr/sbin/sshd -E /var/log/sshd.log", check=False, timeout=30)
        if r.returncode != 0:
            raise SshTestHostError(f"sshd on {self.name} did not start: {r.stderr.strip()} {self._sshd_log_tail()}")
        try:
            poll(lambda: _banner(self.ip, self.port), START_TIMEOUT,
                 interval=0.05, what=f"sshd on {self.ip}:{self.port}", error=SshTestHostError)
        except SshTestHostError as e:
            raise SshTestHostError(f"{e}; {self._sshd_log_tail()}") from None

    def swap_host_key(self) -> str:
        """Give the host a new host key (restarting sshd if it runs); returns its fingerprint."""
        running = self.sshd_pid() is not None
        if running:
            self.stop()
        self._write_host_key()
        if running:
            self.start()
        return self.host_key_fingerprint

    # -- making it ------------------------------------------------------------------------

    def _sshd_log_tail(self) -> str:
        try:
            lines = self.sshd_log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no sshd log)"
        return "sshd log: " + " | ".join(lines[-5:])

    def _write_host_key(self) -> None:
        private, public = new_ed25519_key(f"root@{self.name}")
        key = self.path("/etc/ssh/ssh_host_ed25519_key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        os.chmod(key, 0o600)
        self.path("/etc/ssh/ssh_host_ed25519_key.pub").write_text(public + "\n")
        self.host_public_key = public

    def _state(self) -> dict:
        return {
            "name": self.name, "netns": self.netns, "veth": self.veth, "dir": str(self.dir),
            "init": self._init,
            "unshare": _proc_record(self._unshare.pid) if self._unshare else None,
            "cgroups": self.cgroups,
        }  # fmt: skip

    def _make_dev(self, mount: str) -> None:
        """/dev as Docker gives a container: a tmpfs with the harmless character devices, a
        devpts instance of the host's own (ptys for SSH sessions), /dev/shm; none of the
        machine's disks."""
        dev = self.root / "dev"
        _cmd([mount, "-t", "tmpfs", "-o", "nosuid,mode=0755,size=1m", "tmpfs", str(dev)])
        for name in ("null", "zero", "full", "random", "urandom", "tty"):
            st = os.stat(f"/dev/{name}")
            os.mknod(dev / name, 0o666 | (st.st_mode & 0o170000), st.st_rdev)
            os.chmod(dev / name, 0o666)
        (dev / "pts").mkdir()
        (dev / "shm").mkdir()
        _cmd([mount, "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec",
              "devpts", str(dev / "pts")])  # fmt: skip
        _cmd([mount, "-t", "tmpfs", "-o", "nosuid,nodev,mode=1777", "tmpfs", str(dev / "shm")])
        os.symlink("pts/ptmx", dev / "ptmx")
        os.symlink("/proc/self/fd", dev / "fd")
        for i, name in enumerate(("stdin", "stdout", "stderr")):
            os.symlink(f"/proc/self/fd/{i}", dev / name)

    def _make_cgroups(self, mount: str) -> None:
        """A systemd host's /sys/fs/cgroup: a cgroup of its own below ours in every hierarchy of
        the machine, bind-mounted where the machine has that hierarchy.  Its pid 1 joins them
        and then unshares its cgroup namespace, so inside they are the roots ("/"), as systemd
        in a container expects; it may create, move and remove cgroups only in its own subtree."""
        own = _own_cgroups()
        hierarchies = _machine_hierarchies()
        if not hierarchies:
            raise SshTestHostError("no cgroup hierarchy mounted under /sys/fs/cgroup")
        target = self.root / "sys/fs/cgroup"
        if hierarchies[0][1] != "":  # a tmpfs of named mount points, as on the machine (v1/hybrid)
            _cmd([mount, "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=0755", "tmpfs", str(target)])
        for mnt, rel, key in hierarchies:
            if key not in own:
                raise SshTestHostError(f"cgroup hierarchy {mnt} ({key!r}) is not in /proc/self/cgroup")
            parent = os.path.join(mnt, own[key].lstrip("/"), CGROUP_PARENT)
            d = os.path.join(parent, self.name)
            self.cgroups.append(d)
            self._hosts._save()  # before it exists: a killed run's cgroups are found by the next one
            for level in (parent, d):
                if not os.path.isdir(level):
                    os.mkdir(level)
                    if os.path.exists(os.path.join(level, "cpuset.cpus")):  # v1 cpuset: empty = no task may join
                        for f in ("cpuset.cpus", "cpuset.mems"):
                            with open(os.path.join(os.path.dirname(level), f)) as src:
                                value = src.read().strip()
                            with open(os.path.join(level, f), "w") as dst:
                                dst.write(value)
            dest = target / rel
            dest.mkdir(exist_ok=True)
            _cmd([mount, "--bind", d, str(dest)])
        for link in Path("/sys/fs/cgroup").iterdir():  # aliases such as cpu,cpuacct -> ...
            if link.is_symlink():
                (target / link.name).symlink_to(os.readlink(link))

    def _configure_systemd(self) -> None:
        """This host's own systemd settings, in its upper layer (the shared rootfs stays as is)."""
        self.path("/etc/machine-id").write_text(os.urandom(16).hex() + "\n")
        units = self.path("/etc/systemd/system")
        for unit in SYSTEMD_MASKED:
            link = units / unit
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to("/dev/null")
        # sshd logs where the reaper's hosts log it (host.sshd_log), not only to the journal
        self.path("/etc/default/ssh").write_text('SSHD_OPTS="-E /var/log/sshd.log"\n')

    def _wait_booted(self) -> None:
        """Until `systemctl is-system-running` says running or degraded (boot finished)."""
        last = [""]

        def booted():
            if self._unshare.poll() is not None:
                raise SshTestHostError(
                    f"systemd of {self.name} exited {self._unshare.returncode}: "
                    f"{(self.dir / 'init.log').read_text(errors='replace').strip()[-1500:]}"
                )
            last[0] = self.run(["systemctl", "is-system-running"], check=False, timeout=30).stdout.strip()
            return last[0] in ("running", "degraded")

        try:
            poll(booted, BOOT_TIMEOUT,
                 interval=0.2, what=f"systemd of {self.name} to finish booting", error=SshTestHostError)
        except SshTestHostError as e:
            jobs = self.run(["systemctl", "list-jobs", "--no-pager"], check=False).stdout
            raise SshTestHostError(f"{e} (state {last[0]!r}; jobs: {jobs.strip()[-1500:]})") from None

    def _create(self) -> None:
        t0 = time.monotonic()
        hosts = self._hosts
        for sub in ("upper", "work", "merged", "docker"):
            (self.dir / sub).mkdir(parents=True, exist_ok=False)
        hosts._save()  # from here on, teardown knows this host's names and dir
        mount = _which("mount")
        _cmd([mount, "-t", "overlay", "overlay", "-o",
              f"lowerdir={hosts.cache.rootfs},upperdir={self.upper},workdir={self.dir / 'work'}", str(self.root)])  # fmt: skip

        net = devhosts.HostNet(
            netns=self.netns, veth=self.veth, ip=self.ip,
            prefixlen=hosts.network.prefixlen, gateway=hosts.bridge_ip,
        )  # fmt: skip
        devhosts.create_host(hosts.bridge, net)
        with IPRoute(netns=self.netns, flags=0) as ns:  # offline: only the bridge's subnet is reachable
            ns.route("del", dst="0.0.0.0/0")

        r = str(self.root)
        # sysfs mounted from inside the netns: /sys/class/net shows the host's lo and eth0
        _cmd([_which("nsenter"), f"--net={devhosts.netns_path(self.netns)}", "--",
              mount, "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", f"{r}/sys"])  # fmt: skip
        if self.systemd:
            self._make_cgroups(mount)
        else:
            # the machine's cgroup hierarchy (v1 controllers + unified here): what dockerd needs
            _cmd([mount, "--rbind", "/sys/fs/cgroup", f"{r}/sys/fs/cgroup"])
            _cmd([mount, "--make-rslave", f"{r}/sys/fs/cgroup"])
        self._make_dev(mount)
        _cmd([mount, "-t", "tmpfs", "-o", "nosuid,nodev,mode=0755", "tmpfs", f"{r}/run"])
        _cmd([mount, "--bind", "-o", "ro", str(hosts.cache.repo), f"{r}{REPO_IN_HOST}"])
        _cmd([mount, "--bind", str(self.docker_dir), f"{r}/var/lib/docker"])
        (self.root / "run/lock").mkdir(mode=0o1777)
        (self.root / "run/lock").chmod(0o1777)

        # what makes this host itself
        self.path("/etc/hostname").write_text(self.name + "\n")
        self.path("/etc/hosts").write_text(
            f"127.0.0.1\tlocalhost\n{self.ip}\t{self.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        self._write_host_key()
        self.path("/etc/ssh/sshd_config.d/shoal-testhost.conf").write_text(
            _SSHD_CONFIG.format(ip=self.ip, port=self.port)
        )
        passwd = {}
        for line in self.path("/etc/passwd").read_text().splitlines():
            f = line.split(":")
            passwd[f[0]] = (int(f[2]), int(f[3]), f[5])
        for user in self.users:
            uid, gid, home = passwd[user]
            ssh_dir = self.path(home) / ".ssh"
            ssh_dir.mkdir(mode=0o700, exist_ok=True)
            keys = ssh_dir / "authorized_keys"
            keys.write_text(hosts.public_key + "\n")
            keys.chmod(0o600)
            os.chown(ssh_dir, uid, gid)
            os.chown(keys, uid, gid)
        if self.systemd:
            self._configure_systemd()

        # pid 1: new pid/mount/UTS/IPC namespaces, in the netns, chrooted; --kill-child ties it
        # to the unshare process, and killing it ends every process of the host
        unshare = [
            _which("nsenter"), f"--net={devhosts.netns_path(self.netns)}", "--",
            _which("unshare"), "--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc",
            "--propagation", "private", f"--mount-proc={r}/proc", "--",
        ]  # fmt: skip
        if self.systemd:
            argv = ["/bin/sh", "-c", _JOIN_CGROUPS, "sh", *self.cgroups, "--", *unshare[:4], "--cgroup",
                    *unshare[4:], "/bin/sh", "-c", _SYSTEMD_STAGE2, "sh", mount, r,
                    _which("chroot"), r, "/lib/systemd/systemd"]  # fmt: skip
            env = {**HOST_ENV, "container": SYSTEMD_CONTAINER}
        else:
            argv = [*unshare, _which("chroot"), r, "/usr/bin/python3", "-c", _INIT, self.name]
            env = HOST_ENV
        log = open(self.dir / "init.log", "ab")
        try:
            self._unshare = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        finally:
            log.close()
        hosts._popen.append(self._unshare)
        hosts._save()

        def init_ready():
            if self._unshare.poll() is not None:
                raise SshTestHostError(
                    f"init of {self.name} exited {self._unshare.returncode}: "
                    f"{(self.dir / 'init.log').read_text(errors='replace').strip()[-500:]}"
                )
            if not self.path("/run/systemd/system" if self.systemd else READY_MARK).exists():
                return None
            try:
                with open(f"/proc/{self._unshare.pid}/task/{self._unshare.pid}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                return None
            return kids[0] if kids else None

        t_init = time.monotonic()
        init_pid = poll(init_ready, START_TIMEOUT,
                        interval=0.05, what=f"the init of {self.name}", error=SshTestHostError)
        self._init = _proc_record(init_pid)
        hosts._save()
        if self.systemd:
            self._wait_booted()
            self.boot_seconds = time.monotonic() - t_init
        self.start()
        self.start_seconds = time.monotonic() - t0


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per hierarchy: {"memory": "/a/b", "name=systemd": "/", "": "/" (v2)}."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            out[controllers] = path
    return out


def _machine_hierarchies() -> list[tuple[str, str, str]]:
    """(mount point, its name under /sys/fs/cgroup, its key in /proc/self/cgroup) of each cgroup
    hierarchy mounted at or directly under /sys/fs/cgroup; the name is "" for a pure v2 machine."""
    own = _own_cgroups()
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mnt, fstype, opts = fields[4], fields[sep + 1], set(fields[sep + 3].split(","))
            if fstype not in ("cgroup", "cgroup2") or fields[3] != "/":
                continue
            if mnt == "/sys/fs/cgroup":
                rel = ""
            elif os.path.dirname(mnt) == "/sys/fs/cgroup":
                rel = os.path.basename(mnt)
            else:
                continue
            if fstype == "cgroup2":
                key = ""
            else:
                key = next((k for k in own if k and set(k.split(",")) <= opts), None)
                if key is None:
                    continue
            found.append((mnt, rel, key))
    return found


def _banner(ip: str, port: int, timeout: float = 1.0) -> bool:
    """sshd answers on ip:port with an SSH banner."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


# -- the set of hosts ---------------------------------------------------------------------------


class SshTestHosts:
    """N SSH test hosts on one bridge.  A context manager; close() is idempotent and also runs
    at interpreter exit if the owner forgot (or failed) to call it.

    Names: bridge ``<prefix>-br`` (.1 of `subnet`), hosts ``<prefix>-h1``.. (.11, .12, ..).
    Only one SshTestHosts per prefix at a time on a machine (a second one fails at start)."""

    __test__ = False

    def __init__(
        self,
        base_dir: str | os.PathLike,
        count: int = 2,
        *,
        prefix: str = DEFAULT_PREFIX,
        subnet: str = DEFAULT_SUBNET,
        cache: TestHostCache | None = None,
        systemd: bool | Iterable[int] = False,
    ):
        """systemd: True for real systemd as pid 1 of every host, or the numbers (1..count) of
        the hosts that boot systemd; the others get the reaper."""
        if not 1 <= count <= 40:
            raise ValueError("count must be 1..40")
        if isinstance(systemd, bool):
            self.systemd_hosts = frozenset(range(1, count + 1)) if systemd else frozenset()
        else:
            self.systemd_hosts = frozenset(systemd)
            if not self.systemd_hosts <= set(range(1, count + 1)):
                raise ValueError(f"systemd: host numbers must be in 1..{count}")
        devhosts.check_ifname(f"{prefix}-h{count}")
        self.prefix = prefix
        self.count = count
        self.network = ipaddress.ip_network(subnet)
        self.bridge = f"{prefix}-br"
        self.bridge_ip = str(self.network.network_address + 1)
        self.base_dir = Path(base_dir).resolve() / f"{prefix}-hosts"
        self.cache = cache
        self.key_path = self.base_dir / "id_ed25519"
        self.public_key = ""
        self.hosts: list[SshTestHost] = []
        self._popen: list[subprocess.Popen] = []
        self._forward_rule = False
        self._bridge_created = False
        self._started = False
        self._closed = False
        self.state_file = STATE_DIR / f"{prefix}.json"

    # sequence access
    def __getitem__(self, i: int) -> SshTestHost:
        return self.hosts[i]

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __enter__(self) -> "SshTestHosts":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def start_seconds(self) -> dict[str, float]:
        return {h.name: h.start_seconds for h in self.hosts}

    def start(self) -> "SshTestHosts":
        if self._started:
            raise SshTestHostError("already started")
        if os.geteuid() != 0:
            raise SshTestHostError("SSH test hosts need root")
        if self.cache is None:
            self.cache = find_cache()
        _recover_stale(self.state_file, self.prefix)
        self._started = True
        atexit.register(self.close)
        try:
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            self.base_dir.mkdir(parents=True, exist_ok=False)
            self._save()
            private, self.public_key = new_ed25519_key(f"shoal-test@{self.prefix}")
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(private)
            (self.base_dir / "id_ed25519.pub").write_text(self.public_key + "\n")

            if not devhosts.create_bridge(self.bridge, f"{self.bridge_ip}/{self.network.prefixlen}"):
                raise SshTestHostError(f"bridge {self.bridge} exists already and is not ours")
            self._bridge_created = True
            self._forward_rule = devhosts.ensure_bridge_forwarding(self.bridge)
            self._save()
            for k in range(1, self.count + 1):
                host = SshTestHost(self, k, systemd=k in self.systemd_hosts)
                self.hosts.append(host)
                host._create()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._closed or not self._started:
            return
        self._closed = True
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
        errors = _teardown(self._state())
        for p in self._popen:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.state_file.unlink()
        except FileNotFoundError:
            pass
        if errors:
            raise SshTestHostError("SSH test hosts teardown incomplete: " + "; ".join(errors))

    def _state(self) -> dict:
        return {
            "owner": _proc_record(os.getpid()),
            "prefix": self.prefix,
            "bridge": self.bridge if self._bridge_created else None,
            "forward_rule": self._forward_rule,
            "base_dir": str(self.base_dir),
            "hosts": [h._state() for h in self.hosts],
        }

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state(), indent=1))
        tmp.replace(self.state_file)


# -- teardown, from a state dict (ours, or a dead run's) -------------------------------------------


def _netns_ino(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(devhosts.netns_path(name))
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _pids_in_netns(ino: tuple[int, int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == ino:
            found.append(int(entry))
    return found


def _container_cgroups(cids: set[str]) -> list[str]:
    found = []
    for root in devcleanup.cgroup_roots():
        for cid in cids:
            p = os.path.join(root, "docker", cid)
            if os.path.isdir(p):
                found.append(p)
    return found


def _remove_cgroups(cids: set[str], errors: list[str]) -> None:
    """The cgroups of a host's containers (cgroupfs driver: <controller>/docker/<id>); a cgroup
    can only go once its last process has fully exited, hence the poll."""
    if not cids:
        return
    def removed() -> bool:
        devcleanup.remove_container_cgroups(cids)
        return not _container_cgroups(cids)
    try:
        poll(removed, 10, interval=0.05, what="container cgroups to go", error=SshTestHostError)
    except SshTestHostError:
        errors.append(f"cgroups not removable: {_container_cgroups(cids)[:3]}")


def _cgroup_pids(dirs: list[str]) -> list[int]:
    """Every process in these cgroups and their descendants."""
    pids = set()
    for top in dirs:
        for d, _, _ in os.walk(top):
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    pids.update(int(p) for p in f.read().split())
            except (OSError, ValueError):
                pass
    return sorted(pids)


def _remove_host_cgroups(dirs: list[str], errors: list[str]) -> None:
    """A systemd host's cgroup subtrees (systemd's slices and scopes, dockerd's containers),
    deepest first; a cgroup goes only once its last process has fully exited, hence the poll.
    Then the shared parent, if no other host uses it any more."""
    if not dirs:
        return
    def removed() -> bool:
        for top in dirs:
            for d, _, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        return not any(os.path.isdir(d) for d in dirs)
    try:
        poll(removed, 10, interval=0.05, what="the host's cgroups to go", error=SshTestHostError)
    except SshTestHostError:
        left = [d for d in dirs if os.path.isdir(d)]
        errors.append(f"cgroups not removable: {left[:3]} (processes {_cgroup_pids(left)[:5]})")
        return
    for d in dirs:
        try:
            os.rmdir(os.path.dirname(d))
        except OSError:  # another host's cgroup is still in it
            pass


def _host_teardown(h: dict, errors: list[str]) -> None:
    name = h["name"]
    hdir = Path(h["dir"])
    # 1. pid 1 of the host: SIGKILL ends every process of its pid namespace (sshd, sessions,
    #    dockerd, containerd, shims, containers in nested namespaces)
    for key in ("init", "unshare"):
        rec = h.get(key)
        if rec and devprocs.running(rec["pid"], rec["start"]):
            devprocs.send_signal(rec["pid"], rec["start"], signal.SIGKILL)
    # 2. anything else still in the netns (a command run()'s nsenter had not yet joined the pid
    #    namespace, say) and the cgroups of that host's dockerd's containers
    ino = _netns_ino(h["netns"])
    try:
        cids = set(os.listdir(hdir / "docker" / "containers"))
    except OSError:
        cids = set()
    cgroups = h.get("cgroups") or []
    def all_gone() -> bool:
        # Re-signalled at every poll: a process can still be forking when first killed.
        devcleanup.kill_leftovers(ino, cids)
        for pid in _cgroup_pids(cgroups):  # of a systemd host: nothing else is in its cgroups
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        gone = [k for k in ("init", "unshare") if not (h.get(k) and devprocs.running(h[k]["pid"], h[k]["start"]))]
        return len(gone) == 2 and (ino is None or not _pids_in_netns(ino)) and not _cgroup_pids(cgroups)

    try:
        poll(all_gone, 15, interval=0.05, what=f"the processes of {name} to end", error=SshTestHostError)
    except SshTestHostError:
        errors.append(f"processes of {name} still alive: {_pids_in_netns(ino) if ino else '?'} "
                      f"{_cgroup_pids(cgroups)}")
    _remove_cgroups(cids, errors)
    # 3. mounts (ours in the machine's mount namespace; the host's own namespace died with it)
    try:
        devcleanup.unmount_under(hdir)
    except OSError as e:
        errors.append(str(e))
    _remove_host_cgroups(cgroups, errors)  # after the unmount: some are bind-mounted in the host
    # 4. network names
    try:
        devhosts.delete_link(h["veth"])
        devhosts.delete_netns(h["netns"])
    except Exception as e:
        errors.append(f"deleting {h['netns']}: {e}")
    # 5. the host's directory (upper layer, docker data)
    try:
        _remove_tree(hdir)
    except Exception as e:
        errors.append(str(e))


def _teardown(state: dict) -> list[str]:
    errors: list[str] = []
    for h in state.get("hosts") or []:
        _host_teardown(h, errors)
    bridge = state.get("bridge")
    if bridge:
        try:
            devhosts.delete_link(bridge)
        except Exception as e:
            errors.append(f"deleting bridge {bridge}: {e}")
        if state.get("forward_rule"):
            try:
                devhosts.remove_bridge_forwarding(bridge)
            except Exception as e:
                errors.append(f"removing the FORWARD rule of {bridge}: {e}")
    base = state.get("base_dir")
    if base and not errors:
        try:
            _remove_tree(Path(base))
        except Exception as e:
            errors.append(str(e))
    return errors


def _recover_stale(state_file: Path, prefix: str) -> None:
    """Tear down what a dead run with the same prefix left; refuse if its owner still lives."""
    if state_file.exists():
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = None
        if state:
            owner = state.get("owner")
            if owner and _alive(owner):  # (this very process too: an instance not closed yet)
                raise SshTestHostError(
                    f"SSH test hosts {prefix!r} are in use by pid {owner['pid']} ({state_file}); "
                    "use another prefix/subnet or wait"
                )
            errors = _teardown(state)
            if errors:
                raise SshTestHostError(f"could not clean up a dead run's hosts: {'; '.join(errors)}")
        state_file.unlink(missing_ok=True)
    # names without a state file: only if nothing lives in them
    for ns in devhosts.netns_with_prefix(f"{prefix}-"):
        ino = _netns_ino(ns)
        if ino and _pids_in_netns(ino):
            raise SshTestHostError(f"network namespace {ns} exists and has processes; not ours to remove")
        devhosts.delete_link(ns)
        devhosts.delete_netns(ns)
    for link in devhosts.links_with_prefix(f"{prefix}-"):
        devhosts.delete_link(link)
