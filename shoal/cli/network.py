"""shoal network create | ls | inspect | rm"""
from __future__ import annotations

import click
from google.protobuf import json_format

from shoal.protos.shoal.v1 import manager_pb2
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.cli.params import for_each


def network_dict(n) -> dict:
    return json_format.MessageToDict(n, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


@click.group("network")
def network_group():
    """Overlay networks that span the hosts (VXLAN)."""


@network_group.command("create")
@click.option("--driver", default="overlay", show_default=True, type=click.Choice(["overlay"]))
@click.option("--subnet", default="", metavar="CIDR", help="Default: the next free /24 of 10.240.0.0/12.")
@click.argument("name")
@pass_ctx
def network_create(ctx: Ctx, driver: str, subnet: str, name: str):
    """Create a network."""
    net = ctx.stub().CreateNetwork(manager_pb2.CreateNetworkRequest(name=name, driver=driver, subnet=subnet),
                                   timeout=CALL_TIMEOUT)
    click.echo(net.id)


@network_group.command("ls")
@FORMAT_OPTION
@pass_ctx
def network_ls(ctx: Ctx, fmt: str):
    """List networks."""
    nets = ctx.stub().ListNetworks(manager_pb2.ListNetworksRequest(), timeout=CALL_TIMEOUT).networks
    if fmt == "json":
        as_json([network_dict(n) for n in nets])
        return
    table(["ID", "NAME", "DRIVER", "SUBNET", "VNI", "CONTAINERS"],
          [[n.id[:12], n.name, n.driver, n.subnet, n.vni, n.containers] for n in nets])


@network_group.command("inspect")
@click.argument("network")
@pass_ctx
def network_inspect(ctx: Ctx, network: str):
    """Show a network (JSON)."""
    as_json(network_dict(ctx.stub().InspectNetwork(manager_pb2.NetworkRef(ref=network), timeout=CALL_TIMEOUT)))


@network_group.command("rm")
@click.argument("networks", nargs=-1, required=True)
@pass_ctx
def network_rm(ctx: Ctx, networks):
    """Remove unused networks."""
    stub = ctx.stub()
    for_each(networks, lambda ref: stub.RemoveNetwork(manager_pb2.NetworkRef(ref=ref), timeout=CALL_TIMEOUT), str)
