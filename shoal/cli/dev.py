"""shoal dev up | down: a whole cluster on this machine, hosts made of network namespaces."""
from __future__ import annotations

import time
from pathlib import Path

import click
import grpc
from rich.console import Console

from shoal.protos.spec_rules import STRATEGIES
from shoal.protos.shoal.v1 import manager_pb2
from shoal.client import context_path, connect, read_context, write_context
from shoal.units import parse_cpus, parse_size

DEFAULT_STATE_DIR = Path("/var/lib/shoal/dev")
READY_TIMEOUT = 90.0


def wait_for_nodes(address: str, creds, count: int, timeout: float = READY_TIMEOUT) -> list:
    """Polls the manager until `count` nodes are ready; returns them."""
    channel, stub = connect(address, creds)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    try:
        while time.monotonic() < deadline:
            try:
                nodes = stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=5).nodes
                ready = [n for n in nodes if n.state == "ready"]
                if len(ready) >= count:
                    return ready
                last = f"{len(ready)} of {count} nodes ready"
            except grpc.RpcError as exc:
                last = exc.details() or exc.code().name
            time.sleep(0.3)
    finally:
        channel.close()
    raise click.ClickException(f"dev cluster: nodes not ready after {timeout:.0f} s ({last})")


@click.group("dev")
def dev_group():
    """A local cluster for development and demos (needs root)."""


@dev_group.command("up")
@click.option("--hosts", default=3, show_default=True, type=click.IntRange(1, 20), help="Number of test hosts.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, type=click.Path(path_type=Path))
@click.option("--strategy", default="spread", show_default=True, type=click.Choice(STRATEGIES))
@click.option("--host-memory", metavar="SIZE", help="Memory each host offers (default: the machine's).")
@click.option("--host-cpus", metavar="N", help="CPUs each host offers (default: the machine's).")
def dev_up(hosts: int, state_dir: Path, strategy: str, host_memory: str | None, host_cpus: str | None):
    """Create N hosts (netns + dockerd + agent), etcd and a manager; write the CLI context."""
    from shoal.devcluster import DevCluster, DevClusterError

    try:
        memory = parse_size(host_memory) if host_memory else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host-memory") from None
    try:
        cpus = parse_cpus(host_cpus) / 1e9 if host_cpus else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host-cpus") from None
    console = Console(stderr=True)
    cluster = DevCluster(state_dir, hosts=hosts, strategy=strategy, host_memory=memory, host_cpus=cpus)
    try:
        with console.status("starting the dev cluster") as status:
            cluster.up(progress=lambda msg: (status.update(msg), console.log(msg)))
            status.update("waiting for the nodes to register")
            wait_for_nodes(cluster.manager_address, cluster.admin_credentials(), hosts)
    except DevClusterError as exc:
        raise click.ClickException(str(exc)) from None
    from shoal.pki.cluster_files import context_doc
    write_context({**context_doc(cluster.manager_address, cluster.admin_dir), "dev_state_dir": str(state_dir),
                   "etcd": cluster.etcd_bridge_url})
    click.echo(f"dev cluster up: {hosts} hosts, manager {cluster.manager_address}")
    click.echo(f"context written to {context_path()}; try: shoal node ls")


@dev_group.command("down")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, type=click.Path(path_type=Path))
def dev_down(state_dir: Path):
    """Remove everything `dev up` made: processes, namespaces, links, mounts, state."""
    from shoal.devcluster import DevCluster, DevClusterError

    if not (state_dir / "cluster.json").exists():
        click.echo(f"no dev cluster in {state_dir}")
        return
    try:
        DevCluster.load(state_dir).down()
    except DevClusterError as exc:
        raise click.ClickException(str(exc)) from None
    ctx = read_context()
    if ctx.get("dev_state_dir") == str(state_dir):
        context_path().unlink(missing_ok=True)
    click.echo("dev cluster removed")
