"""shoal exec | attach: interactive sessions in a container, wherever in the cluster it runs."""
from __future__ import annotations

import sys

import click

from shoal.cli.context import Ctx, pass_ctx
from shoal.cli.params import converter
from shoal.cli.terminal_stream import NotATerminal, check_terminal, run_session
from shoal.protos.shoal.v1 import types_pb2
from shoal.units import parse_key_value


def finish(name: str, result: types_pb2.StreamExit) -> None:
    """Exits as docker does: with the command's (or container's) exit code."""
    if result.detached:
        click.echo(f"detached; {name} keeps running", err=True)
        sys.exit(0)
    if result.error:
        click.echo(f"shoal: {name}: {result.error}", err=True)
        sys.exit(result.exit_code or 1)
    sys.exit(result.exit_code)


def session(stub, name: str, open_: types_pb2.StreamOpen) -> None:
    try:
        check_terminal(open_.stdin, open_.tty)
    except NotATerminal as exc:
        raise click.ClickException(str(exc)) from None
    try:
        result = run_session(stub, open_)
    except KeyboardInterrupt:
        # Without a tty, ctrl-C ends this CLI; the session ends with it (an exec's process is killed).
        sys.exit(130)
    finish(name, result)


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True, help="Keep stdin open and send it to the command.")
@click.option("-t", "--tty", is_flag=True, help="A pseudo-terminal (with -i: your terminal, in raw mode).")
@click.option("-u", "--user", default="", metavar="USER[:GROUP]", help="Run as this user.")
@click.option("-w", "--workdir", default="", metavar="DIR", help="Working directory of the command.")
@click.option("-e", "--env", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Environment variable.")
@click.option("--privileged", is_flag=True, help="Extended privileges for the command.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_ctx
def exec_(ctx: Ctx, interactive, tty, user, workdir, env, privileged, container, command):
    """Run a command in a running container; exits with its exit code."""
    session(ctx.stub(), container, types_pb2.StreamOpen(
        ref=container, stdin=interactive, tty=tty, command=list(command), user=user, workdir=workdir,
        env=dict(env or []), privileged=privileged))


@click.command("attach")
@click.option("--no-stdin", is_flag=True, help="Do not send your input to the container.")
@click.argument("container")
@pass_ctx
def attach(ctx: Ctx, no_stdin: bool, container: str):
    """Attach your terminal to a running container's main process (detach: ctrl-p ctrl-q)."""
    stub = ctx.stub()
    from shoal.protos.shoal.v1 import manager_pb2
    from shoal.cli.context import CALL_TIMEOUT
    c = stub.InspectContainer(manager_pb2.ContainerRef(ref=container), timeout=CALL_TIMEOUT).container
    session(stub, c.name, types_pb2.StreamOpen(ref=c.id, stdin=c.spec.open_stdin and not no_stdin, tty=c.spec.tty))
