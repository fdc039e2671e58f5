"""shoal stack deploy | ls | ps | rm"""
from __future__ import annotations

from pathlib import Path

import click

from shoal.protos.shoal.v1 import manager_pb2
from shoal.cli.image import WITH_REGISTRY_AUTH, registry_auth_for
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.cli.service import print_services, print_tasks
from shoal.cli.secret_env import read_kv_file
from shoal.stackfile import StackFileError, parse_stack


@click.group("stack")
def stack_group():
    """Deploy groups of services from a Compose file."""


@stack_group.command("deploy")
@click.option("-c", "--compose-file", "file", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Compose file.")
@click.option("--prune", is_flag=True, help="Remove the stack's services the file no longer has.")
@WITH_REGISTRY_AUTH
@click.argument("name")
@pass_ctx
def stack_deploy(ctx: Ctx, file: Path, prune: bool, with_registry_auth: bool, name: str):
    """Create or update a stack; unchanged services are left alone."""
    try:
        text = file.read_text()
    except OSError as exc:
        raise click.BadParameter(f"{file}: {exc.strerror}", param_hint="--compose-file") from None
    try:
        # env_file names are relative to the stack file's directory, as in Compose.
        parsed = parse_stack(text, source=str(file), stack=name,
                             read_env_file=lambda env_file: read_kv_file(str(file.parent / env_file)))
    except StackFileError as exc:
        raise click.UsageError(str(exc)) from None   # a bad file is bad input: exit 2
    for warning in parsed.warnings:
        click.echo(f"warning: {warning}", err=True)
    reply = ctx.stub().DeployStack(manager_pb2.DeployStackRequest(
        name=name, services=parsed.services, prune=prune,
        registry_auth=list({a.server: a for image in sorted({s.task.image for s in parsed.services})
                            for a in registry_auth_for(image, with_registry_auth)}.values())),
                                   timeout=CALL_TIMEOUT * 2)
    for verb, names in (("created", reply.created), ("updated", reply.updated),
                        ("unchanged", reply.unchanged), ("removed", reply.removed)):
        for n in names:
            click.echo(f"{verb} {n}")


@stack_group.command("ls")
@FORMAT_OPTION
@pass_ctx
def stack_ls(ctx: Ctx, fmt: str):
    """List stacks."""
    stacks = ctx.stub().ListStacks(manager_pb2.ListStacksRequest(), timeout=CALL_TIMEOUT).stacks
    if fmt == "json":
        as_json([{"name": s.name, "services": s.services} for s in stacks])
        return
    table(["NAME", "SERVICES"], [[s.name, s.services] for s in stacks])


@stack_group.command("services")
@FORMAT_OPTION
@click.argument("name")
@pass_ctx
def stack_services(ctx: Ctx, fmt: str, name: str):
    """List a stack's services."""
    print_services(ctx.stub().ListServices(manager_pb2.ListServicesRequest(stack=name), timeout=CALL_TIMEOUT).services, fmt)


@stack_group.command("ps")
@FORMAT_OPTION
@click.argument("name")
@pass_ctx
def stack_ps(ctx: Ctx, fmt: str, name: str):
    """List the tasks of a stack's services."""
    stub = ctx.stub()
    services = stub.ListServices(manager_pb2.ListServicesRequest(stack=name), timeout=CALL_TIMEOUT).services
    if not services:
        raise click.ClickException(f'stack "{name}": no such stack')
    tasks = []
    for s in services:
        tasks.extend(stub.ServiceTasks(manager_pb2.ServiceTasksRequest(ref=s.spec.name), timeout=CALL_TIMEOUT).containers)
    print_tasks(tasks, fmt)


@stack_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@pass_ctx
def stack_rm(ctx: Ctx, names):
    """Remove stacks and all their services."""
    for name in names:
        reply = ctx.stub().RemoveStack(manager_pb2.StackRef(name=name), timeout=CALL_TIMEOUT)
        for n in reply.removed:
            click.echo(f"removed {n}")
