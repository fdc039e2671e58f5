"""shoal machine create | provision | upgrade | ls | inspect | rm | env | ssh | scp

Turns a fresh Debian/Ubuntu host into a node over SSH (provisioner/), and keeps a record of it in
~/.shoal/machines/NAME/. The manager is reached over its admin API like every other command.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time

import click
import grpc
from rich.console import Console

from shoal.protos.shoal.v1 import manager_pb2
from shoal.cli.context import CALL_TIMEOUT, Ctx, pass_ctx
from shoal.cli.output import FORMAT_OPTION, as_json, table
from shoal.cli.params import converter
from shoal.client import read_context, resolve_manager
from shoal.units import parse_key_value

DRAIN_TIMEOUT = 120.0


@click.group("machine")
def machine_group():
    """Provision hosts over SSH and keep track of them."""
    # paramiko logs each refused handshake with a traceback; the error we print says it in one line.
    for name in ("paramiko", "shoal.provisioner.ssh.transport"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _store():
    from shoal.provisioner import store
    return store


def _load(name: str):
    from shoal.provisioner.errors import ProvisionerError
    try:
        return _store().load(name)
    except ProvisionerError as exc:
        raise click.ClickException(str(exc)) from None


def _connect(m, *, accept_new: bool = False, host_key: str | None = None, timeout: float = 60.0):
    from shoal.provisioner import ssh
    return ssh.connect(m.ip, port=m.ssh_port, user=m.ssh_user, key_path=m.ssh_key,
                       host_key=host_key or m.host_key, accept_new=accept_new, timeout=timeout)


def _fingerprint(text: str) -> str:
    from shoal.provisioner import hostkeys
    return hostkeys.parse_fingerprint(text)


def _node(ctx: Ctx, name: str):
    for n in ctx.stub().ListNodes(manager_pb2.ListNodesRequest(), timeout=CALL_TIMEOUT).nodes:
        if n.name == name:
            return n
    return None


def _provision(ctx: Ctx, m, *, accept_new: bool, host_key: str | None, restart: bool = False,
               ssh_timeout: float = 60.0):
    """Connects, runs every step, records the outcome (ready, or error with its step)."""
    from shoal.provisioner import layout, steps, store
    from shoal.provisioner.errors import ProvisionerError

    # Progress on stdout (a spinner only on a terminal): stderr keeps the one-line error contract.
    console = Console()
    store.save(m)
    try:
        with console.status(f"{m.name}: connecting to {m.ssh_user}@{m.ip}:{m.ssh_port}") as status:
            try:
                session = _connect(m, accept_new=accept_new, host_key=host_key, timeout=ssh_timeout)
            except ProvisionerError as exc:
                raise steps.StepFailed("ssh", str(exc)) from None
            with session:
                m = store.save(type(m)(**{**m.__dict__, "host_key": session.host_key}))
                settings = layout.AgentSettings(name=m.name, ip=m.ip, manager=m.manager, etcd=m.etcd,
                                                labels=dict(m.labels), extra_args=tuple(m.agent_args))

                def node_ready():
                    # The address too: after a move, the old record stays "ready" until its lease ends.
                    n = _node(ctx, m.name)
                    return n.id if n is not None and n.state == "ready" and n.address == settings.advertise else None

                def join_token():
                    return ctx.stub().JoinToken(manager_pb2.JoinTokenRequest(role="agent"), timeout=CALL_TIMEOUT).token

                def progress(step: str) -> None:
                    status.update(f"{m.name}: {step}")
                    console.print(f"{m.name}: {step}")

                run = steps.Context(session, settings, join_token, node_ready, restart=restart)
                steps.provision(run, progress)
    except steps.StepFailed as exc:
        store.save(m.failed(exc.step, exc.reason))
        raise click.ClickException(f"machine {m.name}: {exc}") from None
    except grpc.RpcError:
        store.save(m.failed("manager", "the manager did not answer"))
        raise
    done = store.save(m.ready(node_id=run.node_id, agent_version=run.bundle.version if run.bundle else m.agent_version))
    what = "; ".join(run.changed) if run.changed else "nothing to change"
    click.echo(f"{done.name}: ready as node {done.node_id} ({what})")
    return done


@machine_group.command("create")
@click.option("--driver", default="generic", show_default=True, type=click.Choice(["generic"]))
@click.option("--ip", required=True, help="Address of the host (SSH, and where the manager reaches the agent).")
@click.option("--ssh-port", default=22, show_default=True, type=click.IntRange(1, 65535))
@click.option("--ssh-user", default="root", show_default=True)
@click.option("--ssh-key", type=click.Path(exists=True, dir_okay=False), help="Private key (default: ssh-agent, ~/.ssh/id_*).")
@click.option("--ssh-host-key", metavar="SHA256:FINGERPRINT", callback=converter(_fingerprint),
              help="The host key to expect (check it out of band).")
@click.option("--accept-new-host-key", is_flag=True, help="Trust the key the host presents now, and record it.")
@click.option("--label", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Engine label of the node.")
@click.option("--manager", "manager_addr", metavar="HOST:PORT", help="Manager the agent joins (default: the CLI's).")
@click.option("--etcd", metavar="URL[,URL...]", help="etcd as the host reaches it (default: the context's).")
@click.option("--agent-arg", multiple=True, metavar="ARG", help="A further `shoal agent` flag (repeat).")
@click.option("--ssh-timeout", default=60.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds to keep trying to reach SSH (retries with back-off inside).")
@click.argument("name")
@pass_ctx
def machine_create(ctx: Ctx, driver, ip, ssh_port, ssh_user, ssh_key, ssh_host_key, accept_new_host_key, label,
                   manager_addr, etcd, agent_arg, ssh_timeout, name):
    """Turn a fresh Debian/Ubuntu host into a node (idempotent)."""
    from shoal.provisioner import store
    from shoal.provisioner.errors import ProvisionerError

    try:
        store.validate_name(name)
    except ProvisionerError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    if ssh_host_key and accept_new_host_key:
        raise click.UsageError("--ssh-host-key and --accept-new-host-key exclude each other")
    manager = manager_addr or resolve_manager(ctx.manager_flag).split(",")[0]
    etcd = etcd or read_context().get("etcd")
    if not etcd:
        raise click.UsageError("--etcd: give etcd's URL as the host reaches it (the context has none)")
    if store.exists(name):
        old = _load(name)
        if old.ip != ip:
            raise click.ClickException(f"machine {name} exists with IP {old.ip}; `shoal machine provision {name}` "
                                       f"or `shoal machine rm {name}` first")
        m = old
    else:
        m = store.Machine(name=name, ip=ip, driver=driver, ssh_port=ssh_port, ssh_user=ssh_user, ssh_key=ssh_key,
                          labels=dict(label or []), manager=manager, etcd=etcd, agent_args=tuple(agent_arg))
    _provision(ctx, m, accept_new=accept_new_host_key, host_key=ssh_host_key, ssh_timeout=ssh_timeout)


@machine_group.command("provision")
@click.option("--ip", help="The host's new address (its certificate names the node, not the address).")
@click.option("--ssh-host-key", metavar="SHA256:FINGERPRINT", callback=converter(_fingerprint),
              help="Pin this host key instead of the recorded one (a reinstalled host; check it out of band).")
@click.argument("name")
@pass_ctx
def machine_provision(ctx: Ctx, ip, ssh_host_key, name):
    """Run every step again (changes nothing on a provisioned host)."""
    m = _load(name)
    if ip and ip != m.ip:
        m = type(m)(**{**m.__dict__, "ip": ip})
    _provision(ctx, m, accept_new=False, host_key=ssh_host_key)


@machine_group.command("regenerate-certs")
@click.argument("name")
@pass_ctx
def machine_regenerate_certs(ctx: Ctx, name):
    """A new key and certificate for the node (it joins again; its old certificates are revoked)."""
    from shoal.provisioner import layout
    from shoal.provisioner.errors import ProvisionerError

    m = _load(name)
    try:
        with _connect(m) as session:
            session.run(["sh", "-c", f"{layout.stop_agent()}; {layout.forget_certificate()}"], sudo=True,
                        timeout=120, check=True, what="stop the agent and forget its certificate")
    except ProvisionerError as exc:
        raise click.ClickException(f"machine {name}: {exc}") from None
    _wait_gone(ctx, m.name)
    _provision(ctx, m, accept_new=False, host_key=None)


def _wait_gone(ctx: Ctx, name: str, timeout: float = 60.0) -> None:
    """A node id that is up cannot join again: wait until the stopped agent's record has gone."""
    deadline = time.monotonic() + timeout
    while _node(ctx, name) is not None:
        if time.monotonic() > deadline:
            raise click.ClickException(f"node {name} still listed {timeout:.0f} s after its agent stopped")
        time.sleep(0.3)   # poll interval


@machine_group.command("upgrade")
@click.argument("name")
@pass_ctx
def machine_upgrade(ctx: Ctx, name):
    """Install this version of the agent and restart it (containers keep running)."""
    _provision(ctx, _load(name), accept_new=False, host_key=None, restart=True)


@machine_group.command("ls")
@FORMAT_OPTION
@pass_ctx
def machine_ls(ctx: Ctx, fmt):
    """Machines and their nodes' state."""
    machines = _store().list_machines()
    try:
        nodes = {n.id: n for n in ctx.stub().ListNodes(manager_pb2.ListNodesRequest(), timeout=CALL_TIMEOUT).nodes}
    except Exception:   # the list still shows what is recorded when the manager is away
        nodes = None
    rows = []
    for m in machines:
        n = nodes.get(m.node_id) if nodes is not None and m.node_id else None
        node_state = n.state if n is not None else ("unknown" if nodes is None else "down")
        if m.state != "ready":
            node_state = f"{m.state}" + (f" ({m.error.step})" if m.error else "")
        rows.append({"name": m.name, "driver": m.driver, "ip": m.ip, "node_state": node_state,
                     "agent_version": m.agent_version or "-", "node_id": m.node_id or ""})
    if fmt == "json":
        as_json(rows)
        return
    table(["NAME", "DRIVER", "IP", "NODE STATE", "AGENT VERSION"],
          [[r["name"], r["driver"], r["ip"], r["node_state"], r["agent_version"]] for r in rows])


@machine_group.command("inspect")
@click.argument("name")
def machine_inspect(name):
    """The machine's record."""
    click.echo(json.dumps(_load(name).to_json(), indent=2, sort_keys=True))


@machine_group.command("env")
@click.argument("name")
def machine_env(name):
    """Shell exports that point the CLI at this machine's manager: eval "$(shoal machine env NAME)"."""
    m = _load(name)
    ctx = read_context()
    click.echo(f"export SHOAL_MANAGER={m.manager}")
    cert = ctx.get("cert")
    if cert:
        click.echo(f"export SHOAL_TLS_DIR={os.path.dirname(cert)}")
    click.echo(f"# run this command to configure your shell: eval \"$(shoal machine env {name})\"")


def _ssh_argv(m, program: str = "ssh") -> tuple[list[str], str]:
    """The system's ssh/scp with the recorded host key pinned (a known_hosts of one line)."""
    if not m.host_key:
        raise click.ClickException(f"machine {m.name}: no recorded host key; run `shoal machine provision {m.name}`")
    with _connect(m, timeout=30) as session:
        line = session.known_hosts_line()
    tmp = tempfile.NamedTemporaryFile("w", prefix="shoal-known-", delete=False)
    tmp.write(line + "\n")
    tmp.close()
    port_flag = "-p" if program == "ssh" else "-P"
    argv = [shutil.which(program) or program, "-o", f"UserKnownHostsFile={tmp.name}", "-o", "StrictHostKeyChecking=yes",
            "-o", "GlobalKnownHostsFile=/dev/null", port_flag, str(m.ssh_port)]
    if m.ssh_key:
        argv += ["-i", m.ssh_key, "-o", "IdentitiesOnly=yes"]
    return argv, tmp.name


@machine_group.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def machine_ssh(name, command):
    """Log in to the machine, or run COMMAND there."""
    m = _load(name)
    _run_pinned(m, "ssh", [f"{m.ssh_user}@{m.ip}", *command])


def _run_pinned(m, program: str, args: list[str]):
    """Runs the system's ssh/scp against the machine with its host key pinned; exits with its code."""
    argv, known = _ssh_argv(m, program)
    try:
        r = subprocess.run([*argv, *args])
    finally:
        os.unlink(known)
    raise SystemExit(r.returncode)


@machine_group.command("scp")
@click.option("-r", "recursive", is_flag=True, help="Copy directories.")
@click.argument("src")
@click.argument("dst")
def machine_scp(recursive, src, dst):
    """Copy files: NAME:path on either side."""
    def side(arg: str):
        name, sep, path = arg.partition(":")
        if sep and "/" not in name:
            m = _load(name)
            return m, f"{m.ssh_user}@{m.ip}:{path}"
        return None, arg
    m1, a = side(src)
    m2, b = side(dst)
    m = m1 or m2
    if m is None or (m1 and m2):
        raise click.UsageError("give NAME:path on exactly one side")
    _run_pinned(m, "scp", [*(["-r"] if recursive else []), a, b])


@machine_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="The host is gone: remove the node and the record without SSH.")
@click.argument("name")
@pass_ctx
def machine_rm(ctx: Ctx, force, name):
    """Drain the node, stop and remove the agent, remove the node (its certificate is revoked)."""
    from shoal.provisioner import layout
    from shoal.provisioner.errors import ProvisionerError

    m = _load(name)
    node = _node(ctx, m.name)
    if not force:
        if node is not None:
            ctx.stub().UpdateNode(manager_pb2.UpdateNodeRequest(ref=node.id, availability="drain"),
                                  timeout=CALL_TIMEOUT)
            _wait_drained(ctx, node)
        try:
            with _connect(m) as session:
                session.run(["sh", "-c", layout.uninstall()], sudo=True, timeout=120, check=True,
                            what="stop and remove the agent")
        except ProvisionerError as exc:
            raise click.ClickException(f"machine {name}: {exc} (use -f if the host is gone)") from None
    node_id = node.id if node is not None else m.node_id
    if node_id:
        try:
            ctx.stub().RemoveNode(manager_pb2.RemoveNodeRequest(ref=node_id, force=True), timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
    _store().remove(name)
    click.echo(name)


def _wait_drained(ctx: Ctx, node) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        running = [c for c in ctx.stub().ListContainers(manager_pb2.ListContainersRequest(), timeout=CALL_TIMEOUT).containers
                   if c.node_id == node.id and c.service_id and c.desired_state == "running"]
        if not running:
            return
        time.sleep(0.5)   # poll interval
    raise click.ClickException(f"node {node.name}: tasks still running after {DRAIN_TIMEOUT:.0f} s of drain")
