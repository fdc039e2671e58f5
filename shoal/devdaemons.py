"""The command lines of the dev cluster's daemons: etcd, each host's dockerd and agent, the
manager.  Programs are found on PATH (or the sbin directories) when the line is made, so a
missing one is named before anything starts."""

from __future__ import annotations

from pathlib import Path

from shoal.devprocs import which
from shoal.pki import files

__all__ = ["agent_argv", "dockerd_argv", "etcd_argv", "manager_argv"]


def etcd_argv(name: str, data_dir: Path, tls_dir: Path, bridge_ip: str, port: int) -> list[str]:
    """etcd on loopback and the bridge; its peer port (port + 1) on loopback only."""
    peer = port + 1
    client_urls = f"https://127.0.0.1:{port},https://{bridge_ip}:{port}"
    ca, cert, key = files.paths(tls_dir, "etcd-server")
    return [
        which("etcd"),
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", client_urls,
        "--advertise-client-urls", client_urls,
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"{name}=http://127.0.0.1:{peer}",
        "--initial-cluster-state", "new",
        "--initial-cluster-token", f"{name}-dev",
        # Clients must show a certificate of the cluster CA, as in production.
        "--cert-file", str(cert), "--key-file", str(key),
        "--trusted-ca-file", str(ca), "--client-cert-auth",
    ]  # fmt: skip


def dockerd_argv(netns_path: str, host_dir: Path, docker_socket: Path, bip: str) -> list[str]:
    """dockerd inside the host's netns (nsenter --net: `ip netns exec` would remount /sys),
    its data and exec roots under host_dir, no iptables of its own."""
    return [
        which("nsenter"), f"--net={netns_path}",
        which("dockerd"),
        "--host", f"unix://{docker_socket}",
        "--data-root", str(host_dir / "data"),
        "--exec-root", str(host_dir / "exec"),
        "--pidfile", str(host_dir / "docker.pid"),
        "--iptables=false",
        "--ip-masq=false",
        "--bip", bip,
    ]  # fmt: skip


def agent_argv(
    python: str,
    netns_path: str,
    *,
    name: str,
    manager_address: str,
    etcd_url: str,
    agent_address: str,
    docker_socket: Path,
    state_dir: Path,
    memory: int | None,
    cpus: float | None,
    lease_ttl: int | None,
    dns_upstream: str,
) -> list[str]:
    argv = [
        which("nsenter"), f"--net={netns_path}",
        python, "-m", "shoal", "agent",
        "--manager", manager_address,
        "--etcd", etcd_url,
        "--advertise", agent_address,
        "--listen", agent_address,
        "--docker", f"unix://{docker_socket}",
        "--name", name,
        "--state-dir", str(state_dir),
    ]  # fmt: skip
    if memory is not None:
        argv += ["--memory", str(int(memory))]
    if cpus is not None:
        argv += ["--cpus", str(float(cpus))]
    if lease_ttl is not None:
        argv += ["--lease-ttl", str(int(lease_ttl))]
    # Containers reach each other across hosts; other names are forwarded only where the
    # cluster's creator said (never to the machine's own resolvers from a test).
    argv += ["--host-routes", "--dns-upstream", dns_upstream]
    return argv


def manager_argv(
    python: str,
    *,
    state_dir: Path,
    etcd_url: str,
    listen: str,
    strategy: str,
    lease_ttl: int | None,
    dns: str | None,
    dns_upstream: str,
    cert_lifetime: str | None,
) -> list[str]:
    argv = [
        python, "-m", "shoal", "manager",
        "--state-dir", str(state_dir),
        "--etcd", etcd_url,
        "--listen", listen,
        "--strategy", strategy,
    ]  # fmt: skip
    if lease_ttl is not None:
        argv += ["--lease-ttl", str(int(lease_ttl))]
    if dns:
        argv += ["--dns", dns, "--dns-upstream", dns_upstream]
    if cert_lifetime:
        argv += ["--cert-lifetime", cert_lifetime]
    return argv
