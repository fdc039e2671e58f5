"""The isolation, runtime and reservation flags of `docker run`, on `shoal run` and on
`shoal service create/update` alike: one list of options, one function that sets them on a
ContainerSpec. On update, an option left out (None) leaves the spec's value alone; a repeated
option given replaces the whole list, as --constraint does."""
from __future__ import annotations

import json
from pathlib import Path

import click

from shoal.cli.params import converter
from shoal.cli.secret_env import read_kv_file
from shoal.protos.shoal.v1 import types_pb2
from shoal.protos.spec_rules import PULL_POLICIES
from shoal.run_flags import parse_host_entry, parse_sysctl, parse_tmpfs, parse_ulimit
from shoal.units import PUBLISH_SYNTAX, parse_cpus, parse_publish, parse_size


def _seccomp(text: str) -> str:
    """seccomp=FILE is read here and sent as its JSON, as Docker's CLI does (the daemon, on
    another host, cannot read the admin's file)."""
    key, sep, value = text.partition("=")
    if key != "seccomp" or not sep or value in ("", "unconfined") or value.lstrip().startswith("{"):
        return text
    try:
        profile = json.loads(Path(value).read_text())
    except OSError as exc:
        raise ValueError(f'"{text}": {value}: {exc.strerror}') from None
    except ValueError:
        raise ValueError(f'"{text}": {value} is not a JSON seccomp profile') from None
    return "seccomp=" + json.dumps(profile, separators=(",", ":"))


def _signed_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a whole number') from None


def _expose(text: str) -> list[str]:
    """--expose PORT[/PROTO] or a range: one "PORT/PROTO" per port, as Docker expands it."""
    spec, _, proto = text.partition("/")
    if ":" in spec:
        raise ValueError(f'"{text}" is not PORT[/tcp|/udp] (or a range A-B); to publish, use -p')
    return [f"{port}/{p}" for _, port, p, _ in parse_publish(text)]


OPTIONS = [
    click.option("-p", "--publish", multiple=True, metavar="[IP:][HOST:]PORT[/PROTO]", callback=converter(parse_publish),
                 help=f"Publish a port: {PUBLISH_SYNTAX}; a HOST range must be as long as the container range."),
    click.option("-P", "--publish-all/--no-publish-all", default=None, help="Publish every exposed port (the image's and --expose) to a random host port."),
    click.option("--expose", multiple=True, metavar="PORT[/PROTO]", callback=converter(_expose), help="Expose a port or a range (A-B) without publishing it."),
    click.option("--env-file", multiple=True, metavar="FILE", callback=converter(read_kv_file),
                 help="Environment variables, a K=V per line (# comments, no quotes; a K alone from your environment); -e wins."),
    click.option("--label-file", multiple=True, metavar="FILE", callback=converter(lambda path: read_kv_file(path, labels=True)),
                 help="Labels, a K=V per line (# comments; a K alone is an empty label); --label wins."),
    click.option("--platform", metavar="OS/ARCH", help="Platform of the image to pull and run (linux/amd64, linux/arm64/v8)."),
    click.option("--reserve-memory", metavar="SIZE", callback=converter(parse_size), help="Memory the scheduler counts (default: the --memory limit)."),
    click.option("--reserve-cpus", metavar="N", callback=converter(parse_cpus), help="CPUs the scheduler counts (default: the --cpus limit)."),
    click.option("-u", "--user", metavar="USER[:GROUP]", help="User (name or UID) the process runs as."),
    click.option("--group-add", multiple=True, metavar="GROUP", help="Extra group of the process."),
    click.option("--cap-add", multiple=True, metavar="CAP", help="Add a Linux capability (ALL for all)."),
    click.option("--cap-drop", multiple=True, metavar="CAP", help="Drop a Linux capability (ALL for all)."),
    click.option("--privileged/--no-privileged", default=None, help="Every capability and device (no isolation from the host)."),
    click.option("--read-only/--no-read-only", default=None, help="Mount the root filesystem read-only."),
    click.option("--security-opt", multiple=True, metavar="OPT", callback=converter(_seccomp), help="no-new-privileges, seccomp=unconfined|FILE.json, apparmor=PROFILE."),
    click.option("--hostname", metavar="NAME", help="The container's host name."),
    click.option("--dns", multiple=True, metavar="IP", help="DNS server; replaces the cluster's resolver (cluster names then do not resolve)."),
    click.option("--dns-search", multiple=True, metavar="DOMAIN", help="DNS search domain (before the cluster's)."),
    click.option("--dns-option", multiple=True, metavar="OPT", help="Resolver option (ndots:2)."),
    click.option("--add-host", multiple=True, metavar="NAME:IP", callback=converter(parse_host_entry), help="A line of /etc/hosts."),
    click.option("-w", "--workdir", metavar="DIR", help="Working directory of the process."),
    click.option("--entrypoint", metavar="CMD", help='Override the image\'s ENTRYPOINT (one word, as docker takes it; "" clears it).'),
    click.option("--init/--no-init", default=None, help="Run an init (tini) as PID 1 that reaps zombies and forwards signals."),
    click.option("--stop-signal", metavar="SIGNAL", help="Signal that stops the container (default SIGTERM)."),
    click.option("-c", "--cpu-shares", type=click.IntRange(0, 262144), help="Relative CPU weight."),
    click.option("--cpuset-cpus", metavar="LIST", help="CPUs the container may use (0-3, 0,2)."),
    click.option("--pids-limit", metavar="N", callback=converter(_signed_int), help="Most processes at once (-1: unlimited)."),
    click.option("--ulimit", multiple=True, metavar="NAME=SOFT[:HARD]", callback=converter(parse_ulimit), help="A ulimit (nofile=1024:2048)."),
    click.option("--sysctl", multiple=True, metavar="K=V", callback=converter(parse_sysctl), help="A namespaced kernel parameter (net.*, kernel.shm*, ...)."),
    click.option("--shm-size", metavar="SIZE", callback=converter(parse_size), help="Size of /dev/shm (default 64m)."),
    click.option("--tmpfs", multiple=True, metavar="PATH[:OPTS]", callback=converter(parse_tmpfs), help="A tmpfs mount (/run:size=64m,mode=1770,noexec)."),
    click.option("--ipc", metavar="MODE", help="IPC namespace: private, shareable or host."),
    click.option("--pid", metavar="MODE", help="PID namespace: host to share the host's."),
]

# `shoal run`'s alone (docker service create has no --pull either).
RUN_ONLY = [
    click.option("--pull", type=click.Choice(PULL_POLICIES), help="Pull the image on the node: always, missing (the default) or never."),
]

# The flags as their function parameters are named.
NAMES = ("env_file", "label_file", "publish", "publish_all", "expose", "pull", "platform", "reserve_memory", "reserve_cpus", "user", "group_add", "cap_add", "cap_drop", "privileged", "read_only",
         "security_opt", "hostname", "dns", "dns_search", "dns_option", "add_host", "workdir", "entrypoint", "init",
         "stop_signal", "cpu_shares", "cpuset_cpus", "pids_limit", "ulimit", "sysctl", "shm_size", "tmpfs", "ipc",
         "pid")

_SCALARS = {"reserve_memory": "reserve_memory_bytes", "reserve_cpus": "reserve_nano_cpus", "user": "user",
            "privileged": "privileged", "read_only": "read_only", "hostname": "hostname", "workdir": "workdir",
            "init": "init", "stop_signal": "stop_signal", "cpu_shares": "cpu_shares", "cpuset_cpus": "cpuset_cpus",
            "pids_limit": "pids_limit", "shm_size": "shm_size_bytes", "ipc": "ipc", "pid": "pid",
            "publish_all": "publish_all", "pull": "pull", "platform": "platform"}
_LISTS = {"group_add": "group_add", "cap_add": "cap_add", "cap_drop": "cap_drop", "security_opt": "security_opt",
          "dns": "dns", "dns_search": "dns_search", "dns_option": "dns_option", "add_host": "extra_hosts"}


def run_options(fn):
    for decorator in reversed(OPTIONS):
        fn = decorator(fn)
    return fn


def run_only_options(fn):
    for decorator in reversed(RUN_ONLY):
        fn = decorator(fn)
    return fn


def pop(options: dict) -> dict:
    """Takes this module's flags out of a command's keyword arguments."""
    return {name: options.pop(name, None) for name in NAMES}


def apply(spec: types_pb2.ContainerSpec, o: dict) -> None:
    """Sets the given flags on the spec; None (not given) and an empty repeat leave a field alone."""
    for name, field in _SCALARS.items():
        if o.get(name) is not None:
            setattr(spec, field, o[name])
    for name, field in _LISTS.items():
        if o.get(name):
            target = getattr(spec, field)
            del target[:]
            target.extend(o[name])
    # The files first: the command's own -e and --label are set after, and win (as with docker).
    for pairs in o.get("env_file") or ():
        spec.env.update(dict(pairs))
    for pairs in o.get("label_file") or ():
        spec.labels.update(dict(pairs))
    if o.get("publish"):
        del spec.ports[:]
        spec.ports.extend(types_pb2.PortMapping(host_port=h, container_port=c, protocol=p, host_ip=ip)
                          for mappings in o["publish"] for h, c, p, ip in mappings)
    if o.get("expose"):
        del spec.expose[:]
        spec.expose.extend(dict.fromkeys(port for ports in o["expose"] for port in ports))
    if o.get("entrypoint") is not None:
        del spec.entrypoint[:]
        if o["entrypoint"]:
            spec.entrypoint.append(o["entrypoint"])
    if o.get("ulimit"):
        del spec.ulimits[:]
        spec.ulimits.extend(types_pb2.Ulimit(name=n, soft=s, hard=h) for n, s, h in o["ulimit"])
    if o.get("sysctl"):
        spec.sysctls.clear()
        spec.sysctls.update(dict(o["sysctl"]))
    if o.get("tmpfs"):
        del spec.tmpfs[:]
        spec.tmpfs.extend(types_pb2.TmpfsMount(target=t, size_bytes=size, mode=mode, options=list(flags))
                          for t, size, mode, flags in o["tmpfs"])
