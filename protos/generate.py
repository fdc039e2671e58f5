"""Regenerate the committed Python code of every .proto under protos/.

Run from anywhere: `python -m shoal.protos.generate` (or `make protos`).
`--out DIR` writes into DIR instead, so a test can diff it against the tree.

The files are named to protoc through the `shoal/protos` link, so the generated modules import
each other as `shoal.protos...`, the name they are installed under.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc
import grpc_tools

ROOT = Path(__file__).resolve().parent.parent


def proto_files() -> list[Path]:
    return sorted(Path("shoal") / p.relative_to(ROOT) for p in (ROOT / "protos").rglob("*.proto"))


def generate(out: Path) -> None:
    files = [str(p) for p in proto_files()]
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repository)")
    ns = parser.parse_args(argv)
    generate(ns.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
