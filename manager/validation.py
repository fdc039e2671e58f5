"""Checks on every API input at the boundary. Pure: raises InvalidField naming the field.

Every message is ONE line, "<field>: <reason>"; values from the request are shown shortened
and with control characters escaped, so a hostile value can never break a message (or a
log line) into several. Nothing here does I/O: the ops modules call these before they look
anything up or write anything, and turn InvalidField into errors.InvalidArgument."""
from __future__ import annotations

import ipaddress
import re

from shoal.manager.field_errors import InvalidField, show
from shoal.manager.run_option_checks import (
    MAX_MEMORY, MAX_NANO_CPUS, MIN_MEMORY, check_run_options, check_volume_driver,
)
from shoal.manager.scheduler import STRATEGIES, Constraint, ConstraintError, parse_constraint
from shoal.protos.shoal.v1 import manager_pb2, types_pb2
from shoal.protos.spec_rules import (
    AVAILABILITIES, DEFAULT_FAILURE_ACTION, DEFAULT_MODE, DEFAULT_RESTART_CONDITION, FAILURE_ACTIONS, HEALTH_KINDS,
    MODES, NAME_RE, NAME_RULE, RESTART_CONDITIONS, VOLUME_NAME_RE, VOLUME_NAME_RULE,
)

# A reference to a container, node, service or network: a name or an id prefix. Task names
# (web.3, web.<node name>) and host names are longer than object names, hence 255.
REF_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
# Image references: registry/path:tag or @digest; no whitespace or control characters.
IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9._/:@+-]{0,254}", re.IGNORECASE)
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
LABEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,127}")
NODE_ID_RE = re.compile(r"[a-z0-9]{8,64}")
SUBNET_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}")

MAX_ARGS = 256
MAX_ARG_LEN = 4096
MAX_ENV = 256
MAX_VALUE_LEN = 4096
MAX_LABELS = 64
MAX_PORTS = 64
MAX_CONSTRAINTS = 32
MAX_CONSTRAINT_LEN = 512
MAX_PREFERENCES = 8
MAX_NETWORKS_PER_CONTAINER = 4
MAX_REPLICAS = 10_000
MAX_RESTART_ATTEMPTS = 10_000
MAX_HEALTH_RETRIES = 100
MAX_DURATION_NS = 24 * 3600 * 10**9
MAX_STOP_SECONDS = 3600
MAX_TAIL = 100_000            # lines; -1 (documented in manager.proto) means all
MAX_STACK_SERVICES = 100
MAX_DRIVER_LEN = 40
MAX_TOKEN_LEN = 200
MAX_CSR_BYTES = 8192

ROLES = ("agent", "manager")
DRIVERS = ("overlay",)

# What the manager shows instead of a secret environment value (manager/redact.py). Sent back
# in a service update, it stands for the stored value of the same key; anywhere else it is refused.
SECRET_PLACEHOLDER = "<secret>"


def _printable(value: str) -> bool:
    return value.isprintable()


# ---- building blocks ------------------------------------------------------

def check_name(value: str, field: str = "name") -> str:
    if not NAME_RE.fullmatch(value):
        raise InvalidField(field, f'"{show(value)}" is not a valid name ({NAME_RULE})')
    return value


def check_ref(value: str, field: str) -> str:
    """A name or a unique id prefix: never empty, never a path, never a control character."""
    if not value:
        raise InvalidField(field, "must not be empty (a name or an id prefix)")
    if not REF_RE.fullmatch(value):
        raise InvalidField(field, f'"{show(value)}" is not a name or id prefix (letters, digits, "_", "." and "-", '
                                  f"starting with a letter or digit, at most 255)")
    return value


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise InvalidField(field, f'"{show(value, 40)}" is not one of {", ".join(choices)}')


def check_labels(labels, field: str) -> None:
    if len(labels) > MAX_LABELS:
        raise InvalidField(field, f"at most {MAX_LABELS} labels")
    for k, v in labels.items():
        if not LABEL_KEY_RE.fullmatch(k):
            raise InvalidField(field, f'"{show(k)}" is not a valid label key')
        if k.startswith("io.shoal."):
            raise InvalidField(field, f'"{k}": the io.shoal. prefix is reserved')
        if len(v) > MAX_VALUE_LEN:
            raise InvalidField(field, f'value of "{k}" is longer than {MAX_VALUE_LEN} characters')
        if not _printable(v):
            raise InvalidField(field, f'value of "{k}" must not contain control characters')


def check_label_keys(keys, field: str) -> None:
    if len(keys) > MAX_LABELS:
        raise InvalidField(field, f"at most {MAX_LABELS} labels")
    for k in keys:
        if not LABEL_KEY_RE.fullmatch(k):
            raise InvalidField(field, f'"{show(k)}" is not a valid label key')


def _check_args(args, field: str) -> None:
    if len(args) > MAX_ARGS:
        raise InvalidField(field, f"at most {MAX_ARGS} arguments")
    for arg in args:
        if len(arg) > MAX_ARG_LEN or "\x00" in arg:
            raise InvalidField(field, f"arguments are limited to {MAX_ARG_LEN} characters without NUL")


def _check_duration(value: int, field: str) -> None:
    if not 0 <= value <= MAX_DURATION_NS:
        raise InvalidField(field, "must be a duration from 0s to 24h")


def check_env(spec: types_pb2.ContainerSpec) -> None:
    if len(spec.env) > MAX_ENV:
        raise InvalidField("--env", f"at most {MAX_ENV} variables")
    for k, v in spec.env.items():
        if not ENV_KEY_RE.fullmatch(k):
            raise InvalidField("--env", f'"{show(k)}" is not a valid variable name')
        if len(v) > MAX_VALUE_LEN or "\x00" in v:
            raise InvalidField("--env", f'value of "{k}" must be under {MAX_VALUE_LEN} characters without NUL')
    if len(spec.secret_env) > MAX_ENV:
        raise InvalidField("--secret-env", f"at most {MAX_ENV} variables")
    seen: set[str] = set()
    for k in spec.secret_env:
        if not ENV_KEY_RE.fullmatch(k):
            raise InvalidField("--secret-env", f'"{show(k)}" is not a valid variable name')
        if k not in spec.env:
            raise InvalidField("--secret-env", f'"{k}" is not set in the environment')
        if k in seen:
            raise InvalidField("--secret-env", f'"{k}" is listed twice')
        seen.add(k)
        if spec.env[k] == SECRET_PLACEHOLDER:
            # Only a service update may refer to a stored value this way (services.py restores
            # it before validating); anything left is a placeholder with nothing behind it.
            raise InvalidField("--secret-env", f'"{k}": {SECRET_PLACEHOLDER} is a placeholder, not a value; '
                                               f"give the value")


def _check_health(h: types_pb2.HealthCheck) -> None:
    if h.test:
        _check_args(h.test, "--health-cmd")
        if h.test[0] not in HEALTH_KINDS:
            raise InvalidField("--health-cmd", f'the test must start with one of {", ".join(HEALTH_KINDS)}')
        if h.test[0] != "NONE" and len(h.test) < 2:
            raise InvalidField("--health-cmd", "a command is missing")
    for flag, value in (("--health-interval", h.interval_ns), ("--health-timeout", h.timeout_ns),
                        ("--health-start-period", h.start_period_ns)):
        _check_duration(value, flag)
    if not 0 <= h.retries <= MAX_HEALTH_RETRIES:
        raise InvalidField("--health-retries", f"must be an integer from 0 to {MAX_HEALTH_RETRIES}")


def check_network_names(names, field: str = "--network") -> None:
    if len(names) > MAX_NETWORKS_PER_CONTAINER:
        raise InvalidField(field, f"at most {MAX_NETWORKS_PER_CONTAINER} networks")
    for name in names:
        check_name(name, field)
    if len(set(names)) != len(names):
        raise InvalidField(field, "a network is named twice")


# ---- containers -----------------------------------------------------------

def check_spec(spec: types_pb2.ContainerSpec) -> list[Constraint]:
    """Validates a container spec (plain or a service's task); returns the parsed constraints."""
    if not spec.image:
        raise InvalidField("IMAGE", "must not be empty")
    if not IMAGE_RE.fullmatch(spec.image):
        raise InvalidField("IMAGE", f'"{show(spec.image)}" is not an image reference')
    _check_args(spec.command, "CMD")
    _check_args(spec.entrypoint, "--entrypoint")
    check_env(spec)
    if len(spec.ports) > MAX_PORTS:
        raise InvalidField("--publish", f"at most {MAX_PORTS} ports")
    seen: dict[tuple[int, str], set[str]] = {}
    for p in spec.ports:
        if p.protocol not in ("tcp", "udp"):
            raise InvalidField("--publish", f'protocol "{show(p.protocol, 20)}" is not tcp or udp')
        if not 1 <= p.container_port <= 65535:
            raise InvalidField("--publish", f"container port {p.container_port} is not in 1-65535")
        if p.host_port > 65535:
            raise InvalidField("--publish", f"host port {p.host_port} is not in 1-65535")
        if p.host_ip:
            try:
                canonical = str(ipaddress.ip_address(p.host_ip))
            except ValueError:
                raise InvalidField("--publish", f'"{show(p.host_ip, 40)}" is not an IP address') from None
            if canonical != p.host_ip:
                raise InvalidField("--publish", f'host IP "{show(p.host_ip, 40)}" is not in canonical form ({canonical})')
        if not p.host_port:
            continue
        # One host port twice: on the same address, or on every address (0.0.0.0) and any other.
        ips = seen.setdefault((p.host_port, p.protocol), set())
        if p.host_ip in ips or (ips and (not p.host_ip or "" in ips)):
            raise InvalidField("--publish", f"host port {p.host_port}/{p.protocol} is published twice")
        ips.add(p.host_ip)
    if spec.memory_bytes < 0:
        raise InvalidField("--memory", "must not be negative")
    if spec.memory_bytes and not MIN_MEMORY <= spec.memory_bytes <= MAX_MEMORY:
        raise InvalidField("--memory", f"{spec.memory_bytes} bytes is out of range (minimum 6m, maximum 1p)")
    if not 0 <= spec.nano_cpus <= MAX_NANO_CPUS:
        raise InvalidField("--cpus", f"is out of range (0 to {MAX_NANO_CPUS // 10**9})")
    check_run_options(spec)
    check_labels(spec.labels, "--label")
    if spec.strategy:
        _check_choice(spec.strategy, STRATEGIES, "--strategy")
    _check_health(spec.health)
    check_network_names(list(spec.networks))
    if len(spec.constraints) > MAX_CONSTRAINTS:
        raise InvalidField("--constraint", f"at most {MAX_CONSTRAINTS} constraints")
    parsed = []
    for expr in spec.constraints:
        if len(expr) > MAX_CONSTRAINT_LEN or not _printable(expr):
            raise InvalidField("--constraint", f'"{show(expr)}": at most {MAX_CONSTRAINT_LEN} characters '
                                               f"without control characters")
        try:
            parsed.append(parse_constraint(expr))
        except ConstraintError as exc:
            raise InvalidField("--constraint", str(exc)) from exc
    return parsed


def check_run(req: manager_pb2.RunRequest) -> list[Constraint]:
    """Validates a run request; returns the parsed constraints."""
    if req.name:
        check_name(req.name, "--name")
    return check_spec(req.spec)


def check_container_ref(req: manager_pb2.ContainerRef) -> None:
    check_ref(req.ref, "CONTAINER")


def check_stop_timeout(seconds: int) -> None:
    if not 0 <= seconds <= MAX_STOP_SECONDS:
        raise InvalidField("--time", f"{seconds} is out of range: must be seconds from 0 to {MAX_STOP_SECONDS}")


def check_stop(req: manager_pb2.StopRequest) -> None:
    check_ref(req.ref, "CONTAINER")
    check_stop_timeout(req.timeout_seconds)


def check_remove(req: manager_pb2.RemoveRequest) -> None:
    check_ref(req.ref, "CONTAINER")


def check_tail(tail: int) -> None:
    if tail != -1 and not 0 <= tail <= MAX_TAIL:
        raise InvalidField("--tail", f"{tail} is out of range: must be -1 (all) or a number of lines "
                                     f"from 0 to {MAX_TAIL}")


def check_logs(req: manager_pb2.LogsRequest) -> None:
    check_ref(req.ref, "CONTAINER")
    check_tail(req.tail)


# ---- nodes ------------------------------------------------------------------

def check_node_ref(req: manager_pb2.NodeRef) -> None:
    check_ref(req.ref, "NODE")


def check_update_node(req: manager_pb2.UpdateNodeRequest) -> None:
    check_ref(req.ref, "NODE")
    if req.availability:
        _check_choice(req.availability, AVAILABILITIES, "--availability")
    check_labels(req.label_add, "--label-add")
    check_label_keys(req.label_rm, "--label-rm")


def check_remove_node(req: manager_pb2.RemoveNodeRequest) -> None:
    check_ref(req.ref, "ref")


# ---- membership (join tokens, joining, renewal) -------------------------------

def check_join_token_request(req: manager_pb2.JoinTokenRequest) -> None:
    _check_choice(req.role, ROLES, "role")


def _check_csr(csr: bytes) -> None:
    if not csr:
        raise InvalidField("csr", "must not be empty (a PEM certificate signing request)")
    if len(csr) > MAX_CSR_BYTES:
        raise InvalidField("csr", f"{len(csr)} bytes is more than the {MAX_CSR_BYTES} a request may have")


def check_join_request(req: manager_pb2.JoinRequest) -> None:
    """The shape of a join request only: the token's validity is the membership code's to decide.
    The token is a secret, so no message ever quotes it."""
    if not req.token:
        raise InvalidField("token", "must not be empty")
    if len(req.token) > MAX_TOKEN_LEN:
        raise InvalidField("token", f"longer than {MAX_TOKEN_LEN} characters")
    if not req.token.isascii() or not req.token.isprintable() or " " in req.token:
        raise InvalidField("token", "must be printable ASCII without spaces")
    _check_choice(req.role, ROLES, "role")
    if req.role == "agent" or req.node_id:
        if not NODE_ID_RE.fullmatch(req.node_id):
            raise InvalidField("node_id", f'"{show(req.node_id)}" is not a node id (8 to 64 lowercase '
                                          f"letters and digits)")
    _check_csr(req.csr)


def check_renew_request(req: manager_pb2.RenewRequest) -> None:
    _check_csr(req.csr)


# ---- services and stacks ---------------------------------------------------------

def apply_service_defaults(spec: types_pb2.ServiceSpec) -> None:
    if not spec.mode:
        spec.mode = DEFAULT_MODE
    if not spec.restart.condition:
        spec.restart.condition = DEFAULT_RESTART_CONDITION
    if not spec.update.failure_action:
        spec.update.failure_action = DEFAULT_FAILURE_ACTION


def check_service(spec: types_pb2.ServiceSpec) -> None:
    """Raises InvalidField naming the CLI flag of the bad value."""
    check_name(spec.name, "--name")
    _check_choice(spec.mode, MODES, "--mode")
    if spec.mode == "global" and spec.replicas:
        raise InvalidField("--replicas", "not allowed with --mode global")
    if not 0 <= spec.replicas <= MAX_REPLICAS:
        raise InvalidField("--replicas", f"must be an integer from 0 to {MAX_REPLICAS}")
    check_spec(spec.task)
    if spec.mode == "global" and any(m.type == "volume" and m.source for m in spec.task.mounts):
        raise InvalidField("--mount", "a global service cannot mount a named volume yet (a volume lives on one "
                                      "node); use a bind mount or an anonymous volume")
    if spec.task.ipc.startswith("container:") or spec.task.volumes_from:
        raise InvalidField("--ipc" if spec.task.ipc.startswith("container:") else "--volumes-from",
                           "a service's tasks cannot share another container's namespace or volumes (it may move)")
    if spec.task.restart or spec.task.restart_max_retries:
        raise InvalidField("--restart", "a service's tasks are restarted by the cluster, not their engine "
                                        "(--restart-condition, --restart-max-attempts)")
    r = spec.restart
    if r.condition:
        _check_choice(r.condition, RESTART_CONDITIONS, "--restart-condition")
    if not 0 <= r.max_attempts <= MAX_RESTART_ATTEMPTS:
        raise InvalidField("--restart-max-attempts", f"must be an integer from 0 to {MAX_RESTART_ATTEMPTS}")
    for flag, value in (("--restart-delay", r.delay_ns), ("--restart-window", r.window_ns),
                        ("--update-delay", spec.update.delay_ns), ("--update-monitor", spec.update.monitor_ns),
                        ("--stop-grace-period", spec.stop_grace_ns)):
        _check_duration(value, flag)
    if not 0 <= spec.update.parallelism <= MAX_REPLICAS:
        raise InvalidField("--update-parallelism", f"must be an integer from 0 to {MAX_REPLICAS}")
    if spec.update.failure_action:
        _check_choice(spec.update.failure_action, FAILURE_ACTIONS, "--update-failure-action")
    if len(spec.preferences) > MAX_PREFERENCES:
        raise InvalidField("--placement-pref", f"at most {MAX_PREFERENCES} preferences")
    for pref in spec.preferences:
        key = pref.spread[len("node.labels."):] if pref.spread.startswith("node.labels.") else ""
        if not LABEL_KEY_RE.fullmatch(key):
            raise InvalidField("--placement-pref", f'"spread={show(pref.spread, 60)}" must be spread=node.labels.KEY')
    if spec.stack:
        check_name(spec.stack, "stack")


def check_service_ref(req: manager_pb2.ServiceRef) -> None:
    check_ref(req.ref, "SERVICE")


def check_service_tasks(req: manager_pb2.ServiceTasksRequest) -> None:
    check_ref(req.ref, "SERVICE")


def check_list_services(req: manager_pb2.ListServicesRequest) -> None:
    if req.stack:
        check_name(req.stack, "STACK")


def check_update_service(req: manager_pb2.UpdateServiceRequest) -> None:
    """The request's own fields; the spec is checked by check_service once the stored
    name, stack and secret values are filled in."""
    check_ref(req.ref, "SERVICE")
    if req.version < 0:
        raise InvalidField("version", f"{req.version} is negative")


def check_replicas(replicas: int) -> None:
    if not 0 <= replicas <= MAX_REPLICAS:
        raise InvalidField("REPLICAS", f"{replicas} is out of range: must be an integer from 0 to {MAX_REPLICAS}")


def check_scale(req: manager_pb2.ScaleServiceRequest) -> None:
    check_ref(req.ref, "SERVICE")
    check_replicas(req.replicas)


# The stack file's words for the fields check_service names by their CLI flag.
STACK_PATHS = {
    "--name": "name", "--mode": "deploy.mode", "--replicas": "deploy.replicas", "IMAGE": "image",
    "CMD": "command", "--entrypoint": "entrypoint", "--env": "environment", "--secret-env": "environment",
    "--publish": "ports", "--memory": "deploy.resources.limits.memory",
    "--cpus": "deploy.resources.limits.cpus", "--label": "labels", "--constraint": "deploy.placement.constraints",
    "--strategy": "deploy.placement", "--restart-condition": "deploy.restart_policy.condition",
    "--restart-max-attempts": "deploy.restart_policy.max_attempts", "--restart-delay": "deploy.restart_policy.delay",
    "--restart-window": "deploy.restart_policy.window", "--update-parallelism": "deploy.update_config.parallelism",
    "--update-delay": "deploy.update_config.delay", "--update-failure-action": "deploy.update_config.failure_action",
    "--update-monitor": "deploy.update_config.monitor", "--placement-pref": "deploy.placement.preferences",
    "--health-cmd": "healthcheck.test",
    "--health-interval": "healthcheck.interval", "--health-timeout": "healthcheck.timeout",
    "--health-retries": "healthcheck.retries", "--health-start-period": "healthcheck.start_period",
    "--stop-grace-period": "stop_grace_period", "--network": "networks",
    "--reserve-memory": "deploy.resources.reservations.memory", "--reserve-cpus": "deploy.resources.reservations.cpus",
    "--user": "user", "--group-add": "group_add", "--cap-add": "cap_add", "--cap-drop": "cap_drop",
    "--privileged": "privileged", "--read-only": "read_only", "--security-opt": "security_opt",
    "--hostname": "hostname", "--dns": "dns", "--dns-search": "dns_search", "--dns-option": "dns_opt",
    "--add-host": "extra_hosts", "--workdir": "working_dir", "--init": "init", "--stop-signal": "stop_signal",
    "--cpu-shares": "cpu_shares", "--cpuset-cpus": "cpuset", "--pids-limit": "pids_limit", "--ulimit": "ulimits",
    "--volume": "volumes", "--mount": "volumes", "--device": "devices", "--stop-timeout": "stop_grace_period", "--sysctl": "sysctls", "--shm-size": "shm_size", "--tmpfs": "tmpfs", "--ipc": "ipc", "--pid": "pid",
    "--expose": "expose", "--platform": "platform", "--env-file": "env_file",
    "--label-file": "label_file", "--no-healthcheck": "healthcheck.disable",
}


def stack_network(stack: str) -> str:
    """The overlay network a stack's services share unless they name their own."""
    return f"{stack}_default"


def check_deploy_stack(req: manager_pb2.DeployStackRequest) -> dict[str, types_pb2.ServiceSpec]:
    """Validates a whole stack; returns {full service name: full spec, defaults applied}.
    Problems in a service are named by their stack file path (services.web.ports: ...)."""
    check_name(req.name, "NAME")
    if not req.services:
        raise InvalidField("services", "a stack needs at least one service")
    if len(req.services) > MAX_STACK_SERVICES:
        raise InvalidField("services", f"at most {MAX_STACK_SERVICES} services in a stack")
    default_net = stack_network(req.name)
    wanted: dict[str, types_pb2.ServiceSpec] = {}
    for spec in req.services:
        check_name(spec.name, "services")
        full = types_pb2.ServiceSpec()
        full.CopyFrom(spec)
        full.name = f"{req.name}_{spec.name}"
        full.stack = req.name
        if not full.task.networks:
            if not NAME_RE.fullmatch(default_net):
                raise InvalidField("NAME", f"at most {63 - len('_default')} characters for a stack whose "
                                           f"services share its default network {show(default_net)}")
            full.task.networks.append(default_net)
        apply_service_defaults(full)
        if full.name in wanted:
            raise InvalidField(f"services.{spec.name}", "the service is listed twice")
        try:
            check_service(full)
        except InvalidField as exc:
            raise InvalidField(f"services.{spec.name}.{STACK_PATHS.get(exc.field, exc.field)}", exc.reason) from exc
        wanted[full.name] = full
    return wanted


def check_stack_ref(req: manager_pb2.StackRef) -> None:
    check_name(req.name, "NAME")


# ---- networks ---------------------------------------------------------------

def check_network_ref(req: manager_pb2.NetworkRef) -> None:
    check_ref(req.ref, "NETWORK")


def check_create_network(req: manager_pb2.CreateNetworkRequest) -> ipaddress.IPv4Network | None:
    """Returns the parsed subnet (None: the manager picks one)."""
    check_name(req.name, "NAME")
    if req.name in ("host", "none", "bridge"):
        raise InvalidField("NAME", f'"{req.name}" is reserved (--network {req.name} means the engine\'s own)')
    if req.driver:
        if len(req.driver) > MAX_DRIVER_LEN or req.driver not in DRIVERS:
            raise InvalidField("--driver", f'"{show(req.driver, MAX_DRIVER_LEN)}" is not supported '
                                           f'({", ".join(DRIVERS)})')
    if not req.subnet:
        return None
    if not SUBNET_RE.fullmatch(req.subnet):
        raise InvalidField("--subnet", f'"{show(req.subnet, 40)}" is not a network (IPv4 in CIDR form: A.B.C.D/N)')
    try:
        subnet = ipaddress.ip_network(req.subnet, strict=True)
    except ValueError as exc:
        raise InvalidField("--subnet", f'"{req.subnet}" is not a network ({show(str(exc), 120)})') from None
    if subnet.version != 4 or not 16 <= subnet.prefixlen <= 28 or not subnet.is_private:
        raise InvalidField("--subnet", f"{subnet} must be a private IPv4 network from /16 to /28")
    return subnet


# ---- volumes --------------------------------------------------------------

def check_volume_name(value: str, field: str = "NAME") -> str:
    if not VOLUME_NAME_RE.fullmatch(value):
        raise InvalidField(field, f'"{show(value)}" is not a valid volume name ({VOLUME_NAME_RULE})')
    return value


def check_create_volume(req: manager_pb2.CreateVolumeRequest) -> None:
    check_volume_name(req.name)
    if len(req.name) > 63:
        raise InvalidField("NAME", "at most 63 characters (a service's slot volumes add .N)")
    check_labels(req.labels, "--label")
    check_volume_driver(req.driver, req.options, {}, "--opt")
    if req.node:
        check_ref(req.node, "--node")
