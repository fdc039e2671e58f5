"""Fills a directory with the agent's bundle for the Ansible role (`shoal_agent_bundle_dir`).

    .venv/bin/python ansible/bundle.py DIR [PYTHON_VERSION [CPU]]     # default: 3.11 x86_64

DIR gets the dependency wheels (from the cache `make setup` fills, or `$SHOAL_WHEELHOUSE`; pip
downloads them on a cache miss), this checkout's own wheel, and `bundle.sha256`: the digest
`shoal machine create` records on a host (provisioner.wheelhouse: names and contents of the
wheels), and `bundle.target` ("PYTHON_VERSION CPU", which the role checks against each host).
The role uploads and installs the wheels only where /opt/shoal/bundle.sha256 differs. Wheels of
an older bundle left in DIR are removed. Prints the digest.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this checkout's provisioner

from shoal.provisioner import wheelhouse  # noqa: E402

MARK = "bundle.sha256"
TARGET = "bundle.target"


def fill(directory: Path, python_version: str = "3.11", machine: str = "x86_64") -> wheelhouse.Bundle:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shoal-bundle-") as work:
        b = wheelhouse.bundle(python_version, machine, Path(work))
        names = {w.name for w in b.wheels}
        for old in directory.glob("*.whl"):
            if old.name not in names:
                old.unlink()
        for w in b.wheels:
            target = directory / w.name
            if not target.exists() or wheelhouse.content_digest(target) != wheelhouse.content_digest(w):
                tmp = directory / f".{w.name}.tmp"
                shutil.copyfile(w, tmp)
                os.replace(tmp, target)
        for name, text in ((TARGET, f"{python_version} {machine}\n"), (MARK, b.digest + "\n")):
            tmp = directory / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, directory / name)
    return wheelhouse.Bundle(directory, directory / b.agent_wheel.name,
                             tuple(directory / w.name for w in b.wheels), b.digest)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        raise SystemExit(0 if len(sys.argv) > 1 else 2)
    version = sys.argv[2] if len(sys.argv) > 2 else "3.11"
    machine = sys.argv[3] if len(sys.argv) > 3 else "x86_64"
    try:
        b = fill(Path(sys.argv[1]), version, machine)
    except wheelhouse.BundleError as exc:
        raise SystemExit(f"bundle: {exc}") from None
    print(b.digest)


if __name__ == "__main__":
    main()
