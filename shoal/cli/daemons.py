"""shoal agent | shoal manager: start the long-running processes.

These import the agent and manager packages only when invoked, so the rest of
the CLI never depends on them (it talks to the manager over gRPC only).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click
from click.core import ParameterSource

from shoal.protos.spec_rules import STRATEGIES
from shoal.cli.params import converter
from shoal.cli.secret_env import read_private_file
from shoal.durations import parse_duration
from shoal.units import parse_cpus, parse_key_value, parse_size

_ARGV_UNSAFE = ("On the command line it is readable by every local user (ps, /proc/PID/cmdline): "
                "prefer SHOAL_JOIN_TOKEN or --join-token-file.")
_JOIN_TOKEN_BYTES = 4096    # a token is ~100 bytes; a file much larger is not a token file


def _setup_logging(level: str, warnings: list[str]) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for warning in warnings:
        logging.getLogger("shoal.cli").warning("%s", warning)


def _join_token(token: str | None, token_file: Path | None) -> tuple[str, list[str]]:
    """The join token from --join-token, SHOAL_JOIN_TOKEN or --join-token-file, and the warnings to log
    (never the token itself)."""
    if token_file is None:
        source = click.get_current_context().get_parameter_source("join_token")
        if token and source is ParameterSource.COMMANDLINE:
            return token, [("--join-token was given on the command line, where every local user can read it "
                            "(ps, /proc/PID/cmdline); give it in SHOAL_JOIN_TOKEN or --join-token-file instead")]
        return token or "", []
    if token:
        raise click.UsageError("--join-token-file: give the token one way only, not also with --join-token "
                               "or SHOAL_JOIN_TOKEN")
    try:
        data, warning = read_private_file(token_file, _JOIN_TOKEN_BYTES)
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise click.BadParameter(f"{token_file}: not UTF-8", param_hint="--join-token-file") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--join-token-file") from None
    if not text:
        raise click.BadParameter(f"{token_file}: empty", param_hint="--join-token-file")
    return text, [f"--join-token-file: {warning}"] if warning else []


def _endpoints(ctx, param, value: str) -> list[str]:
    urls = [u.strip() for u in value.split(",") if u.strip()]
    for u in urls:
        if not u.startswith(("http://", "https://")):
            raise click.BadParameter(f'"{u}" is not an etcd URL (http://HOST:PORT)', ctx=ctx, param=param)
    if not urls:
        raise click.BadParameter("at least one etcd URL is needed", ctx=ctx, param=param)
    return urls


def _address(ctx, param, value):
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f'"{value}" is not HOST:PORT', ctx=ctx, param=param)
    return value


def _lifetime(ctx, param, value):
    from datetime import timedelta
    try:
        ns = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    if ns < 10 * 10**9:
        raise click.BadParameter("must be at least 10s", ctx=ctx, param=param)
    return timedelta(microseconds=ns // 1000)


def _etcd_tls_options(f):
    for name in ("key", "cert", "cacert"):
        f = click.option(f"--etcd-{name}", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help=f"etcd client TLS {name} (default: this host's cluster certificate)")(f)
    return f


def _etcd_tls(cacert, cert, key) -> dict:
    return {k: v for k, v in (("ca", cacert), ("cert", cert), ("key", key)) if v}


@click.command("agent")
@click.option("--etcd", required=True, callback=_endpoints, metavar="URL[,URL...]", help="etcd endpoints.")
@click.option("--advertise", required=True, callback=_address, metavar="HOST:PORT", help="Address the manager uses to reach this agent.")
@click.option("--listen", callback=_address, metavar="HOST:PORT", help="Address to serve on (default: the advertised one).")
@click.option("--docker", default="unix:///var/run/docker.sock", show_default=True, help="Local Docker Engine socket.")
@click.option("--name", default="", help="Node name (default: the hostname).")
@click.option("--label", multiple=True, metavar="K=V", callback=converter(parse_key_value), help="Engine label of this node.")
@click.option("--state-dir", default="/var/lib/shoal/agent", show_default=True, type=click.Path(path_type=Path), help="Where the node id and the node's certificate are kept.")
@click.option("--join-token", envvar="SHOAL_JOIN_TOKEN", metavar="TOKEN", help="Agent join token (`shoal cluster join-token agent`); needed until the node has its certificate. " + _ARGV_UNSAFE)
@click.option("--join-token-file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path), help="File holding the join token (mode 0600), instead of --join-token.")
@click.option("--manager", "managers", metavar="HOST:PORT[,...]", default="", help="Manager API address(es): joining (port+1) and certificate renewal.")
@click.option("--lease-ttl", default=10, show_default=True, type=click.IntRange(2, 300), help="Seconds before a silent node disappears.")
@click.option("--memory", callback=converter(parse_size), metavar="SIZE", help="Memory offered to Shoal (default: the host's).")
@click.option("--cpus", callback=converter(parse_cpus), metavar="N", help="CPUs offered to Shoal (default: the host's).")
@click.option("--dns-listen", default="", metavar="HOST:PORT|none", help="Resolver for containers (default: the container bridge's gateway, port 53).")
@click.option("--dns-domain", default="shoal", show_default=True, help="Cluster DNS domain (containers' search domain).")
@click.option("--dns-upstream", default="", metavar="HOST[:PORT],...|none", help="Where other names are forwarded (default: /etc/resolv.conf).")
@click.option("--dns-ttl", default=5, show_default=True, type=click.IntRange(0, 3600))
@click.option("--host-routes", is_flag=True, help="Route the other hosts' container subnets via those hosts (one L2 segment).")
@_etcd_tls_options
@click.option("--insecure", is_flag=True, help="Serve WITHOUT TLS or authentication (tests of old setups only).")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def agent_cmd(etcd, advertise, listen, docker, name, label, state_dir, join_token, join_token_file, managers, lease_ttl,
              memory, cpus, dns_listen, dns_domain, dns_upstream, dns_ttl, host_routes, etcd_cacert, etcd_cert, etcd_key,
              insecure, log_level):
    """Run the agent of this host."""
    from shoal.agent.main import AgentConfig, ConfigError, serve

    join_token, warnings = _join_token(join_token, join_token_file)
    manager_list = [m.strip() for m in managers.split(",") if m.strip()]
    for m in manager_list:
        host, sep, port = m.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise click.BadParameter(f'"{m}" is not HOST:PORT', param_hint="--manager")
    if not insecure and not manager_list:
        raise click.UsageError("--manager: the manager address is needed to join and to renew the node's certificate")
    _setup_logging(log_level, warnings)
    cfg = AgentConfig(
        etcd=etcd, advertise=advertise, listen=listen or advertise, docker=docker, name=name,
        labels=dict(label or []), state_dir=state_dir, lease_ttl=lease_ttl,
        memory_bytes=memory or 0, nano_cpus=cpus or 0, insecure=insecure,
        dns_listen=dns_listen, dns_domain=dns_domain, dns_upstreams=_upstreams(dns_upstream), dns_ttl=dns_ttl,
        host_routes=host_routes, join_token=join_token or "", managers=manager_list,
        etcd_tls=_etcd_tls(etcd_cacert, etcd_cert, etcd_key),
    )
    try:
        asyncio.run(serve(cfg))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _upstreams(text: str) -> list[tuple[str, int]] | None:
    if not text:
        return None
    if text == "none":
        return []
    out = []
    for item in text.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = item.strip(), "53"
        if not host or not port.isdigit():
            raise click.BadParameter(f'"{item}" is not HOST[:PORT]', param_hint="--dns-upstream")
        out.append((host, int(port)))
    return out


def _container_pools(ctx, param, values) -> tuple:
    import ipaddress

    from shoal.protos.address_pools import NARROWEST_HOST_SUBNET, OVERLAY_POOL

    out = []
    for item in (i.strip() for v in values for i in v.split(",")):
        try:
            net = ipaddress.IPv4Network(item)
        except ValueError as exc:
            raise click.BadParameter(f'"{item}" is not an IPv4 CIDR ({exc})', ctx=ctx, param=param) from None
        if net.prefixlen > NARROWEST_HOST_SUBNET:
            raise click.BadParameter(f"{net} holds no /{NARROWEST_HOST_SUBNET}", ctx=ctx, param=param)
        if net.overlaps(OVERLAY_POOL):
            raise click.BadParameter(f"{net} overlaps the overlay networks' pool {OVERLAY_POOL}", ctx=ctx,
                                     param=param)
        out.append(net)
    if not out:
        raise click.BadParameter("at least one CIDR is needed", ctx=ctx, param=param)
    return tuple(out)


@click.command("manager")
@click.option("--etcd", required=True, callback=_endpoints, metavar="URL[,URL...]", help="etcd endpoints.")
@click.option("--listen", default="127.0.0.1:7000", show_default=True, callback=_address, metavar="HOST:PORT")
@click.option("--advertise", callback=_address, metavar="HOST:PORT", help="Address other managers use to forward writes (default: --listen).")
@click.option("--strategy", default="spread", show_default=True, type=click.Choice(STRATEGIES))
@click.option("--lease-ttl", default=10, show_default=True, type=click.IntRange(2, 300), help="Seconds before a dead leader is replaced.")
@click.option("--dns", "dns", callback=_address, metavar="HOST:PORT", help="Also serve the cluster's DNS zone here.")
@click.option("--dns-domain", default="shoal", show_default=True)
@click.option("--dns-upstream", default="none", show_default=True, metavar="HOST[:PORT],...|none", help="Where other names are forwarded.")
@click.option("--state-dir", default="/var/lib/shoal/manager", show_default=True, type=click.Path(path_type=Path), help="The CA and this manager's certificate (`shoal cluster init` writes them).")
@click.option("--join-listen", callback=_address, metavar="HOST:PORT", help="Where hosts without a certificate join (default: the --listen port + 1).")
@click.option("--join-token", envvar="SHOAL_JOIN_TOKEN", metavar="TOKEN", help="Manager join token, to join an existing cluster as a further manager. " + _ARGV_UNSAFE)
@click.option("--join-token-file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path), help="File holding the manager join token (mode 0600), instead of --join-token.")
@click.option("--join", "join_manager", callback=_address, metavar="HOST:PORT", help="API address of a manager of the cluster to join.")
@click.option("--cert-lifetime", default="2160h", show_default=True, callback=_lifetime, metavar="DURATION", help="Lifetime of the certificates this manager issues.")
@click.option("--container-pool", "container_pools", multiple=True, default=("10.214.0.0/16",), show_default=True, callback=_container_pools, metavar="CIDR[,CIDR...]", help="Where hosts' container subnets must lie; a host's subnet outside it is not recorded, and no host routes to it.")
@_etcd_tls_options
@click.option("--insecure", is_flag=True, help="Serve WITHOUT TLS or authentication (tests of old setups only).")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def manager_cmd(etcd, listen, advertise, strategy, lease_ttl, dns, dns_domain, dns_upstream, state_dir, join_listen,
                join_token, join_token_file, join_manager, cert_lifetime, container_pools, etcd_cacert, etcd_cert, etcd_key, insecure,
                log_level):
    """Run a manager (start several against one etcd for high availability)."""
    from shoal.manager.main import ConfigError, ManagerConfig, serve

    join_token, warnings = _join_token(join_token, join_token_file)
    if listen.startswith(("0.0.0.0:", "[::]:")) and not advertise:
        raise click.UsageError("--advertise: required when --listen is a wildcard address")
    _setup_logging(log_level, warnings)
    cfg = ManagerConfig(etcd=etcd, listen=listen, advertise=advertise or listen, strategy=strategy,
                        lease_ttl=lease_ttl, insecure=insecure, dns=dns or "", dns_domain=dns_domain,
                        dns_upstreams=tuple(_upstreams(dns_upstream) or ()), state_dir=state_dir,
                        join_listen=join_listen or "", join_token=join_token or "", join_manager=join_manager or "",
                        cert_lifetime=cert_lifetime, etcd_tls=_etcd_tls(etcd_cacert, etcd_cert, etcd_key),
                        container_pools=container_pools)
    try:
        asyncio.run(serve(cfg))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
