"""shoal service create | ls | ps | inspect | scale | update | rollback | rm"""
from __future__ import annotations

import shlex

import click
from google.protobuf import json_format

from shoal.protos.shoal.v1 import manager_pb2, types_pb2
from shoal.protos.spec_rules import (
    DEFAULT_MODE, DEFAULT_PARALLELISM, DEFAULT_RESTART_DELAY_NS, FAILURE_ACTIONS, MODES, RESTART_CONDITIONS, STRATEGIES,
)
from shoal.cli.image import WITH_REGISTRY_AUTH, registry_auth_for
from shoal.cli import health_options, run_options, volume_options
from shoal.cli.container import add_secret_env, ports_text, status_text
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.cli.params import converter, for_each
from shoal.cli.secret_env import gathered, secret_env_options
from shoal.durations import parse_duration
from shoal.units import parse_cpus, parse_key_value, parse_size


def _pref(text: str) -> str:
    key, sep, value = text.partition("=")
    if key != "spread" or not sep or not value.startswith("node.labels.") or value == "node.labels.":
        raise ValueError(f'"{text}" is not spread=node.labels.KEY')
    return value


def _dur(text: str) -> int:
    return parse_duration(text)


# Options shared by create and update; on update, None means "unchanged".
def task_options(fn):
    for decorator in reversed([
        click.option("-e", "--env", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Environment variable."),
        secret_env_options,
        click.option("-m", "--memory", metavar="SIZE", callback=converter(parse_size), help="Memory limit per task (also its reservation unless --reserve-memory)."),
        click.option("--cpus", metavar="N", callback=converter(parse_cpus), help="CPU limit per task (also its reservation unless --reserve-cpus)."),
        click.option("--constraint", multiple=True, metavar="EXPR", help="Placement constraint (see `shoal run --help`; engine.labels.K are self-reported by the hosts)."),
        click.option("--strategy", type=click.Choice(STRATEGIES), help="Placement strategy."),
        click.option("--label", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Label of the tasks' containers."),
        click.option("--restart-condition", type=click.Choice(RESTART_CONDITIONS), help="When to restart a task (default any)."),
        click.option("--restart-max-attempts", type=click.IntRange(0, 10000), help="Give up after N restarts (0: never)."),
        click.option("--restart-delay", metavar="DURATION", callback=converter(_dur), help="First restart back-off (default 5s; doubles, capped at 5m)."),
        click.option("--restart-window", metavar="DURATION", callback=converter(_dur), help="A run this long resets the back-off (default 10s)."),
        click.option("--update-parallelism", type=click.IntRange(0, 10000), help="Tasks updated at once (default 1; 0: all)."),
        click.option("--update-delay", metavar="DURATION", callback=converter(_dur), help="Delay between update batches."),
        click.option("--update-failure-action", type=click.Choice(FAILURE_ACTIONS), help="On a failed update (default pause)."),
        click.option("--update-monitor", metavar="DURATION", callback=converter(_dur), help="Time a new task has to come up (default 5s)."),
        health_options.health_options,
        click.option("--placement-pref", multiple=True, metavar="spread=node.labels.K", callback=converter(_pref), help="Spread tasks over a label's values."),
        click.option("--stop-grace-period", metavar="DURATION", callback=converter(_dur), help="SIGTERM to SIGKILL on shutdown (default 10s)."),
        click.option("--network", multiple=True, metavar="NAME", help="Overlay network the tasks join."),
        run_options.run_options,
        volume_options.volume_options,
    ]):
        fn = decorator(fn)
    return fn


def apply_options(spec: types_pb2.ServiceSpec, o: dict, *, creating: bool) -> None:
    t = spec.task
    run_options.apply(t, run_options.pop(o))
    volume_options.apply(t, o.pop("volume", None), o.pop("mount", None))
    if o.get("env"):
        t.env.update(dict(o["env"]))
    secret = gathered(o.get("secret_env"), o.get("secret_env_file"), o.get("secret_env_stdin"))
    if secret:
        add_secret_env(t, secret)
    if o.get("memory") is not None:
        t.memory_bytes = o["memory"]
    if o.get("cpus") is not None:
        t.nano_cpus = o["cpus"]
    if o.get("constraint"):
        del t.constraints[:]
        t.constraints.extend(o["constraint"])
    if o.get("strategy"):
        t.strategy = o["strategy"]
    if o.get("label"):
        t.labels.update(dict(o["label"]))
    r = spec.restart
    for key, field in (("restart_condition", "condition"), ("restart_max_attempts", "max_attempts"),
                       ("restart_delay", "delay_ns"), ("restart_window", "window_ns")):
        if o.get(key) is not None:
            setattr(r, field, o[key])
    u = spec.update
    for key, field in (("update_parallelism", "parallelism"), ("update_delay", "delay_ns"),
                       ("update_failure_action", "failure_action"), ("update_monitor", "monitor_ns")):
        if o.get(key) is not None:
            setattr(u, field, o[key])
    health = health_options.pop(o)
    if any(value is not None for value in health.values()) and list(t.health.test) == ["NONE"] \
            and not health.get("no_healthcheck"):
        t.ClearField("health")   # update: a --health-* flag turns a disabled check back on
    health_options.apply(t, health)
    if o.get("placement_pref"):
        del spec.preferences[:]
        spec.preferences.extend(types_pb2.PlacementPreference(spread=p) for p in o["placement_pref"])
    if o.get("network"):
        del t.networks[:]
        t.networks.extend(o["network"])
    if o.get("stop_grace_period") is not None:
        spec.stop_grace_ns = o["stop_grace_period"]
    if creating:
        if not spec.restart.delay_ns and o.get("restart_delay") is None:
            spec.restart.delay_ns = DEFAULT_RESTART_DELAY_NS
        if not spec.update.parallelism and o.get("update_parallelism") is None:
            spec.update.parallelism = DEFAULT_PARALLELISM


@click.group("service")
def service_group():
    """Declare what should run; Shoal keeps it running."""


@service_group.command("create", context_settings={"allow_interspersed_args": False})
@click.option("--name", required=True, help="Service name.")
@click.option("--replicas", type=click.IntRange(0, 10000), help="Number of tasks (default 1).")
@click.option("--mode", type=click.Choice(MODES), default=DEFAULT_MODE, show_default=True)
@task_options
@WITH_REGISTRY_AUTH
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def service_create(ctx: Ctx, name, replicas, mode, image, command, with_registry_auth, **options):
    """Create a service."""
    if mode == "global" and replicas is not None:
        raise click.BadParameter("not allowed with --mode global", param_hint="--replicas")
    spec = types_pb2.ServiceSpec(name=name, mode=mode, replicas=(1 if replicas is None else replicas) if mode == "replicated" else 0,
                                 task=types_pb2.ContainerSpec(image=image, command=list(command)))
    apply_options(spec, options, creating=True)
    svc = ctx.stub().CreateService(manager_pb2.CreateServiceRequest(
        spec=spec, registry_auth=registry_auth_for(image, with_registry_auth)), timeout=CALL_TIMEOUT)
    click.echo(svc.id)


def service_row(s: types_pb2.Service) -> dict:
    return {"id": s.id, "name": s.spec.name, "mode": s.spec.mode, "replicas": f"{s.running}/{s.desired}",
            "running": s.running, "desired": s.desired, "image": s.spec.task.image, "stack": s.spec.stack,
            "update_state": s.update_status.state, "ports": ports_text(types_pb2.Container(spec=s.spec.task))}


@service_group.command("ls")
@FORMAT_OPTION
@pass_ctx
def service_ls(ctx: Ctx, fmt: str):
    """List services."""
    services = ctx.stub().ListServices(manager_pb2.ListServicesRequest(), timeout=CALL_TIMEOUT).services
    print_services(services, fmt)


def print_services(services, fmt: str) -> None:
    rows = [service_row(s) for s in services]
    if fmt == "json":
        as_json(rows)
        return
    table(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"],
          [[r["id"][:12], r["name"], r["mode"], r["replicas"], r["image"], ",".join(r["ports"])] for r in rows])


def task_row(t: types_pb2.Container) -> dict:
    current = status_text(t)
    if t.status.health and t.status.state == "running":
        current += f" ({t.status.health})"
    if t.status.state == "pending" and t.not_before:
        current = f"pending (restart not before {t.not_before})"
    # A pending row without an id is a task no node can take now (its error says why, per filter).
    return {"id": t.id, "name": t.name, "node": t.node_name, "desired_state": t.desired_state,
            "current_state": current, "state": t.status.state, "exit_code": t.status.exit_code,
            "error": t.note or t.status.error, "slot": t.slot, "restarts": t.restarts,
            "image": t.spec.image, "created_at": t.created_at, "started_at": t.status.started_at,
            "finished_at": t.status.finished_at}


def print_tasks(tasks, fmt: str) -> None:
    rows = [task_row(t) for t in tasks]
    if fmt == "json":
        as_json(rows)
        return
    table(["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"],
          [[r["id"][:12], r["name"], r["image"], r["node"], r["desired_state"], r["current_state"], r["error"]]
           for r in rows])


@service_group.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Include all shut-down history.")
@FORMAT_OPTION
@click.argument("service")
@pass_ctx
def service_ps(ctx: Ctx, all_: bool, fmt: str, service: str):
    """List a service's tasks."""
    tasks = ctx.stub().ServiceTasks(manager_pb2.ServiceTasksRequest(ref=service, all=all_), timeout=CALL_TIMEOUT).containers
    print_tasks(tasks, fmt)


@service_group.command("inspect")
@click.argument("service")
@pass_ctx
def service_inspect(ctx: Ctx, service: str):
    """Show a service's spec and status (JSON)."""
    svc = ctx.stub().InspectService(manager_pb2.ServiceRef(ref=service), timeout=CALL_TIMEOUT)
    as_json(json_format.MessageToDict(svc, preserving_proto_field_name=True))


def _scale_arg(text: str) -> tuple[str, int]:
    name, sep, n = text.partition("=")
    if not sep or not name or not n.isdigit():
        raise ValueError(f'"{text}" is not NAME=REPLICAS')
    return name, int(n)


@service_group.command("scale")
@click.argument("pairs", nargs=-1, required=True, metavar="NAME=N...", callback=converter(_scale_arg))
@pass_ctx
def service_scale(ctx: Ctx, pairs):
    """Set the number of tasks of services."""
    stub = ctx.stub()
    for_each(pairs, lambda pair: stub.ScaleService(
        manager_pb2.ScaleServiceRequest(ref=pair[0], replicas=pair[1]), timeout=CALL_TIMEOUT),
        lambda pair: f"{pair[0]} scaled to {pair[1]}")


@service_group.command("update")
@click.option("--image", help="New image.")
@click.option("--args", "args_", metavar='"CMD ARG..."', help="New command (shell-quoted).")
@click.option("--replicas", type=click.IntRange(0, 10000))
@click.option("--env-rm", multiple=True, metavar="K")
@click.option("--label-rm", multiple=True, metavar="K")
@click.option("--rebalance", is_flag=True, help="Move tasks from crowded nodes to emptier ones, a batch at a time.")
@task_options
@WITH_REGISTRY_AUTH
@click.argument("service")
@pass_ctx
def service_update(ctx: Ctx, image, args_, replicas, env_rm, label_rm, rebalance, service, with_registry_auth,
                   **options):
    """Change a service; a new task template rolls out batch by batch."""
    stub = ctx.stub()
    current = stub.InspectService(manager_pb2.ServiceRef(ref=service), timeout=CALL_TIMEOUT)
    spec = types_pb2.ServiceSpec()
    spec.CopyFrom(current.spec)
    if image:
        spec.task.image = image
    if args_ is not None:
        try:
            words = shlex.split(args_)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--args") from None
        del spec.task.command[:]
        spec.task.command.extend(words)
    if replicas is not None:
        spec.replicas = replicas
    for key in env_rm:
        spec.task.env.pop(key, None)
    if env_rm:
        # A removed variable is no longer secret either (--secret-env K adds it back as one).
        kept = [k for k in spec.task.secret_env if k not in env_rm]
        del spec.task.secret_env[:]
        spec.task.secret_env.extend(kept)
    for key in label_rm:
        spec.task.labels.pop(key, None)
    apply_options(spec, options, creating=False)
    svc = stub.UpdateService(manager_pb2.UpdateServiceRequest(ref=service, spec=spec, version=current.version,
                                                              rebalance=rebalance,
                                                              registry_auth=registry_auth_for(spec.task.image,
                                                                                              with_registry_auth)),
                             timeout=CALL_TIMEOUT)
    click.echo(svc.spec.name)


@service_group.command("rollback")
@click.argument("service")
@pass_ctx
def service_rollback(ctx: Ctx, service: str):
    """Roll back to the previous spec."""
    svc = ctx.stub().RollbackService(manager_pb2.ServiceRef(ref=service), timeout=CALL_TIMEOUT)
    click.echo(svc.spec.name)


@service_group.command("rm")
@click.argument("services", nargs=-1, required=True)
@pass_ctx
def service_rm(ctx: Ctx, services):
    """Remove services and all their tasks."""
    stub = ctx.stub()
    for_each(services, lambda ref: stub.RemoveService(manager_pb2.ServiceRef(ref=ref), timeout=CALL_TIMEOUT), str)
