"""Checks on every API input at the boundary. Pure: raises InvalidField naming the field."""
from __future__ import annotations

import re

from manager.scheduler import STRATEGIES, Constraint, ConstraintError, parse_constraint
from protos.shoal.v1 import manager_pb2

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")
# Image references: registry/path:tag or @digest; no whitespace or control characters.
IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9._/:@+-]{0,254}", re.IGNORECASE)
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
LABEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,127}")

MAX_ARGS = 256
MAX_ARG_LEN = 4096
MAX_ENV = 256
MAX_VALUE_LEN = 4096
MAX_LABELS = 64
MAX_PORTS = 64
MAX_CONSTRAINTS = 32
MAX_MEMORY = 1 << 50
MAX_NANO_CPUS = 4096 * 10**9
MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses less


class InvalidField(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field


def check_name(value: str, field: str = "name") -> str:
    if not NAME_RE.fullmatch(value):
        raise InvalidField(field, f'"{value[:80]}" is not a valid name (letters, digits, "_", "." and "-", starting with a letter or digit, at most 63)')
    return value


def check_labels(labels, field: str) -> None:
    if len(labels) > MAX_LABELS:
        raise InvalidField(field, f"at most {MAX_LABELS} labels")
    for k, v in labels.items():
        if not LABEL_KEY_RE.fullmatch(k):
            raise InvalidField(field, f'"{k[:80]}" is not a valid label key')
        if k.startswith("io.shoal."):
            raise InvalidField(field, f'"{k}": the io.shoal. prefix is reserved')
        if len(v) > MAX_VALUE_LEN:
            raise InvalidField(field, f'value of "{k}" is longer than {MAX_VALUE_LEN} characters')


def check_run(req: manager_pb2.RunRequest) -> list[Constraint]:
    """Validates a run request; returns the parsed constraints."""
    if req.name:
        check_name(req.name, "--name")
    spec = req.spec
    if not spec.image:
        raise InvalidField("IMAGE", "must not be empty")
    if not IMAGE_RE.fullmatch(spec.image):
        raise InvalidField("IMAGE", f'"{spec.image[:80]}" is not an image reference')
    if len(spec.command) > MAX_ARGS:
        raise InvalidField("CMD", f"at most {MAX_ARGS} arguments")
    for arg in spec.command:
        if len(arg) > MAX_ARG_LEN or "\x00" in arg:
            raise InvalidField("CMD", f"arguments are limited to {MAX_ARG_LEN} characters without NUL")
    if len(spec.env) > MAX_ENV:
        raise InvalidField("--env", f"at most {MAX_ENV} variables")
    for k, v in spec.env.items():
        if not ENV_KEY_RE.fullmatch(k):
            raise InvalidField("--env", f'"{k[:80]}" is not a valid variable name')
        if len(v) > MAX_VALUE_LEN or "\x00" in v:
            raise InvalidField("--env", f'value of "{k}" must be under {MAX_VALUE_LEN} characters without NUL')
    if len(spec.ports) > MAX_PORTS:
        raise InvalidField("--publish", f"at most {MAX_PORTS} ports")
    seen = set()
    for p in spec.ports:
        if p.protocol not in ("tcp", "udp"):
            raise InvalidField("--publish", f'protocol "{p.protocol}" is not tcp or udp')
        if not 1 <= p.container_port <= 65535:
            raise InvalidField("--publish", f"container port {p.container_port} is not in 1-65535")
        if p.host_port > 65535:
            raise InvalidField("--publish", f"host port {p.host_port} is not in 1-65535")
        if p.host_port and (p.host_port, p.protocol) in seen:
            raise InvalidField("--publish", f"host port {p.host_port}/{p.protocol} is published twice")
        seen.add((p.host_port, p.protocol))
    if spec.memory_bytes and not MIN_MEMORY <= spec.memory_bytes <= MAX_MEMORY:
        raise InvalidField("--memory", f"{spec.memory_bytes} bytes is out of range (minimum 6m)")
    if spec.memory_bytes < 0:
        raise InvalidField("--memory", "must not be negative")
    if not 0 <= spec.nano_cpus <= MAX_NANO_CPUS:
        raise InvalidField("--cpus", "is out of range")
    check_labels(spec.labels, "--label")
    if spec.strategy and spec.strategy not in STRATEGIES:
        raise InvalidField("--strategy", f'"{spec.strategy[:40]}" is not one of {", ".join(STRATEGIES)}')
    if len(spec.constraints) > MAX_CONSTRAINTS:
        raise InvalidField("--constraint", f"at most {MAX_CONSTRAINTS} constraints")
    parsed = []
    for expr in spec.constraints:
        try:
            parsed.append(parse_constraint(expr))
        except ConstraintError as exc:
            raise InvalidField("--constraint", str(exc)) from exc
    return parsed
