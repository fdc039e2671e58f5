"""Plain, aligned tables (stable for scripts) and JSON output."""
from __future__ import annotations

import json
import sys
from typing import Iterable, Sequence

import click


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    rows = [list(map(str, r)) for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    for r in [list(headers), *rows]:
        click.echo("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())


def as_json(doc) -> None:
    json.dump(doc, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="Output format.",
)
