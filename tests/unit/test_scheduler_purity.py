"""The scheduler core stays pure: no module under manager/scheduler may reach for I/O.

Checked on the source with ast, so a forbidden import fails here even if nothing
imports that module yet.
"""

import ast
from pathlib import Path

import pytest

SCHEDULER = Path(__file__).resolve().parents[2] / "manager" / "scheduler"
ALLOWED_MODULES = frozenset(
    {"__future__", "dataclasses", "typing", "re", "fnmatch", "random", "heapq", "bisect", "collections", "math", "enum"}
)
# Builtins that do I/O or import behind the import statement's back.
FORBIDDEN_CALLS = frozenset({"open", "print", "input", "__import__", "exec", "eval", "compile", "breakpoint"})
MODULES = sorted(SCHEDULER.glob("*.py"))


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] not in ALLOWED_MODULES]
        elif isinstance(node, ast.ImportFrom):
            # Relative imports stay inside the scheduler package, which this test covers too.
            if node.level == 0 and (node.module or "").split(".")[0] not in ALLOWED_MODULES:
                found.append(node.module or "")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{node.func.id}()")
    return found


def test_the_package_is_there() -> None:
    names = {path.name for path in MODULES}
    assert {"__init__.py", "types.py", "constraints.py", "filters.py", "strategies.py", "place.py", "units.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_is_pure(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", ["os"]),
        ("import os.path", ["os.path"]),
        ("import re, socket", ["socket"]),
        ("from time import monotonic", ["time"]),
        ("import asyncio as aio", ["asyncio"]),
        ("from grpc import aio", ["grpc"]),
        ("import logging", ["logging"]),
        ("from manager.etcd import client", ["manager.etcd"]),
        ("def f():\n    import docker", ["docker"]),
        ("open('x')", ["open()"]),
        ("__import__('os')", ["__import__()"]),
        ("print('hi')", ["print()"]),
        # allowed
        ("import re\nfrom collections.abc import Mapping\nfrom dataclasses import dataclass", []),
        ("from . import types\nfrom .constraints import Constraint", []),
        ("from typing import TYPE_CHECKING\nimport heapq, math, random, fnmatch, enum", []),
    ],
)
def test_checker_catches(source: str, expected: list[str]) -> None:
    assert violations(source) == expected
