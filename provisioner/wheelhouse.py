"""The agent's bundle: this project's wheel plus every dependency as a wheel for the host's Python
and CPU, so the host installs with `pip install --no-index` and needs no network of its own.

Dependency wheels are downloaded once per (Python version, CPU, requirements) into a cache
(`~/.shoal/cache/wheels/<key>/`, or `$SHOAL_WHEELHOUSE`), which `make setup` fills for the test
hosts; the project's own wheel is built from this checkout each time (about 2 s, offline).
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from shoal.provisioner.errors import ProvisionerError

DIST = "shoal"
PIP_TIMEOUT = 600
# manylinux tags pip may take for each CPU Debian/Ubuntu hosts report (`uname -m`).
PLATFORMS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"),
    "aarch64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"),
}


class BundleError(ProvisionerError):
    pass


@dataclass(frozen=True)
class Bundle:
    directory: Path
    agent_wheel: Path
    wheels: tuple[Path, ...]       # everything to upload, the agent's wheel included
    digest: str                    # over names and contents: "already installed" is this digest

    @property
    def version(self) -> str:
        return self.agent_wheel.name.split("-")[1]


def requirements() -> list[str]:
    """The runtime requirements of the installed `shoal` distribution (no extras)."""
    reqs = importlib.metadata.requires(DIST) or []
    return sorted(r for r in reqs if "extra ==" not in r.replace("extra==", "extra =="))


def cache_root() -> Path:
    env = os.environ.get("SHOAL_WHEELHOUSE")
    if env:
        return Path(env)
    base = Path(os.environ.get("SHOAL_CONFIG_DIR", Path.home() / ".shoal"))
    return base / "cache" / "wheels"


def cache_key(python_version: str, machine: str, reqs: list[str]) -> str:
    text = "\n".join([python_version, machine, *reqs])
    return f"cp{python_version.replace('.', '')}-{machine}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _pip(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"pip {args[0]} failed: {last}")


def dependencies(python_version: str, machine: str, root: Path | None = None) -> Path:
    """The directory of dependency wheels for this target, downloaded on the first use only."""
    if machine not in PLATFORMS:
        raise BundleError(f"no wheels for CPU {machine!r} (supported: {', '.join(PLATFORMS)})")
    reqs = requirements()
    target = (root or cache_root()) / cache_key(python_version, machine, reqs)
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        platforms = [arg for p in PLATFORMS[machine] for arg in ("--platform", p)]
        _pip("download", "-q", "--only-binary=:all:", "--dest", str(tmp), "--python-version", python_version,
             "--implementation", "cp", *platforms, *reqs)
        (tmp / ".complete").write_text("\n".join(reqs) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def project_root() -> Path:
    """The checkout this CLI runs from (its wheel is what hosts get)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").exists():
        raise BundleError(f"{root}: not a checkout of Shoal (no pyproject.toml); install Shoal from its source tree")
    return root


def agent_wheel(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob(f"{DIST}-*.whl"):
        old.unlink()
    root = project_root()
    # setuptools builds inside the checkout (build/, *.egg-info): two `machine create` run at once
    # must take turns. The lock is on the checkout's directory, whoever's cache they use.
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dest), str(root))
    finally:
        os.close(fd)
    built = sorted(dest.glob(f"{DIST}-*.whl"))
    if len(built) != 1:
        raise BundleError(f"building the agent wheel left {len(built)} wheels in {dest}")
    return built[0]


def bundle(python_version: str, machine: str, work: Path, root: Path | None = None) -> Bundle:
    deps = dependencies(python_version, machine, root)
    own = agent_wheel(work)
    wheels = tuple(sorted(deps.glob("*.whl"))) + (own,)
    h = hashlib.sha256()
    for w in wheels:
        h.update(w.name.encode())
        h.update(content_digest(w))
    return Bundle(work, own, wheels, h.hexdigest())


def content_digest(wheel: Path) -> bytes:
    """What a wheel contains, not when it was zipped: a rebuilt but identical agent wheel is the same
    bundle, so `machine provision` on a provisioned host installs nothing."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            if info.filename.endswith(".dist-info/RECORD"):
                continue
            h.update(info.filename.encode() + b"\0")
            h.update(hashlib.sha256(z.read(info)).digest())
    return h.digest()


def main() -> None:
    """`python -m shoal.provisioner.wheelhouse [PYTHON_VERSION [CPU]]`: fill the cache (make setup does)."""
    version = sys.argv[1] if len(sys.argv) > 1 else f"{sys.version_info[0]}.{sys.version_info[1]}"
    machine = sys.argv[2] if len(sys.argv) > 2 else os.uname().machine
    print(dependencies(version, machine))


if __name__ == "__main__":
    main()
