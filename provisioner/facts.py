"""What `machine create` needs to know about a host, as (command, parser) pairs.

Why pure parsers: the commands run over SSH (provisioner/ssh.py), but everything that decides
"supported or not", "docker there or not" works on their text, so it is table-tested here
without a host, and the odd outputs real hosts print (quotes in os-release, `systemctl` on a
host without systemd, a removed-but-configured dpkg package) are cases in a table, not surprises
in the middle of a provisioning run. Nothing here does I/O.

Each fact is one `Fact` object holding the commands that read it and the parser of their
outputs (pyinfra's FactBase: a command and a `process`), so what provisioner/steps.py runs is
exactly what the parser was written and tested for: steps ask `ctx.fact(OS_RELEASE)`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shoal.provisioner.errors import FactError, UnsupportedOS

# --- OS ------------------------------------------------------------------------------------

OS_RELEASE_COMMAND = "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release"

SUPPORTED_DEBIAN = frozenset({"11", "12", "13"})
MIN_UBUNTU = (20, 4)


@dataclass(frozen=True)
class OsInfo:
    id: str = ""
    id_like: tuple[str, ...] = ()
    version_id: str = ""
    pretty_name: str = ""
    name: str = ""
    version_codename: str = ""

    @property
    def display(self) -> str:
        """How the OS is named to the user: PRETTY_NAME (or NAME), plus VERSION_ID when the name
        does not already carry it ("Debian GNU/Linux 10 (buster)", "Fedora Linux 40")."""
        label = self.pretty_name or self.name or self.id or "unknown OS"
        if self.version_id and self.version_id not in label:
            label = f"{label} {self.version_id}"
        return label


_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def _unquote(value: str) -> str:
    """A value as os-release(5) writes it: bare, 'single-quoted', or "double-quoted" with
    backslash escapes of \\ $ " and `. An unbalanced quote is dropped rather than failing."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r'\\([\\$"`])', r"\1", value[1:-1])
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if value[:1] in ("'", '"'):
        return value.strip("'\"")
    return re.sub(r"\\(.)", r"\1", value)


def parse_os_release(text: str) -> OsInfo:
    """Parses /etc/os-release; unknown keys, comments and malformed lines are ignored."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSIGNMENT.fullmatch(line)
        if m:
            values[m.group(1)] = _unquote(m.group(2))
    return OsInfo(
        id=values.get("ID", "").lower(),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        version_id=values.get("VERSION_ID", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
        name=values.get("NAME", ""),
        version_codename=values.get("VERSION_CODENAME", ""),
    )


def _ubuntu_version(version_id: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", version_id)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_supported(os: OsInfo) -> None:
    """Debian 11-13 and Ubuntu 20.04 or newer pass; anything else (derivatives included: they
    differ in the packages we install) raises `unsupported OS: NAME VERSION`."""
    if os.id == "debian" and os.version_id in SUPPORTED_DEBIAN:
        return
    if os.id == "ubuntu":
        version = _ubuntu_version(os.version_id)
        if version is not None and version >= MIN_UBUNTU:
            return
    raise UnsupportedOS(f"unsupported OS: {os.display}")


# --- architecture --------------------------------------------------------------------------

ARCH_COMMAND = "uname -m"

# uname -m -> Debian architecture (the name apt, and Docker's Debian packages, use)
_ARCHES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "armv8l": "armhf",
    "armv6l": "armel",
    "i386": "i386",
    "i486": "i386",
    "i586": "i386",
    "i686": "i386",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def parse_architecture(uname_m: str) -> str:
    """`uname -m` output -> Debian architecture name (x86_64 -> amd64, aarch64 -> arm64)."""
    machine = uname_m.strip()
    try:
        return _ARCHES[machine]
    except KeyError:
        raise FactError(f"unrecognised architecture from `uname -m`: {machine!r}") from None


# --- docker --------------------------------------------------------------------------------

DOCKER_PATH_COMMAND = "command -v docker"
DOCKER_PACKAGES = ("docker.io", "docker-ce", "moby-engine")
# `dpkg -s` prints a status stanza per installed-or-known package (and complains on stderr about
# the others, exiting 1): parse stdout whatever the exit status.
DOCKER_DPKG_COMMAND = "dpkg -s " + " ".join(DOCKER_PACKAGES)


@dataclass(frozen=True)
class PackageStatus:
    package: str
    want: str  # install, hold, deinstall, purge, unknown
    state: str  # installed, config-files, half-installed, not-installed, ...
    version: str

    @property
    def installed(self) -> bool:
        return self.state == "installed"


def parse_dpkg_status(text: str) -> dict[str, PackageStatus]:
    """Stanzas of `dpkg -s` output or /var/lib/dpkg/status, by package name."""
    packages: dict[str, PackageStatus] = {}
    for stanza in re.split(r"\n\s*\n", text.strip()):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t"):
                continue  # continuation of a multi-line field (Description, Conffiles)
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        name = fields.get("package")
        if not name:
            continue
        status = fields.get("status", "").split()
        want, state = (status[0], status[-1]) if len(status) == 3 else ("unknown", "unknown")
        packages[name] = PackageStatus(name, want, state, fields.get("version", ""))
    return packages


def parse_command_v(stdout: str, exit_code: int) -> str | None:
    """`command -v NAME`: the path when found (exit 0 and an absolute path), else None.
    An alias or function (no leading /) does not count as an installed binary."""
    if exit_code != 0:
        return None
    lines = stdout.strip().splitlines()
    path = lines[0].strip() if lines else ""
    return path if path.startswith("/") else None


@dataclass(frozen=True)
class DockerFacts:
    path: str | None  # the docker CLI on PATH
    package: str | None  # the dpkg package that provides the engine, when installed
    version: str | None

    @property
    def installed(self) -> bool:
        """An engine from a package, or at least a docker binary (installed by hand or a script)."""
        return self.package is not None or self.path is not None


def docker_facts(command_v_stdout: str, command_v_exit: int, dpkg_text: str) -> DockerFacts:
    """Combines `command -v docker` and `dpkg -s docker.io docker-ce moby-engine`."""
    packages = parse_dpkg_status(dpkg_text)
    for name in DOCKER_PACKAGES:
        status = packages.get(name)
        if status is not None and status.installed:
            return DockerFacts(parse_command_v(command_v_stdout, command_v_exit), name, status.version)
    return DockerFacts(parse_command_v(command_v_stdout, command_v_exit), None, None)


# --- systemd -------------------------------------------------------------------------------

INIT_COMMAND = "cat /proc/1/comm"
SYSTEM_RUNNING_COMMAND = "systemctl is-system-running"

# `systemctl is-system-running` states in which systemd manages services (degraded: some unit
# failed, but systemd runs; starting/initializing: still booting, wait and ask again).
SYSTEMD_UP = frozenset({"running", "degraded"})
SYSTEMD_BOOTING = frozenset({"initializing", "starting"})
_SYSTEMD_STATES = SYSTEMD_UP | SYSTEMD_BOOTING | {"maintenance", "stopping", "offline", "unknown"}


def systemd_is_pid1(proc1_comm: str) -> bool:
    """`/proc/1/comm` names PID 1: "systemd" on a systemd host; "init", "sh", "tini"... otherwise."""
    return proc1_comm.strip() == "systemd"


def parse_system_running(stdout: str, stderr: str = "") -> str:
    """The state `systemctl is-system-running` reports ("running", "degraded", ...), or "absent"
    when systemd does not run (no systemctl, or "System has not been booted with systemd")."""
    word = stdout.strip().splitlines()[0].strip() if stdout.strip() else ""
    if word in _SYSTEMD_STATES:
        return word
    said = f"{stdout}\n{stderr}".lower()
    if not word or "not been booted with systemd" in said or "not found" in said or "failed to connect to bus" in said:
        return "absent"
    raise FactError(f"unexpected `systemctl is-system-running` output: {word!r}")


@dataclass(frozen=True)
class SystemdFacts:
    pid1: bool
    state: str

    @property
    def usable(self) -> bool:
        """systemd is PID 1 and manages services (booted; a failed unit somewhere is fine)."""
        return self.pid1 and self.state in SYSTEMD_UP

    @property
    def booting(self) -> bool:
        return self.pid1 and self.state in SYSTEMD_BOOTING


def systemd_facts(proc1_comm: str, running_stdout: str, running_stderr: str = "") -> SystemdFacts:
    return SystemdFacts(systemd_is_pid1(proc1_comm), parse_system_running(running_stdout, running_stderr))


# --- facts as objects ----------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Output:
    """What one command of a fact printed, and how it exited."""
    stdout: str
    stderr: str = ""
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class Fact(Generic[T]):
    """A fact about a host: the shell commands that read it (run in order, none of them fatal by
    its exit code alone) and the parser that turns their outputs into the fact or a FactError."""
    name: str
    commands: tuple[str, ...]
    parse: Callable[..., T]

    def process(self, outputs: Sequence[Output]) -> T:
        if len(outputs) != len(self.commands):
            raise FactError(f"{self.name}: {len(self.commands)} outputs expected, got {len(outputs)}")
        return self.parse(*outputs)


def _os_release(out: Output) -> OsInfo:
    if out.exit_code != 0:
        raise FactError(f"cannot read /etc/os-release: {out.stderr.strip() or f'exit code {out.exit_code}'}")
    return parse_os_release(out.stdout)


def _machine(out: Output) -> str:
    """`uname -m` as the host says it (what wheels are built for), once known to be one we map."""
    parse_architecture(out.stdout)
    return out.stdout.strip()


OS_RELEASE: Fact[OsInfo] = Fact("os release", (OS_RELEASE_COMMAND,), _os_release)
MACHINE: Fact[str] = Fact("machine", (ARCH_COMMAND,), _machine)
DOCKER: Fact[DockerFacts] = Fact(
    "docker", (DOCKER_PATH_COMMAND, f"{DOCKER_DPKG_COMMAND} 2>/dev/null"),
    lambda path, dpkg: docker_facts(path.stdout, path.exit_code, dpkg.stdout))
SYSTEMD: Fact[SystemdFacts] = Fact(
    "systemd", (INIT_COMMAND, SYSTEM_RUNNING_COMMAND),
    lambda init, running: systemd_facts(init.stdout, running.stdout, running.stderr))

