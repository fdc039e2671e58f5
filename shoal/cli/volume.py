"""shoal volume create | ls | inspect | rm"""
from __future__ import annotations

import click
from google.protobuf import json_format

from shoal.protos.shoal.v1 import manager_pb2
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.cli.params import converter, for_each
from shoal.units import parse_key_value


def volume_dict(v) -> dict:
    return json_format.MessageToDict(v, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


@click.group("volume")
def volume_group():
    """Named volumes: each lives on one node, and the containers that mount it go there."""


@volume_group.command("create")
@click.option("--driver", default="local", show_default=True, type=click.Choice(["local"]))
@click.option("--label", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Volume label.")
@click.option("--node", default="", metavar="NODE", help="The node that holds it (default: that of its first container).")
@click.option("--opt", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Driver option (type, device, o).")
@click.argument("name")
@pass_ctx
def volume_create(ctx: Ctx, driver: str, label, node: str, opt, name: str):
    """Create a volume."""
    v = ctx.stub().CreateVolume(manager_pb2.CreateVolumeRequest(
        name=name, driver=driver, labels=dict(label or []), node=node, options=dict(opt or [])), timeout=CALL_TIMEOUT)
    click.echo(v.name)


@volume_group.command("ls")
@FORMAT_OPTION
@pass_ctx
def volume_ls(ctx: Ctx, fmt: str):
    """List volumes."""
    vols = ctx.stub().ListVolumes(manager_pb2.ListVolumesRequest(), timeout=CALL_TIMEOUT).volumes
    if fmt == "json":
        as_json([volume_dict(v) for v in vols])
        return
    # SIZE is left out: the engines' sizes cost a walk of every volume's files (docker system df -v).
    table(["NAME", "DRIVER", "NODE", "USED BY"],
          [[v.name, v.driver, v.node_name or "(first use)", ",".join(v.used_by)] for v in vols])


@volume_group.command("inspect")
@click.argument("volume")
@pass_ctx
def volume_inspect(ctx: Ctx, volume: str):
    """Show a volume (JSON)."""
    as_json(volume_dict(ctx.stub().InspectVolume(manager_pb2.VolumeRef(name=volume), timeout=CALL_TIMEOUT)))


@volume_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Also when stopped containers still name it (none may run).")
@click.argument("volumes", nargs=-1, required=True)
@pass_ctx
def volume_rm(ctx: Ctx, force: bool, volumes):
    """Remove volumes and their data."""
    stub = ctx.stub()
    for_each(volumes, lambda name: stub.RemoveVolume(manager_pb2.RemoveVolumeRequest(name=name, force=force),
                                                     timeout=CALL_TIMEOUT * 2), str)
