"""The words and defaults of a spec, in one place: the CLI's choices, the stack file parser and
the manager's validation all read them here, so a new mode or a changed default cannot be
accepted by one and refused by another. Pure (contracts import nothing above them)."""
from __future__ import annotations

import re

# Containers, services, networks, stacks and nodes: Docker's own rule for container names, at most 63.
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")
NAME_RULE = 'letters, digits, "_", "." and "-", starting with a letter or digit, at most 63'

# Docker's rule for volume names (at least two characters); a service's slot volumes add ".N".
VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{1,69}")
VOLUME_NAME_RULE = 'letters, digits, "_", "." and "-", starting with a letter or digit, 2 to 63'
MOUNT_TYPES = ("volume", "bind", "tmpfs")

MODES = ("replicated", "global")
RESTART_CONDITIONS = ("none", "on-failure", "any")
FAILURE_ACTIONS = ("pause", "continue", "rollback")
HEALTH_KINDS = ("CMD", "CMD-SHELL", "NONE")
PROTOCOLS = ("tcp", "udp")
AVAILABILITIES = ("active", "pause", "drain")
# The scheduler's own table (manager/scheduler) must name the same ones: a unit test holds them equal.
STRATEGIES = ("spread", "binpack", "random")

# What a service gets for what its creator left out (docker service create's defaults).
DEFAULT_MODE = "replicated"
DEFAULT_RESTART_CONDITION = "any"
DEFAULT_RESTART_DELAY_NS = 5_000_000_000
DEFAULT_PARALLELISM = 1
DEFAULT_FAILURE_ACTION = "pause"
DEFAULT_MONITOR_NS = 5_000_000_000
# As RestartPolicy / UpdateConfig fields, for a spec built whole (a stack file's service).
RESTART_DEFAULTS: dict[str, object] = {"condition": DEFAULT_RESTART_CONDITION, "max_attempts": 0,
                                       "delay_ns": DEFAULT_RESTART_DELAY_NS, "window_ns": 0}
UPDATE_DEFAULTS: dict[str, object] = {"parallelism": DEFAULT_PARALLELISM, "delay_ns": 0,
                                      "failure_action": DEFAULT_FAILURE_ACTION, "monitor_ns": DEFAULT_MONITOR_NS}

# Linux capabilities as Docker names them (without CAP_), and ALL: a typo is refused with the
# flag named before anything is stored, instead of by the engine on a node.
CAPABILITIES = frozenset({
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
    "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT",
    "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM", "ALL",
})
ULIMITS = frozenset({"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                     "rss", "rtprio", "rttime", "sigpending", "stack"})
IPC_MODES = ("private", "shareable", "host")
PID_MODES = ("host",)
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
PULL_POLICIES = ("always", "missing", "never")   # docker run --pull; "" is missing
TMPFS_FLAGS = frozenset({"ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev"})


def capability(name: str) -> str:
    """A capability as Docker takes it: case-insensitive, CAP_ optional (cap_add: [chown] is CHOWN)."""
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def reserved_memory(spec) -> int:
    """What the scheduler counts of a container spec's memory: its reservation, else its limit."""
    return spec.reserve_memory_bytes or spec.memory_bytes


def reserved_cpus(spec) -> int:
    """What the scheduler counts of a container spec's CPUs, in nano CPUs: its reservation, else its limit."""
    return spec.reserve_nano_cpus or spec.nano_cpus
