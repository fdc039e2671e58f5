"""shoal cluster status | init | join-token"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import click
from google.protobuf import json_format

from shoal.protos.shoal.v1 import manager_pb2
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json
from shoal.client import context_path, write_context
from shoal.pki.ca import digest as ca_digest


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


@cluster_group.command("init")
@click.option("--state-dir", default="/var/lib/shoal/manager", show_default=True, type=click.Path(path_type=Path),
              help="The manager's state dir: the CA key stays here (mode 0600). Made 0700 if missing; refused if "
                   "another user owns it or group or others can write in it.")
@click.option("--name", "cluster_name", default="shoal", show_default=True, help="Cluster name (in the CA's subject).")
@click.option("--manager-address", default="127.0.0.1:7000", show_default=True, metavar="HOST:PORT",
              help="Where the CLI will reach this manager (written to the context).")
@click.option("--etcd-server-ip", metavar="IP[,IP...]", help="Also write etcd-server.pem/.key for etcd at these addresses.")
def cluster_init(state_dir: Path, cluster_name: str, manager_address: str, etcd_server_ip: str | None):
    """Create the cluster CA, this manager's certificate and the admin certificate (idempotent)."""
    from shoal.pki.cluster_files import InitError, context_doc, create_files, etcd_server_credentials

    admin_dir = context_path().parent
    ips = tuple(i.strip() for i in (etcd_server_ip or "").split(",") if i.strip())
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise click.BadParameter(f'"{ip}" is not an IP address', param_hint="--etcd-server-ip") from None
    try:
        created = create_files(state_dir, admin_dir, cluster=cluster_name)
        if ips:
            etcd_server_credentials(created.authority, state_dir, ips)
    except (InitError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    write_context(context_doc(manager_address, admin_dir))
    click.echo(f"created: {', '.join(created.new)}" if created.new else "nothing to do: the cluster files exist")
    click.echo(f"CA digest {ca_digest(created.authority.pem)}; CA key {state_dir / 'ca.key'} (keep it secret)")
    click.echo(f"admin certificate in {admin_dir}; context {context_path()}")
    if ips:
        click.echo(f"etcd: --cert-file {state_dir / 'etcd-server.pem'} --key-file {state_dir / 'etcd-server.key'} "
                   f"--trusted-ca-file {state_dir / 'ca.pem'} --client-cert-auth")
    click.echo(f"next: shoal manager --state-dir {state_dir} --etcd https://ETCD:2379 --listen {manager_address}; "
               "then `shoal cluster join-token agent`")


@cluster_group.command("join-token")
@click.argument("role", type=click.Choice(["agent", "manager"]))
@click.option("--rotate", is_flag=True, help="Replace the token; hosts already joined keep working.")
@click.option("-q", "--quiet", is_flag=True, help="Print the token only.")
@pass_ctx
def cluster_join_token(ctx: Ctx, role: str, rotate: bool, quiet: bool):
    """Print (or rotate) the token a new agent or manager joins with."""
    reply = ctx.stub().JoinToken(manager_pb2.JoinTokenRequest(role=role, rotate=rotate), timeout=CALL_TIMEOUT)
    if quiet:
        click.echo(reply.token)
        return
    if rotate:
        click.echo(f"the {role} join token was rotated; the old one no longer joins")
    flag = "agent --manager MANAGER:PORT" if role == "agent" else "manager --join MANAGER:PORT"
    click.echo(f"SHOAL_JOIN_TOKEN={reply.token} shoal {flag} ...")
