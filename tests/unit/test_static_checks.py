"""The checks a reviewer would run, run by `make test`: the dependency rule (import-linter
contracts in pyproject.toml), ruff's lint and mypy over the pure core. Each prints what it found."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed in {BIN} (make setup installs the dev extra)")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_dependency_rule_holds() -> None:
    r = run("lint-imports", "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout and r.stdout.count("KEPT") >= 3, r.stdout


def test_ruff_finds_nothing() -> None:
    r = run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_passes_on_the_pure_core() -> None:
    r = run("mypy", "--no-incremental", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
