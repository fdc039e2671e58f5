"""shoal node ls | inspect | update"""
from __future__ import annotations

import click
from google.protobuf import json_format

from shoal.protos.shoal.v1 import manager_pb2
from shoal.protos.spec_rules import AVAILABILITIES
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.units import format_bytes, parse_key_value


def node_dict(n) -> dict:
    return json_format.MessageToDict(n, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


@click.group("node")
def node_group():
    """Manage the cluster's nodes."""


@node_group.command("ls")
@FORMAT_OPTION
@pass_ctx
def node_ls(ctx: Ctx, fmt: str):
    """List the live nodes (a node the cluster has not bound a name to yet is listed by its id, as unbound)."""
    nodes = ctx.stub().ListNodes(manager_pb2.ListNodesRequest(), timeout=CALL_TIMEOUT).nodes
    if fmt == "json":
        as_json([node_dict(n) for n in nodes])
        return
    # A note (a name taken by another node, a subnet refused) is shown only when a node has one.
    notes = any(n.note for n in nodes)
    table(
        ["ID", "NAME", "ADDRESS", "STATE", "AVAILABILITY", "CONTAINERS", "CPUS", "MEMORY", "LABELS"]
        + (["NOTE"] if notes else []),
        [
            [
                n.id[:12], n.name or "-", n.address or "-", n.state, n.availability, n.containers,
                f"{n.reserved_nano_cpus / 1e9:g}/{n.description.nano_cpus / 1e9:g}",
                f"{format_bytes(n.reserved_memory_bytes)}/{format_bytes(n.description.memory_bytes)}",
                ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())) or "-",
            ] + ([n.note or "-"] if notes else [])
            for n in nodes
        ],
    )


@node_group.command("inspect")
@click.argument("node")
@pass_ctx
def node_inspect(ctx: Ctx, node: str):
    """Show everything about one node (JSON)."""
    n = ctx.stub().InspectNode(manager_pb2.NodeRef(ref=node), timeout=CALL_TIMEOUT)
    as_json(node_dict(n))


def _label(ctx, param, values):
    out = {}
    for v in values:
        try:
            k, val = parse_key_value(v)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        out[k] = val
    return out


@node_group.command("update")
@click.option("--label-add", multiple=True, callback=_label, metavar="K=V", help="Add or change a label.")
@click.option("--label-rm", multiple=True, metavar="K", help="Remove a label.")
@click.option("--availability", type=click.Choice(AVAILABILITIES), help="Scheduling availability.")
@click.argument("node")
@pass_ctx
def node_update(ctx: Ctx, label_add, label_rm, availability, node):
    """Change a node's labels or availability."""
    if not (label_add or label_rm or availability):
        raise click.UsageError("nothing to update: give --label-add, --label-rm or --availability")
    n = ctx.stub().UpdateNode(
        manager_pb2.UpdateNodeRequest(ref=node, label_add=label_add, label_rm=list(label_rm),
                                      availability=availability or ""),
        timeout=CALL_TIMEOUT,
    )
    click.echo(n.id)


@node_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Also when the node is still up.")
@click.argument("node")
@pass_ctx
def node_rm(ctx: Ctx, force: bool, node: str):
    """Remove a node: revoke its certificates and its etcd identity; its tasks are placed elsewhere."""
    reply = ctx.stub().RemoveNode(manager_pb2.RemoveNodeRequest(ref=node, force=force), timeout=CALL_TIMEOUT)
    click.echo(reply.id)
