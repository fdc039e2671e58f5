"""Checks on the isolation, runtime and reservation options of a container spec (those of
`docker run`), each as Docker Engine would take or refuse it, so a bad value is refused with its
flag named before anything is stored instead of by an engine on some node. Pure."""
from __future__ import annotations

import ipaddress
import json
import re

from shoal.manager.field_errors import InvalidField, show
from shoal.manager.scheduler.units import format_bytes
from shoal.protos.shoal.v1 import types_pb2
from shoal.protos.spec_rules import (
    CAPABILITIES, IPC_MODES, MOUNT_TYPES, PID_MODES, PULL_POLICIES, RESTART_POLICIES, TMPFS_FLAGS, ULIMITS, VOLUME_NAME_RE,
    VOLUME_NAME_RULE, capability,
)

MAX_MEMORY = 1 << 50
MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses less, for a limit and for a reservation
MAX_NANO_CPUS = 4096 * 10**9
MAX_LIST = 32                 # entries of one repeated option (caps, hosts, groups, ...)
MAX_SECCOMP_BYTES = 64 * 1024
MAX_PIDS = 1 << 22            # the kernel's pid_max ceiling
MAX_CPU_SHARES = 262144       # the kernel's ceiling for cpu.shares
MAX_CPU_INDEX = 1023
MAX_RESTART_RETRIES = 10_000
NETWORK_MODES = ("host", "none")
CONTAINER_REF_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
MAX_EXPOSE = 1024             # exposed ports (they hold nothing on the host unless -P)

USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?")
GROUP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
DNS_OPTION_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
SIGNAL_RE = re.compile(r"(SIG)?[A-Z][A-Z0-9]*(\+[0-9]{1,2})?|[0-9]{1,2}")
CPUSET_RE = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")
EXPOSE_RE = re.compile(r"([0-9]{1,5})/(tcp|udp)")
# OS[/ARCH[/VARIANT]] as the engine's platforms parser takes it (linux/amd64, linux/arm64/v8).
PLATFORM_RE = re.compile(r"[a-z0-9_]{1,32}(/[a-z0-9_]{1,32}){0,2}")
SYSCTL_KEY_RE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_-]+)+")
# The sysctls that live in a container's own namespaces: the only ones Docker (runc) accepts.
NAMESPACED_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
NAMESPACED_SYSCTL_PREFIXES = ("fs.mqueue.", "net.")


def check_run_options(spec: types_pb2.ContainerSpec) -> None:
    _check_reservations(spec)
    _check_identity(spec)
    _check_security(spec)
    _check_names(spec)
    _check_process(spec)
    _check_kernel(spec)
    _check_tmpfs(spec)
    _check_restart(spec)
    _check_mounts(spec)
    _check_devices_and_network(spec)
    _check_ports_and_pulls(spec)


def _check_mounts(spec: types_pb2.ContainerSpec) -> None:
    _check_count(spec.mounts, "--mount")
    targets = {t.target.rstrip("/") for t in spec.tmpfs}
    for m in spec.mounts:
        flag = "--mount" if m.type == "tmpfs" else "--volume"
        if m.type not in MOUNT_TYPES:
            raise InvalidField("--mount", f'type "{show(m.type, 20)}" is not one of {", ".join(MOUNT_TYPES)}')
        if not _absolute(m.target) or m.target == "/":
            raise InvalidField(flag, f'"{show(m.target)}": the target must be an absolute path in the container, not /')
        if m.target.rstrip("/") in targets:
            raise InvalidField(flag, f"{m.target} is mounted twice")
        targets.add(m.target.rstrip("/"))
        if m.type == "bind" and not _absolute(m.source):
            raise InvalidField(flag, f'"{show(m.source)}": a bind mount\'s source must be an absolute host path '
                                     f"(a name without / is a named volume)")
        if m.type == "volume" and m.source and (not VOLUME_NAME_RE.fullmatch(m.source) or len(m.source) > 63):
            raise InvalidField(flag, f'"{show(m.source)}" is not a valid volume name ({VOLUME_NAME_RULE})')
        if m.type == "tmpfs" and m.source:
            raise InvalidField("--mount", "a tmpfs mount has no source")
        if m.type != "tmpfs" and m.tmpfs_size_bytes:
            raise InvalidField("--mount", "tmpfs-size goes only with type=tmpfs")
        if not 0 <= m.tmpfs_size_bytes <= MAX_MEMORY:
            raise InvalidField("--mount", "tmpfs-size is out of range (0 to 1p)")
        _check_volume_driver(m)


VOLUME_DRIVERS = ("local",)
LOCAL_DRIVER_OPTIONS = ("type", "device", "o")   # what Docker's local driver takes (mount(8) in effect)


def check_volume_driver(driver: str, options, labels, field: str) -> None:
    """A volume's driver and its options, from `volume create` or a stack file's top-level volumes."""
    if driver and driver not in VOLUME_DRIVERS:
        raise InvalidField(field if field != "--opt" else "--driver",
                           f'"{show(driver, 40)}" is not supported ({", ".join(VOLUME_DRIVERS)})')
    for key, value in options.items():
        if key not in LOCAL_DRIVER_OPTIONS:
            raise InvalidField(field, f'"{show(key, 40)}" is not an option of the local driver '
                                      f'({", ".join(LOCAL_DRIVER_OPTIONS)})')
        if not value or len(value) > 1024 or not value.isprintable():
            raise InvalidField(field, f"{key}: the value must be 1-1024 printable characters")
    if len(labels) > 64 or any(not k or len(k) > 128 or len(v) > 4096 or not v.isprintable()
                               for k, v in labels.items()):
        raise InvalidField(field, "at most 64 labels, keys up to 128 and values up to 4096 printable characters")


def _check_volume_driver(m: types_pb2.Mount) -> None:
    if m.type == "volume":
        check_volume_driver(m.driver, m.driver_options, m.volume_labels, "--mount")
    elif m.driver or m.driver_options or m.volume_labels:
        raise InvalidField("--mount", f"{m.target}: only a volume mount has a driver, options or labels")


def _absolute(path: str) -> bool:
    return path.startswith("/") and "\x00" not in path and ":" not in path and len(path) <= 4096


def _check_restart(spec: types_pb2.ContainerSpec) -> None:
    if spec.restart and spec.restart not in RESTART_POLICIES:
        raise InvalidField("--restart", f'"{show(spec.restart, 40)}" is not one of {", ".join(RESTART_POLICIES)} '
                                        f"(on-failure[:N])")
    if spec.restart_max_retries and spec.restart != "on-failure":
        raise InvalidField("--restart", "a maximum retry count goes only with on-failure (on-failure:N)")
    if not 0 <= spec.restart_max_retries <= MAX_RESTART_RETRIES:
        raise InvalidField("--restart", f"on-failure:N takes N from 0 to {MAX_RESTART_RETRIES}")


def _check_reservations(spec: types_pb2.ContainerSpec) -> None:
    if spec.reserve_memory_bytes < 0:
        raise InvalidField("--reserve-memory", "must not be negative")
    if spec.reserve_memory_bytes and not MIN_MEMORY <= spec.reserve_memory_bytes <= MAX_MEMORY:
        raise InvalidField("--reserve-memory", f"{spec.reserve_memory_bytes} bytes is out of range (minimum 6m, maximum 1p)")
    if spec.memory_bytes and spec.reserve_memory_bytes > spec.memory_bytes:
        raise InvalidField("--reserve-memory", f"{format_bytes(spec.reserve_memory_bytes)} is more than the limit "
                                               f"--memory {format_bytes(spec.memory_bytes)}")
    if not 0 <= spec.reserve_nano_cpus <= MAX_NANO_CPUS:
        raise InvalidField("--reserve-cpus", f"is out of range (0 to {MAX_NANO_CPUS // 10**9})")
    if spec.nano_cpus and spec.reserve_nano_cpus > spec.nano_cpus:
        raise InvalidField("--reserve-cpus", f"{spec.reserve_nano_cpus / 1e9:g} is more than the limit "
                                             f"--cpus {spec.nano_cpus / 1e9:g}")


def _check_identity(spec: types_pb2.ContainerSpec) -> None:
    if spec.user and not USER_RE.fullmatch(spec.user):
        raise InvalidField("--user", f'"{show(spec.user)}" is not USER[:GROUP] or UID[:GID]')
    _check_count(spec.group_add, "--group-add")
    for group in spec.group_add:
        if not GROUP_RE.fullmatch(group):
            raise InvalidField("--group-add", f'"{show(group)}" is not a group name or GID')
    if spec.workdir and (not spec.workdir.startswith("/") or "\x00" in spec.workdir or len(spec.workdir) > 4096):
        raise InvalidField("--workdir", f'"{show(spec.workdir)}" is not an absolute path')


def _check_security(spec: types_pb2.ContainerSpec) -> None:
    for flag, caps in (("--cap-add", spec.cap_add), ("--cap-drop", spec.cap_drop)):
        _check_count(caps, flag)
        for cap in caps:
            if capability(cap) not in CAPABILITIES:
                raise InvalidField(flag, f'"{show(cap)}" is not a Linux capability (e.g. CHOWN, NET_ADMIN, ALL)')
    _check_count(spec.security_opt, "--security-opt")
    for opt in spec.security_opt:
        _check_security_opt(opt)
    if spec.ipc and spec.ipc not in IPC_MODES:
        if not (spec.ipc.startswith("container:") and CONTAINER_REF_RE.fullmatch(spec.ipc[len("container:"):])):
            raise InvalidField("--ipc", f'"{show(spec.ipc, 40)}" is not one of {", ".join(IPC_MODES)} or container:NAME')
    if spec.pid and spec.pid not in PID_MODES:
        raise InvalidField("--pid", f'"{show(spec.pid, 40)}" is not host (only the host\'s PID namespace can be shared)')


def _check_security_opt(opt: str) -> None:
    key, sep, value = opt.replace("=", ":", 1).partition(":") if opt.startswith("no-new-privileges") \
        else opt.partition("=")
    if key == "no-new-privileges":
        if sep and value not in ("true", "false"):
            raise InvalidField("--security-opt", f'no-new-privileges takes true or false, not "{show(value, 20)}"')
        return
    if key == "seccomp" and sep and value:
        if value == "unconfined":
            return
        if len(value) > MAX_SECCOMP_BYTES:
            raise InvalidField("--security-opt", f"a seccomp profile is limited to {MAX_SECCOMP_BYTES // 1024} KiB")
        try:
            profile = json.loads(value)
        except ValueError:
            profile = None
        if not isinstance(profile, dict):
            raise InvalidField("--security-opt", "seccomp= takes unconfined or a JSON profile (the CLI reads a file's)")
        return
    if key in ("apparmor", "label") and sep and value and value.isprintable() and len(value) <= 256:
        return
    raise InvalidField("--security-opt", f'"{show(opt, 60)}" is not no-new-privileges[:true|false], '
                                         f"seccomp=unconfined|PROFILE, apparmor=PROFILE or label=...")


def _check_devices_and_network(spec: types_pb2.ContainerSpec) -> None:
    _check_count(spec.devices, "--device")
    for device in spec.devices:
        if not _device(device):
            raise InvalidField("--device", f'"{show(device)}" is not /dev/HOST[:/CONTAINER][:rwm]')
    if spec.network_mode and spec.network_mode not in NETWORK_MODES:
        raise InvalidField("--network", f'"{show(spec.network_mode, 40)}" is not host or none (or an overlay network)')
    if spec.network_mode and spec.networks:
        raise InvalidField("--network", f"{spec.network_mode} cannot be combined with overlay networks")
    if spec.network_mode and (spec.ports or spec.publish_all):
        raise InvalidField("--publish", f"nothing can be published with --network {spec.network_mode}"
                                        f"{' (the container uses the host ports directly)' if spec.network_mode == 'host' else ''}")
    if spec.network_mode and (spec.dns or spec.extra_hosts) and spec.network_mode == "none":
        raise InvalidField("--dns" if spec.dns else "--add-host", "a container with --network none resolves nothing")
    if not 0 <= spec.stop_timeout <= 3600:
        raise InvalidField("--stop-timeout", "must be from 0 to 3600 seconds")
    _check_count(spec.volumes_from, "--volumes-from")
    for source in spec.volumes_from:
        name, _, mode = source.partition(":")
        if not CONTAINER_REF_RE.fullmatch(name) or mode not in ("", "ro", "rw"):
            raise InvalidField("--volumes-from", f'"{show(source)}" is not CONTAINER[:ro|rw]')


def _device(text: str) -> bool:
    """Docker's device syntax: SRC, SRC:DST, SRC:PERMS or SRC:DST:PERMS; PERMS from r, w, m."""
    parts = text.split(":")
    def perms(p: str) -> bool:
        return bool(p) and set(p) <= set("rwm") and len(set(p)) == len(p)
    if len(parts) == 2 and perms(parts[1]):
        parts = [parts[0], parts[0], parts[1]]
    if len(parts) > 3 or (len(parts) == 3 and not perms(parts[2])):
        return False
    return parts[0].startswith("/dev/") and all(_absolute(p) for p in parts[:2])


def _check_names(spec: types_pb2.ContainerSpec) -> None:
    if spec.hostname and (len(spec.hostname) > 253 or not HOSTNAME_RE.fullmatch(spec.hostname)):
        raise InvalidField("--hostname", f'"{show(spec.hostname)}" is not a host name (RFC 1123)')
    _check_count(spec.dns, "--dns")
    for server in spec.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidField("--dns", f'"{show(server)}" is not an IP address') from None
    _check_count(spec.dns_search, "--dns-search")
    for domain in spec.dns_search:
        if domain != "." and (len(domain) > 253 or not HOSTNAME_RE.fullmatch(domain)):
            raise InvalidField("--dns-search", f'"{show(domain)}" is not a domain name')
    _check_count(spec.dns_option, "--dns-option")
    for option in spec.dns_option:
        if not DNS_OPTION_RE.fullmatch(option):
            raise InvalidField("--dns-option", f'"{show(option)}" is not a resolver option (e.g. ndots:2)')
    _check_count(spec.extra_hosts, "--add-host")
    for entry in spec.extra_hosts:
        name, sep, address = entry.partition(":")
        if not sep or len(name) > 253 or not HOSTNAME_RE.fullmatch(name):
            raise InvalidField("--add-host", f'"{show(entry)}" is not NAME:IP')
        if address != "host-gateway":
            try:
                ipaddress.ip_address(address.strip("[]"))
            except ValueError:
                raise InvalidField("--add-host", f'"{show(entry)}": "{show(address)}" is not an IP address') from None


def _check_process(spec: types_pb2.ContainerSpec) -> None:
    if spec.stop_signal and not SIGNAL_RE.fullmatch(spec.stop_signal):
        raise InvalidField("--stop-signal", f'"{show(spec.stop_signal, 20)}" is not a signal (SIGTERM, TERM, 15, SIGRTMIN+3)')
    if spec.stop_signal.isdigit() and not 1 <= int(spec.stop_signal) <= 64:
        raise InvalidField("--stop-signal", f"{spec.stop_signal} is not a signal number (1-64)")
    if not 0 <= spec.cpu_shares <= MAX_CPU_SHARES:
        raise InvalidField("--cpu-shares", f"must be from 0 to {MAX_CPU_SHARES}")
    if spec.cpuset_cpus:
        if not CPUSET_RE.fullmatch(spec.cpuset_cpus):
            raise InvalidField("--cpuset-cpus", f'"{show(spec.cpuset_cpus, 40)}" is not a CPU list (0-3, 0,2)')
        for part in spec.cpuset_cpus.split(","):
            low, _, high = part.partition("-")
            if int(high or low) < int(low) or int(high or low) > MAX_CPU_INDEX:
                raise InvalidField("--cpuset-cpus", f'"{part}" is not a range of CPUs 0-{MAX_CPU_INDEX}')
    if not -1 <= spec.pids_limit <= MAX_PIDS:
        raise InvalidField("--pids-limit", f"must be -1 (unlimited) or from 0 to {MAX_PIDS}")
    if spec.shm_size_bytes < 0 or spec.shm_size_bytes > MAX_MEMORY:
        raise InvalidField("--shm-size", "is out of range (0 to 1p)")


def _check_kernel(spec: types_pb2.ContainerSpec) -> None:
    _check_count(spec.ulimits, "--ulimit")
    names = set()
    for u in spec.ulimits:
        if u.name not in ULIMITS:
            raise InvalidField("--ulimit", f'"{show(u.name, 20)}" is not a ulimit ({", ".join(sorted(ULIMITS))})')
        if u.name in names:
            raise InvalidField("--ulimit", f"{u.name} is given twice")
        names.add(u.name)
        if u.soft < -1 or u.hard < -1 or (u.hard != -1 and (u.soft == -1 or u.soft > u.hard)):
            raise InvalidField("--ulimit", f"{u.name}: the soft limit {u.soft} is above the hard limit {u.hard}")
    if len(spec.sysctls) > MAX_LIST:
        raise InvalidField("--sysctl", f"at most {MAX_LIST}")
    for key, value in spec.sysctls.items():
        if not SYSCTL_KEY_RE.fullmatch(key):
            raise InvalidField("--sysctl", f'"{show(key)}" is not a sysctl name')
        if key not in NAMESPACED_SYSCTLS and not key.startswith(NAMESPACED_SYSCTL_PREFIXES):
            raise InvalidField("--sysctl", f"{key} is not namespaced: it would change the host, and Docker refuses it "
                                           f"(kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* are)")
        if not value or len(value) > 256 or not value.isprintable():
            raise InvalidField("--sysctl", f"{key}: the value must be 1-256 printable characters")


def _check_tmpfs(spec: types_pb2.ContainerSpec) -> None:
    _check_count(spec.tmpfs, "--tmpfs")
    targets = set()
    for t in spec.tmpfs:
        if not t.target.startswith("/") or t.target == "/" or "\x00" in t.target or ":" in t.target \
                or len(t.target) > 4096:
            raise InvalidField("--tmpfs", f'"{show(t.target)}" is not an absolute path other than /')
        if t.target.rstrip("/") in targets:
            raise InvalidField("--tmpfs", f"{t.target} is mounted twice")
        targets.add(t.target.rstrip("/"))
        if not 0 <= t.size_bytes <= MAX_MEMORY:
            raise InvalidField("--tmpfs", f"{t.target}: size is out of range (0 to 1p)")
        if t.mode > 0o7777:
            raise InvalidField("--tmpfs", f"{t.target}: mode {oct(t.mode)} is not a file mode")
        for flag in t.options:
            if flag not in TMPFS_FLAGS:
                raise InvalidField("--tmpfs", f'{t.target}: "{show(flag, 20)}" is not a tmpfs option '
                                              f'({", ".join(sorted(TMPFS_FLAGS))})')


def _check_ports_and_pulls(spec: types_pb2.ContainerSpec) -> None:
    if len(spec.expose) > MAX_EXPOSE:
        raise InvalidField("--expose", f"at most {MAX_EXPOSE} ports")
    for port in spec.expose:
        m = EXPOSE_RE.fullmatch(port)
        if not m or not 1 <= int(m.group(1)) <= 65535:
            raise InvalidField("--expose", f'"{show(port, 20)}" is not PORT/tcp or PORT/udp (1-65535)')
    if spec.pull and spec.pull not in PULL_POLICIES:
        raise InvalidField("--pull", f'"{show(spec.pull, 20)}" is not one of {", ".join(PULL_POLICIES)}')
    if spec.platform and not PLATFORM_RE.fullmatch(spec.platform):
        raise InvalidField("--platform", f'"{show(spec.platform, 40)}" is not OS[/ARCH[/VARIANT]] (e.g. linux/amd64)')


def _check_count(items, flag: str) -> None:
    if len(items) > MAX_LIST:
        raise InvalidField(flag, f"at most {MAX_LIST}")

