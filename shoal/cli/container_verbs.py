"""shoal start | restart | kill | pause | unpause | wait | port | top | stats | cp | rename"""
from __future__ import annotations

import sys

import click

from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import as_json, table
from shoal.cli.params import for_each
from shoal.cli.verb_text import STATS_TITLES, parse_cp, parse_private_port, port_lines, stats_json, stats_row
from shoal.protos.shoal.v1 import manager_pb2


def _each(containers, call) -> None:
    for_each(containers, call, str)


@click.command("start")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def start(ctx: Ctx, containers):
    """Start stopped containers (plain ones; services start their own tasks)."""
    stub = ctx.stub()
    _each(containers, lambda ref: stub.StartContainer(manager_pb2.ContainerRef(ref=ref), timeout=CALL_TIMEOUT * 2))


@click.command("restart")
@click.option("-t", "--time", "grace", type=click.IntRange(1, 3600), help="Seconds to wait before killing (default: the container's --stop-timeout, else 10).")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def restart(ctx: Ctx, grace: int, containers):
    """Restart containers."""
    stub = ctx.stub()
    _each(containers, lambda ref: stub.RestartContainer(
        manager_pb2.StopRequest(ref=ref, timeout_seconds=grace or 0), timeout=CALL_TIMEOUT * 2 + (grace or 3600)))


@click.command("kill")
@click.option("-s", "--signal", default="", metavar="SIG", help="Signal to send (default KILL): a name (USR1, SIGHUP) or a number.")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def kill(ctx: Ctx, signal: str, containers):
    """Send a signal to containers' main process."""
    stub = ctx.stub()
    _each(containers, lambda ref: stub.KillContainer(manager_pb2.KillRequest(ref=ref, signal=signal),
                                                     timeout=CALL_TIMEOUT * 2))


@click.command("pause")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def pause(ctx: Ctx, containers):
    """Suspend every process of containers."""
    stub = ctx.stub()
    _each(containers, lambda ref: stub.PauseContainer(manager_pb2.ContainerRef(ref=ref), timeout=CALL_TIMEOUT))


@click.command("unpause")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def unpause(ctx: Ctx, containers):
    """Resume paused containers."""
    stub = ctx.stub()
    _each(containers, lambda ref: stub.UnpauseContainer(manager_pb2.ContainerRef(ref=ref), timeout=CALL_TIMEOUT))


@click.command("wait")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def wait(ctx: Ctx, containers):
    """Block until containers stop, then print their exit codes (one line each)."""
    stub = ctx.stub()
    codes: dict[str, int] = {}

    def one(ref: str) -> None:
        codes[ref] = stub.Wait(manager_pb2.ContainerRef(ref=ref), timeout=None).exit_code

    for_each(containers, one, lambda ref: str(codes[ref]))


@click.command("port")
@click.argument("container")
@click.argument("private", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
@pass_ctx
def port(ctx: Ctx, container: str, private: str | None):
    """List a container's published ports, or the host side of one."""
    try:
        wanted = parse_private_port(private) if private else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PRIVATE_PORT") from None
    c = ctx.stub().InspectContainer(manager_pb2.ContainerRef(ref=container), timeout=CALL_TIMEOUT).container
    lines = port_lines(c.status.ports or c.spec.ports, wanted)
    if wanted and not lines:
        raise click.ClickException(f"no public port '{wanted[0]}/{wanted[1]}' published for {c.name}")
    for line in lines:
        click.echo(line)


@click.command("top", context_settings={"ignore_unknown_options": True})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def top(ctx: Ctx, container: str, ps_args):
    """Show a container's processes (ps options as docker top takes them)."""
    reply = ctx.stub().Top(manager_pb2.TopRequest(ref=container, ps_args=" ".join(ps_args)), timeout=CALL_TIMEOUT * 2)
    table(list(reply.titles), [list(p.fields) for p in reply.processes])


@click.command("stats")
@click.option("--no-stream", is_flag=True, help="One sample, then exit.")
@click.option("-a", "--all", "all_", is_flag=True, help="Stopped containers too (shown with zeros).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@click.argument("containers", nargs=-1)
@pass_ctx
def stats(ctx: Ctx, no_stream: bool, all_: bool, fmt: str, containers):
    """Live CPU, memory, network and disk use of containers, across the cluster."""
    call = ctx.stub().Stats(manager_pb2.StatsRequest(refs=list(containers), stream=not no_stream, all=all_),
                            timeout=CALL_TIMEOUT * 4 if no_stream else None)
    try:
        if no_stream:
            rows = sorted(call, key=lambda s: (s.node_name, s.name))
            _show_stats(rows, fmt)
            return
        latest: dict[str, object] = {}
        for row in call:
            if row.id in latest:
                # A new round began: show the last one whole (docker redraws the screen; a pipe gets blocks).
                _show_stats(sorted(latest.values(), key=lambda s: (s.node_name, s.name)), fmt, redraw=True)
                latest = {}
            latest[row.id] = row
    except KeyboardInterrupt:
        sys.exit(0)
    finally:
        call.cancel()


def _show_stats(rows, fmt: str, redraw: bool = False) -> None:
    if fmt == "json":
        as_json([stats_json(s) for s in rows])
        return
    if redraw and sys.stdout.isatty():
        click.echo("\x1b[2J\x1b[H", nl=False)
    table(STATS_TITLES, [stats_row(s) for s in rows])
    errors = [s for s in rows if s.error]
    for s in errors:
        click.echo(f"shoal: {s.name or s.id[:12]}: {s.error}", err=True)


@click.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Keep the files' owners (uid/gid) when copying into a container.")
@click.argument("src")
@click.argument("dest")
@pass_ctx
def cp(ctx: Ctx, archive: bool, src: str, dest: str):
    """Copy files and directories between a container and here: CONTAINER:PATH on one side, - for a tar on stdin/stdout."""
    from shoal.cli import copy_archive   # here: the other verbs do not pay for tarfile
    try:
        args = parse_cp(src, dest)
    except ValueError as exc:
        raise click.UsageError(f"cp: {exc}") from None
    if args.to_container:
        copy_archive.copy_to(ctx.stub(), args, archive)
    else:
        copy_archive.copy_from(ctx.stub(), args)


@click.command("rename")
@click.argument("container")
@click.argument("new_name")
@pass_ctx
def rename(ctx: Ctx, container: str, new_name: str):
    """Rename a container (its DNS name follows)."""
    ctx.stub().RenameContainer(manager_pb2.RenameRequest(ref=container, name=new_name), timeout=CALL_TIMEOUT)
