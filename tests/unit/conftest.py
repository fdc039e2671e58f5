"""Builders for the objects unit tests make again and again: plain functions with keyword
defaults, imported as `from tests.unit.conftest import node_snapshot, ...`. A test file whose
cases want other defaults says so once, in a thin wrapper or a functools.partial over these."""
from __future__ import annotations

from shoal.manager.scheduler import NodeSnapshot

MiB = 1 << 20
GiB = 1 << 30
CPU = 1_000_000_000


def node_snapshot(id: str = "n1", **overrides: object) -> NodeSnapshot:
    """A scheduler node: active, ready, 4 CPUs and 4 GiB, named after its id, no labels."""
    fields: dict[str, object] = dict(
        id=id,
        name=id,
        hostname=f"{id}.example",
        labels={},
        engine_labels={},
        availability="active",
        ready=True,
        nano_cpus=4 * CPU,
        memory=4 * GiB,
    )
    fields.update(overrides)
    return NodeSnapshot(**fields)  # type: ignore[arg-type]
