"""One import name: the wheel installs only `shoal`, and no product code imports the top-level
folders by their own names (the checkout has its root on sys.path, so such an import would work
here and break in every installed copy)."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("manager", "agent", "protos", "pki", "etcd", "dns", "provisioner")
SOURCES = ("shoal", *PRODUCT, "ansible", "bench", "tests", "scripts")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # Built from a copy, so the checkout gets no build/ or egg-info from the test.
    src = tmp_path_factory.mktemp("src") / "shoal"
    skip = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "tests",
                                  "bench", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT, src, symlinks=True, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, timeout=120)
    (built,) = out.glob("shoal-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_has_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    tops = {n.split("/", 1)[0] for n in wheel.namelist() if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"shoal"}
    (top_level,) = [n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt")]
    assert wheel.read(top_level).decode().split() == ["shoal"]


def test_the_wheel_holds_every_package_under_shoal(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for pkg in PRODUCT:
        assert f"shoal/{pkg}/__init__.py" in names, pkg
    for module in ("shoal/etcd/client.py", "shoal/dns/zone.py", "shoal/dns/server.py",
                   "shoal/protos/shoal/v1/manager_pb2.py"):
        assert module in names


def test_the_wheel_carries_the_protos_and_their_stubs(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    protos = {n for n in names if n.endswith(".proto")}
    stubs = {n for n in names if n.endswith("_pb2.pyi")}
    on_disk = {f"shoal/{p.relative_to(ROOT)}" for p in (ROOT / "protos").rglob("*.proto")}
    assert protos == on_disk and protos
    assert {p.removesuffix(".proto") + "_pb2.pyi" for p in protos} == stubs


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_code_imports_a_product_folder_by_its_top_level_name() -> None:
    offenders = []
    for top in SOURCES:
        base = ROOT / top
        if not base.is_dir() or base.is_symlink():
            continue
        for path in base.rglob("*.py"):
            rel = path.relative_to(ROOT)
            if rel.parts[0] == "shoal" and len(rel.parts) > 2 and rel.parts[1] in PRODUCT:
                continue   # the same file through shoal/<pkg> -> ../<pkg>: read once, at its own path
            for line, name in _imports(path):
                if name.split(".", 1)[0] in PRODUCT:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offenders == []


def test_the_links_point_at_the_top_level_folders() -> None:
    for pkg in PRODUCT:
        link = ROOT / "shoal" / pkg
        assert link.is_symlink(), pkg
        assert link.readlink() == Path("..") / pkg
