"""`-v/--volume` and `--mount` on `shoal run` and `shoal service create/update`. On update, either
flag given replaces the task's mounts (as --constraint replaces its list)."""
from __future__ import annotations

import click

from shoal.cli.params import converter
from shoal.protos.shoal.v1 import types_pb2
from shoal.run_flags import parse_mount, parse_volume

OPTIONS = [
    click.option("-v", "--volume", multiple=True, metavar="[NAME|/HOST/PATH:]TARGET[:ro]", callback=converter(parse_volume),
                 help="A named volume (kept on its node: the container goes where its data is), a bind mount of an absolute path on the node, or an anonymous volume."),
    click.option("--mount", multiple=True, metavar="type=volume|bind|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..]",
                 callback=converter(parse_mount), help="A mount, in Docker's long form."),
]


def volume_options(fn):
    for decorator in reversed(OPTIONS):
        fn = decorator(fn)
    return fn


def apply(spec: types_pb2.ContainerSpec, volume, mount) -> None:
    if not volume and not mount:
        return
    del spec.mounts[:]
    for kind, source, target, readonly in volume or ():
        spec.mounts.append(types_pb2.Mount(type=kind, source=source, target=target, readonly=readonly,
                                           create_host_path=kind == "bind"))
    for kind, source, target, readonly, size in mount or ():
        spec.mounts.append(types_pb2.Mount(type=kind, source=source, target=target, readonly=readonly,
                                           tmpfs_size_bytes=size))
