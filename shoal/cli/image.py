"""shoal image ls/pull/load/rm/prune (per node, across the cluster), shoal login/logout."""
from __future__ import annotations

import sys

import click

from shoal.cli import registry_login
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.image_text import image_rows, progress_line
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.image_refs import registry_of
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES
from shoal.protos.shoal.v1 import manager_pb2, types_pb2

STREAM_TIMEOUT = 3600.0
WITH_REGISTRY_AUTH = click.option("--with-registry-auth", is_flag=True,
                                  help="Send this context's `shoal login` credentials for the image's registry to the "
                                       "nodes that pull it (held in memory only).")


def registry_auth_for(image: str, wanted: bool) -> list[types_pb2.RegistryAuth]:
    """--with-registry-auth: the stored credentials for the registry the image names (none stored:
    nothing is sent, and the registry's refusal says so, as with docker)."""
    if not wanted or not image:
        return []
    server = registry_of(image)
    try:
        found = registry_login.lookup(server)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if found is None:
        return []
    return [types_pb2.RegistryAuth(server=server, username=found[0], password=found[1])]


def _follow(events, what: str) -> None:
    failed = []
    for event in events:
        line = progress_line(event)
        if line:
            click.echo(line)
        if event.done and event.error:
            failed.append(event.node_name or event.node_id)
    if failed:
        raise click.ClickException(f"{what} failed on {', '.join(sorted(set(failed)))}")


@click.group("image")
def image_group():
    """Images on the nodes: each node's engine holds its own."""


@image_group.command("ls")
@click.option("--node", default="", metavar="NODE", help="Only this node's images.")
@click.option("-a", "--all", "all_", is_flag=True, help="Show intermediate images too.")
@FORMAT_OPTION
@pass_ctx
def image_ls(ctx: Ctx, node: str, all_: bool, fmt: str):
    """List images, grouped across nodes (NODES: which nodes have each)."""
    reply = ctx.stub().ListImages(manager_pb2.ListImagesRequest(node=node, all=all_), timeout=CALL_TIMEOUT)
    if fmt == "json":
        from google.protobuf import json_format   # here: `run` imports this module and must not pay for it
        as_json([json_format.MessageToDict(i, preserving_proto_field_name=True) for i in reply.images])
    else:
        table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "NODES"], image_rows(reply.images))
    for problem in reply.unreachable:
        click.echo(f"shoal: {problem}", err=True)


@image_group.command("pull")
@click.option("--node", default="", metavar="NODE", help="Only on this node (default: every ready node).")
@click.option("--platform", default="", metavar="OS/ARCH", help="Pull this platform's image.")
@WITH_REGISTRY_AUTH
@click.argument("image")
@pass_ctx
def image_pull(ctx: Ctx, node: str, platform: str, with_registry_auth: bool, image: str):
    """Pull an image on every node (or one): one line per node as it finishes."""
    req = manager_pb2.PullImageRequest(image=image, node=node, platform=platform,
                                       registry_auth=registry_auth_for(image, with_registry_auth))
    _follow(ctx.stub().PullImage(req, timeout=STREAM_TIMEOUT), "pull")


def _chunks(stream, nodes):
    yield manager_pb2.LoadImageIn(to=manager_pb2.LoadTarget(nodes=list(nodes)))
    while data := stream.read(ARCHIVE_CHUNK_BYTES):
        yield manager_pb2.LoadImageIn(chunk=types_pb2.ArchiveChunk(data=data))


@image_group.command("load")
@click.option("-i", "--input", "input_", default="", metavar="FILE", help="Read the tar from FILE (default: stdin).")
@click.option("--node", "nodes", multiple=True, metavar="NODE", help="Load on this node (repeatable; default: every ready node).")
@pass_ctx
def image_load(ctx: Ctx, input_: str, nodes):
    """Load images from a tar (docker save's) on the nodes; the tar is read once."""
    if not input_ and sys.stdin.isatty():
        raise click.UsageError("-i: no file given and stdin is a terminal (docker's rule: pipe the tar or give -i)")
    try:
        stream = open(input_, "rb") if input_ else sys.stdin.buffer
    except OSError as exc:
        raise click.BadParameter(f"{input_}: {exc.strerror}", param_hint="-i") from None
    with stream:
        _follow(ctx.stub().LoadImage(_chunks(stream, nodes), timeout=STREAM_TIMEOUT), "load")


@image_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Also when containers use it, or it has several tags.")
@click.option("--node", default="", metavar="NODE", help="Only on this node (default: every node that has it).")
@click.argument("images", nargs=-1, required=True)
@pass_ctx
def image_rm(ctx: Ctx, force: bool, node: str, images):
    """Remove images from the nodes."""
    failed = False
    stub = ctx.stub()
    for image in images:
        try:
            reply = stub.RemoveImage(manager_pb2.RemoveImageRequest(image=image, node=node, force=force),
                                     timeout=CALL_TIMEOUT * 2)
        except Exception as exc:   # grpc.RpcError: one line, then the next image
            from shoal.cli.context import rpc_error_message
            click.echo(f"shoal: {image}: {rpc_error_message(exc)}", err=True)  # type: ignore[arg-type]
            failed = True
            continue
        for line in reply.removed:
            click.echo(line)
        for line in reply.errors:
            click.echo(f"shoal: {line}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@image_group.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every unused image, not only dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask.")
@click.option("--node", default="", metavar="NODE", help="Only on this node.")
@pass_ctx
def image_prune(ctx: Ctx, all_: bool, force: bool, node: str):
    """Remove unused images on every node."""
    if not force:
        what = "all images without at least one container" if all_ else "all dangling images"
        if not sys.stdin.isatty() or not click.confirm(f"WARNING! This will remove {what} on every node. Continue?"):
            raise click.ClickException("prune: not confirmed (give -f)")
    reply = ctx.stub().PruneImages(manager_pb2.PruneImagesRequest(all=all_, node=node), timeout=STREAM_TIMEOUT)
    for line in reply.deleted:
        click.echo(line)
    from shoal.cli.image_text import human_size
    click.echo(f"Total reclaimed space: {human_size(reply.reclaimed_bytes)}")
    for line in reply.errors:
        click.echo(f"shoal: {line}", err=True)
    if reply.errors:
        sys.exit(1)


@click.command("login")
@click.option("-u", "--username", default="", help="Username.")
@click.option("-p", "--password", default="", help="Password (prefer --password-stdin: argv is visible to others).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.argument("registry")
def login(username: str, password: str, password_stdin: bool, registry: str):
    """Store a registry's credentials in this context (0600), for --with-registry-auth."""
    if password and password_stdin:
        raise click.UsageError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise click.UsageError("--username: required with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    if not password:
        raise click.UsageError("--password: must not be empty")
    try:
        key = registry_login.store(registry, username, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    # Stored, not checked against the registry: the nodes that pull are the ones that reach it.
    click.echo(f"Credentials for {key} stored in {registry_login.path()}")


@click.command("logout")
@click.argument("registry")
def logout(registry: str):
    """Forget a registry's credentials."""
    try:
        found = registry_login.forget(registry)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Removing login credentials for {registry}" if found else f"Not logged in to {registry}")
