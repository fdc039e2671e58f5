"""shoal run | ps | logs | stop | rm | inspect"""
from __future__ import annotations

import json
import sys

import click

from shoal.protos.spec_rules import STRATEGIES
from shoal.protos.shoal.v1 import manager_pb2, types_pb2
from shoal.cli.image import WITH_REGISTRY_AUTH, registry_auth_for
from shoal.cli import health_options, run_options, volume_options
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.cli.params import converter, for_each
from shoal.cli.secret_env import gathered, secret_env_options
from shoal.run_flags import parse_restart
from shoal.units import parse_cpus, parse_key_value, parse_size

RUN_TIMEOUT = 150.0


def ports_text(c: types_pb2.Container) -> list[str]:
    ports = c.status.ports or c.spec.ports
    return [port_text(p) for p in ports]


def port_text(p: types_pb2.PortMapping) -> str:
    """As `docker ps` shows it: 127.0.0.1:8080->80/tcp, 8080->80/tcp, [::1]:8080->80/tcp, 80/tcp."""
    if not p.host_port:
        return f"{p.container_port}/{p.protocol}"
    ip = f"[{p.host_ip}]:" if ":" in p.host_ip else f"{p.host_ip}:" if p.host_ip else ""
    return f"{ip}{p.host_port}->{p.container_port}/{p.protocol}"


def status_text(c: types_pb2.Container) -> str:
    s = c.status
    if s.state == "exited":
        return f"exited ({s.exit_code})"
    if s.state in ("unknown", "missing") and s.error:
        return f"{s.state} ({s.error})"
    return s.state or "unknown"


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Print the container id and return at once.")
@click.option("-i", "--interactive", is_flag=True, help="Keep stdin open; attached, your input goes to the container.")
@click.option("-t", "--tty", is_flag=True, help="A pseudo-terminal (with -i: your terminal, in raw mode).")
@click.option("--name", default="", help="Container name (unique in the cluster).")
@click.option("-e", "--env", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Environment variable.")
@secret_env_options
@click.option("-m", "--memory", metavar="SIZE", callback=converter(parse_size), help="Memory limit (64m, 1g); also the reservation unless --reserve-memory.")
@click.option("--cpus", metavar="N", callback=converter(parse_cpus), help="CPU limit (0.5, 2); also the reservation unless --reserve-cpus.")
@click.option("--constraint", multiple=True, metavar="EXPR", help="Placement constraint, e.g. node.labels.zone==eu. node.id, node.name, node.hostname (bound when the node first registered) and node.labels.K (set by admins) are the cluster's; engine.labels.K is what the host says of itself (self-reported: a compromised host can claim any).")
@click.option("--strategy", type=click.Choice(STRATEGIES), help="Placement strategy for this container.")
@click.option("--label", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Container label.")
@click.option("--network", multiple=True, metavar="NAME", help="Overlay network to join (shoal network create); host or none as docker takes them.")
@run_options.run_options
@run_options.run_only_options
@health_options.health_options
@volume_options.volume_options
@click.option("--device", multiple=True, metavar="/dev/HOST[:/CONTAINER[:rwm]]", help="A host device in the container (the node must have it).")
@click.option("--stop-timeout", type=click.IntRange(0, 3600), help="Seconds `shoal stop` waits before killing (default 10).")
@click.option("--volumes-from", multiple=True, metavar="CONTAINER[:ro|rw]", help="Mount another container's volumes; placed on its node.")
@click.option("--restart", metavar="POLICY", callback=converter(parse_restart), help="no, always, on-failure[:N] or unless-stopped: restarted on its host by its engine (never moved; services are for that).")
@WITH_REGISTRY_AUTH
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def run(ctx: Ctx, detach, interactive, tty, name, env, secret_env, secret_env_file, secret_env_stdin, memory, cpus, constraint,
        strategy, label, network, image, command, device, stop_timeout, volumes_from, restart, volume, mount,
        with_registry_auth, **options):
    """Place a container on a node and start it."""
    spec = types_pb2.ContainerSpec(
        image=image,
        command=list(command),
        memory_bytes=memory or 0,
        nano_cpus=cpus or 0,
        constraints=list(constraint),
        strategy=strategy or "",
        networks=[n for n in network if n not in ("host", "none")],
        network_mode=next((n for n in network if n in ("host", "none")), ""),
        devices=list(device), stop_timeout=stop_timeout or 0, volumes_from=list(volumes_from),
        tty=tty, open_stdin=interactive, stdin_once=interactive and not detach,
    )
    run_options.apply(spec, run_options.pop(options))
    volume_options.apply(spec, volume, mount)
    if restart is not None:
        spec.restart, spec.restart_max_retries = restart
    health_options.apply(spec, health_options.pop(options))
    spec.env.update(dict(env or []))        # after --env-file's, as docker: -e wins
    spec.labels.update(dict(label or []))   # after --label-file's
    add_secret_env(spec, gathered(secret_env, secret_env_file, secret_env_stdin))
    if not detach:
        from shoal.cli.terminal_stream import NotATerminal, check_terminal
        try:
            check_terminal(interactive, tty)   # before anything is created
        except NotATerminal as exc:
            raise click.ClickException(str(exc)) from None
    stub = ctx.stub()
    created = stub.Run(manager_pb2.RunRequest(name=name, spec=spec, create_only=not detach,
                                              registry_auth=registry_auth_for(image, with_registry_auth)),
                       timeout=RUN_TIMEOUT)
    if detach:
        click.echo(created.id)
        return
    # Attached before it starts (the manager's session starts it), so no output is ever missed.
    from shoal.cli.exec_attach import finish
    from shoal.cli.terminal_stream import run_session
    try:
        result = run_session(stub, types_pb2.StreamOpen(ref=created.id, stdin=interactive, tty=tty, start=True))
    except KeyboardInterrupt:
        click.echo(f"detached; {created.name} keeps running", err=True)
        sys.exit(0)
    finish(created.name, result)


def add_secret_env(spec: types_pb2.ContainerSpec, pairs) -> None:
    """Each secret pair joins the environment and its K is marked secret."""
    for key, value in pairs or []:
        spec.env[key] = value
        if key not in spec.secret_env:
            spec.secret_env.append(key)


def _stream_logs(stub, ref: str, follow: bool, tail: int) -> None:
    out = sys.stdout.buffer
    for chunk in stub.Logs(manager_pb2.LogsRequest(ref=ref, follow=follow, tail=tail),
                           timeout=None if follow else CALL_TIMEOUT * 4):
        out.write(chunk.data)
        out.flush()


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show stopped and unknown containers too.")
@FORMAT_OPTION
@pass_ctx
def ps(ctx: Ctx, all_: bool, fmt: str):
    """List containers."""
    containers = ctx.stub().ListContainers(manager_pb2.ListContainersRequest(all=all_), timeout=CALL_TIMEOUT).containers
    if fmt == "json":
        as_json([
            {
                "id": c.id, "name": c.name, "image": c.spec.image, "node": c.node_name, "node_id": c.node_id,
                "status": status_text(c), "state": c.status.state, "exit_code": c.status.exit_code,
                "ports": ports_text(c), "created_at": c.created_at, "service": c.service_name,
                "desired_state": c.desired_state,
            }
            for c in containers
        ])
        return
    table(
        ["ID", "NAME", "IMAGE", "NODE", "STATUS", "PORTS"],
        [[c.id[:12], c.name, c.spec.image, c.node_name, status_text(c), ",".join(ports_text(c))] for c in containers],
    )


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new output.")
@click.option("--tail", default="all", metavar="N", help="Only the last N lines (default: all).")
@click.argument("container")
@pass_ctx
def logs(ctx: Ctx, follow: bool, tail: str, container: str):
    """Show a container's output."""
    if tail == "all":
        n = -1
    else:
        try:
            n = int(tail)
            if n < 0:
                raise ValueError
        except ValueError:
            raise click.BadParameter(f'"{tail}" is not a number of lines or "all"', param_hint="--tail") from None
    try:
        _stream_logs(ctx.stub(), container, follow, n)
    except KeyboardInterrupt:
        sys.exit(0)


@click.command("stop")
@click.option("-t", "--time", "grace", type=click.IntRange(1, 3600), help="Seconds to wait before killing (default: the container's --stop-timeout, else 10).")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def stop(ctx: Ctx, grace: int, containers):
    """Stop running containers."""
    stub = ctx.stub()
    for_each(containers, lambda ref: stub.StopContainer(
        manager_pb2.StopRequest(ref=ref, timeout_seconds=grace or 0), timeout=CALL_TIMEOUT + (grace or 3600)), str)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Remove even if running (kills it).")
@click.argument("containers", nargs=-1, required=True)
@pass_ctx
def rm(ctx: Ctx, force: bool, containers):
    """Remove containers."""
    stub = ctx.stub()
    for_each(containers, lambda ref: stub.RemoveContainer(
        manager_pb2.RemoveRequest(ref=ref, force=force), timeout=CALL_TIMEOUT * 2), str)


@click.command("inspect")
@click.argument("container")
@pass_ctx
def inspect(ctx: Ctx, container: str):
    """Show everything about one container (JSON)."""
    reply = ctx.stub().InspectContainer(manager_pb2.ContainerRef(ref=container), timeout=CALL_TIMEOUT)
    from google.protobuf import json_format   # here: `run` and `ps` do not pay for its import
    doc = json_format.MessageToDict(reply.container, preserving_proto_field_name=True)
    doc["engine"] = json.loads(reply.engine_json) if reply.engine_json else None
    as_json(doc)
