"""provisioner.facts: the parsers of what a host runs, on real-world outputs; and the
provisioner's import rules (pure modules stay pure, no manager/agent imports)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shoal.provisioner import facts
from shoal.provisioner.errors import FactError, UnsupportedOS
from shoal.provisioner.facts import OsInfo

DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""
UBUNTU_2204 = """\
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"""


def os_release(**fields: str) -> str:
    return "".join(f'{k}="{v}"\n' for k, v in fields.items())


# --- os-release ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DEBIAN_12, OsInfo("debian", (), "12", "Debian GNU/Linux 12 (bookworm)", "Debian GNU/Linux", "bookworm")),
        (UBUNTU_2204, OsInfo("ubuntu", ("debian",), "22.04", "Ubuntu 22.04.4 LTS", "Ubuntu", "jammy")),
        ("ID=linuxmint\nID_LIKE='ubuntu debian'\nVERSION_ID=21.3\n", OsInfo("linuxmint", ("ubuntu", "debian"), "21.3")),
        ('# comment\n\n  ID="Debian"  \nPRETTY_NAME="A \\"quoted\\" \\$name"\n', OsInfo("debian", pretty_name='A "quoted" $name')),
        ("ID=debian\nnot an assignment\n=x\n1BAD=y\nVERSION_ID=\"11\n", OsInfo("debian", version_id="11")),
        ("", OsInfo()),
    ],
)
def test_parse_os_release(text, expected):
    assert facts.parse_os_release(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        DEBIAN_12,
        DEBIAN_12.replace('"12"', '"11"'),
        DEBIAN_12.replace('"12"', '"13"'),
        UBUNTU_2204,
        os_release(ID="ubuntu", VERSION_ID="20.04"),
        os_release(ID="ubuntu", VERSION_ID="24.04"),
        os_release(ID="ubuntu", VERSION_ID="24.10"),
        os_release(ID="ubuntu", VERSION_ID="26.04"),
    ],
)
def test_supported(text):
    facts.check_supported(facts.parse_os_release(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (os_release(PRETTY_NAME="Debian GNU/Linux 10 (buster)", NAME="Debian GNU/Linux", ID="debian", VERSION_ID="10"),
         "unsupported OS: Debian GNU/Linux 10 (buster)"),
        (os_release(PRETTY_NAME="Debian GNU/Linux trixie/sid", NAME="Debian GNU/Linux", ID="debian"),
         "unsupported OS: Debian GNU/Linux trixie/sid"),
        (os_release(PRETTY_NAME="Ubuntu 18.04.6 LTS", ID="ubuntu", VERSION_ID="18.04"), "unsupported OS: Ubuntu 18.04.6 LTS"),
        (os_release(PRETTY_NAME="Ubuntu 19.10", ID="ubuntu", VERSION_ID="19.10"), "unsupported OS: Ubuntu 19.10"),
        (os_release(PRETTY_NAME="CentOS Stream 9", ID="centos", ID_LIKE="rhel fedora", VERSION_ID="9"),
         "unsupported OS: CentOS Stream 9"),
        (os_release(PRETTY_NAME="Linux Mint 21.3", ID="linuxmint", ID_LIKE="ubuntu debian", VERSION_ID="21.3"),
         "unsupported OS: Linux Mint 21.3"),
        (os_release(PRETTY_NAME="Raspbian GNU/Linux 11 (bullseye)", ID="raspbian", ID_LIKE="debian", VERSION_ID="11"),
         "unsupported OS: Raspbian GNU/Linux 11 (bullseye)"),
        (os_release(NAME="Alpine Linux", ID="alpine", VERSION_ID="3.19.1"), "unsupported OS: Alpine Linux 3.19.1"),
        (os_release(ID="ubuntu", VERSION_ID="jammy"), "unsupported OS: ubuntu jammy"),
        ("", "unsupported OS: unknown OS"),
    ],
)
def test_unsupported(text, message):
    with pytest.raises(UnsupportedOS) as info:
        facts.check_supported(facts.parse_os_release(text))
    assert str(info.value) == message


# --- architecture ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uname", "arch"),
    [("x86_64\n", "amd64"), ("aarch64\n", "arm64"), ("arm64", "arm64"), ("armv7l\n", "armhf"), ("i686\n", "i386"),
     ("ppc64le\n", "ppc64el"), ("s390x\n", "s390x"), ("riscv64\n", "riscv64")],
)
def test_parse_architecture(uname, arch):
    assert facts.parse_architecture(uname) == arch


@pytest.mark.parametrize("uname", ["", "mips\n", "x86_64 GNU/Linux"])
def test_unknown_architecture(uname):
    with pytest.raises(FactError, match="unrecognised architecture from `uname -m`"):
        facts.parse_architecture(uname)


# --- docker ----------------------------------------------------------------------------------

DPKG_DOCKER_IO = """\
Package: docker.io
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 130000
Maintainer: Debian Go Packaging Team
Architecture: amd64
Version: 20.10.24+dfsg1-1+b3
Depends: adduser, containerd (>= 1.4~)
Description: Linux container runtime
 Docker complements kernel namespacing with a high-level API which operates at
 .
 Status: this continuation line must not be read as a field
"""
DPKG_DOCKER_CE_REMOVED = """\
Package: docker-ce
Status: deinstall ok config-files
Version: 5:26.1.3-1~debian.12~bookworm
Conffiles:
 /etc/init.d/docker 1234
"""


@pytest.mark.parametrize(
    ("stdout", "code", "dpkg", "expected"),
    [
        ("/usr/bin/docker\n", 0, DPKG_DOCKER_IO, facts.DockerFacts("/usr/bin/docker", "docker.io", "20.10.24+dfsg1-1+b3")),
        ("", 1, "", facts.DockerFacts(None, None, None)),
        ("", 1, DPKG_DOCKER_CE_REMOVED, facts.DockerFacts(None, None, None)),  # removed, config files left
        ("/usr/local/bin/docker\n", 0, "", facts.DockerFacts("/usr/local/bin/docker", None, None)),  # by hand
        ("", 1, DPKG_DOCKER_CE_REMOVED + "\n" + DPKG_DOCKER_IO, facts.DockerFacts(None, "docker.io", "20.10.24+dfsg1-1+b3")),
        ("docker\n", 0, "", facts.DockerFacts(None, None, None)),  # an alias or function, not a binary
    ],
)
def test_docker_facts(stdout, code, dpkg, expected):
    result = facts.docker_facts(stdout, code, dpkg)
    assert result == expected
    assert result.installed is (expected.path is not None or expected.package is not None)


def test_parse_dpkg_status():
    packages = facts.parse_dpkg_status(DPKG_DOCKER_IO + "\n\n" + DPKG_DOCKER_CE_REMOVED)
    assert packages["docker.io"] == facts.PackageStatus("docker.io", "install", "installed", "20.10.24+dfsg1-1+b3")
    assert packages["docker-ce"].state == "config-files" and not packages["docker-ce"].installed
    assert facts.parse_dpkg_status("dpkg-query: package 'docker-ce' is not installed\n") == {}


@pytest.mark.parametrize(("stdout", "code", "path"), [("/usr/bin/docker\n", 0, "/usr/bin/docker"), ("", 1, None),
                                                       ("", 0, None), ("/usr/bin/docker\n", 127, None)])
def test_parse_command_v(stdout, code, path):
    assert facts.parse_command_v(stdout, code) == path


# --- systemd ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("comm", "pid1"), [("systemd\n", True), ("init\n", False), ("bash\n", False), ("tini", False),
                                            ("", False)])
def test_systemd_is_pid1(comm, pid1):
    assert facts.systemd_is_pid1(comm) is pid1


@pytest.mark.parametrize(
    ("stdout", "stderr", "state"),
    [
        ("running\n", "", "running"),
        ("degraded\n", "", "degraded"),
        ("starting\n", "", "starting"),
        ("offline\n", "", "offline"),
        ("", "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
             "Failed to connect to bus: Host is down\n", "absent"),
        ("", "sh: 1: systemctl: not found\n", "absent"),
    ],
)
def test_parse_system_running(stdout, stderr, state):
    assert facts.parse_system_running(stdout, stderr) == state


def test_parse_system_running_rejects_surprises():
    with pytest.raises(FactError, match="unexpected `systemctl is-system-running` output: 'banana'"):
        facts.parse_system_running("banana\n")


@pytest.mark.parametrize(
    ("comm", "running", "usable", "booting"),
    [
        ("systemd\n", "running\n", True, False),
        ("systemd\n", "degraded\n", True, False),
        ("systemd\n", "starting\n", False, True),
        ("init\n", "offline\n", False, False),
        ("bash\n", "", False, False),
    ],
)
def test_systemd_facts(comm, running, usable, booting):
    f = facts.systemd_facts(comm, running)
    assert (f.usable, f.booting) == (usable, booting)


# --- import rules ----------------------------------------------------------------------------

PROVISIONER = Path(__file__).resolve().parents[2] / "provisioner"
PURE_MODULES = ["facts.py", "hostkeys.py", "errors.py"]
PURE_ALLOWED = {"__future__", "dataclasses", "typing", "re", "shlex", "base64", "binascii", "hashlib", "hmac", "collections"}
FORBIDDEN_CALLS = {"open", "print", "input", "__import__", "exec", "eval", "compile", "breakpoint"}


def imported(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_modules_do_no_io(name):
    source = (PROVISIONER / name).read_text()
    assert [m for m in imported(source) if m.split(".")[0] not in PURE_ALLOWED and m != "shoal.provisioner.errors"] == []
    calls = {n.func.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert calls & FORBIDDEN_CALLS == set()


@pytest.mark.parametrize("path", sorted(PROVISIONER.rglob("*.py")), ids=lambda p: p.name)
def test_provisioner_imports_neither_manager_nor_agent(path):
    assert [m for m in imported(path.read_text()) if m.split(".")[0] in ("manager", "agent")] == []


# --- facts as objects: the commands steps run and the parser, in one place ----------------



def test_os_release_fact_reads_with_the_fallback_and_parses():
    f = facts.OS_RELEASE
    assert f.commands == ("cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release",)
    info = f.process([facts.Output('ID=debian\nVERSION_ID="12"\n')])
    assert (info.id, info.version_id) == ("debian", "12")


def test_os_release_fact_that_cannot_be_read_says_why_in_one_line():
    with pytest.raises(FactError, match="cannot read /etc/os-release: cat: no such file"):
        facts.OS_RELEASE.process([facts.Output("", "cat: no such file\n", 1)])


def test_machine_fact_keeps_uname_and_refuses_an_unknown_one():
    assert facts.MACHINE.commands == ("uname -m",)
    assert facts.MACHINE.process([facts.Output("x86_64\n")]) == "x86_64"
    with pytest.raises(FactError, match="unrecognised architecture"):
        facts.MACHINE.process([facts.Output("pdp11\n")])


def test_docker_fact_runs_command_v_and_dpkg():
    f = facts.DOCKER
    assert f.commands == ("command -v docker", "dpkg -s docker.io docker-ce moby-engine 2>/dev/null")
    assert f.process([facts.Output("/usr/bin/docker\n"), facts.Output("", "", 1)]).installed
    assert not f.process([facts.Output("", "", 1), facts.Output("", "", 1)]).installed


def test_systemd_fact_and_a_wrong_number_of_outputs():
    f = facts.SYSTEMD
    assert f.commands == ("cat /proc/1/comm", "systemctl is-system-running")
    assert f.process([facts.Output("systemd\n"), facts.Output("running\n")]).usable
    assert not f.process([facts.Output("sh\n"), facts.Output("", "System has not been booted with systemd", 1)]).usable
    with pytest.raises(FactError, match="2 outputs expected, got 1"):
        f.process([facts.Output("systemd\n")])
