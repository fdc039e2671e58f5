"""The words and defaults of a spec, in one place: the CLI's choices, the stack file parser and
the manager's validation all read them here, so a new mode or a changed default cannot be
accepted by one and refused by another. Pure (contracts import nothing above them)."""
from __future__ import annotations

import re

# Containers, services, networks, stacks and nodes: Docker's own rule for container names, at most 63.
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")
NAME_RULE = 'letters, digits, "_", "." and "-", starting with a letter or digit, at most 63'

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
