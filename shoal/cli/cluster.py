"""shoal cluster status"""
from __future__ import annotations

import click
from google.protobuf import json_format

from protos.shoal.v1 import manager_pb2
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json


@click.group("cluster")
def cluster_group():
    """The cluster's control plane."""


@cluster_group.command("status")
@FORMAT_OPTION
@pass_ctx
def cluster_status(ctx: Ctx, fmt: str):
    """Which manager answered, and which one leads."""
    st = ctx.stub().Status(manager_pb2.StatusRequest(), timeout=CALL_TIMEOUT)
    if fmt == "json":
        as_json(json_format.MessageToDict(st, preserving_proto_field_name=True,
                                          always_print_fields_with_no_presence=True))
        return
    click.echo(f"manager {st.id} at {st.address}{' (leader)' if st.leader else ''}")
    click.echo(f"leader  {st.leader_id or '-'} at {st.leader_address or '-'} (term {st.term})")
