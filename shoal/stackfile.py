"""A Compose-file subset -> Shoal ServiceSpecs. Pure: text in, protobuf messages out.

Every problem is a StackFileError whose message is ONE line, "<dotted.path>: <reason>", with
list indexes as path components ("services.web.ports.1"). The first problem found is raised;
the order is deterministic (services sorted by name, keys checked in a fixed order).

Keys Shoal does not support are not errors: they are collected and reported in one warning,
"unsupported keys ignored: a, b.c". Compose extension keys ("x-...") and the top-level
"version" are ignored silently.
"""
from __future__ import annotations

import ipaddress
import math
import re
import shlex
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import yaml

from shoal.protos.shoal.v1 import types_pb2
from shoal.durations import parse_duration
from shoal.protos.spec_rules import (
    FAILURE_ACTIONS, HEALTH_KINDS, MODES, MOUNT_TYPES, NAME_RE, NAME_RULE, PROTOCOLS, RESTART_CONDITIONS, RESTART_DEFAULTS,
    UPDATE_DEFAULTS,
)
from shoal.run_flags import parse_host_entry, parse_sysctl, parse_tmpfs, parse_volume
from shoal.units import SIZE_EXAMPLES, parse_publish, parse_size

__all__ = ["StackFileError", "ParsedStack", "parse_stack"]

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
RESERVED_LABEL_PREFIX = "io.shoal."

PORT_MODES = ("ingress", "host")

_TOP_KEYS = ("version", "services", "volumes")
_VOLUME_KEYS = ("driver", "driver_opts", "labels", "external", "name")
_MOUNT_KEYS = ("type", "source", "target", "read_only", "tmpfs", "volume", "bind")
# `docker run`'s isolation and runtime options, as Compose names them -> ContainerSpec fields.
_FLAG_KEYS = {"privileged": "privileged", "read_only": "read_only", "init": "init"}
_TEXT_KEYS = {"user": "user", "hostname": "hostname", "working_dir": "workdir", "stop_signal": "stop_signal",
              "ipc": "ipc", "pid": "pid", "cpuset": "cpuset_cpus", "network_mode": "network_mode",
              "platform": "platform"}
_LIST_KEYS = {"dns": "dns", "dns_search": "dns_search", "dns_opt": "dns_option", "cap_add": "cap_add",
              "cap_drop": "cap_drop", "group_add": "group_add", "security_opt": "security_opt", "devices": "devices"}
_NUMBER_KEYS = {"cpu_shares": "cpu_shares", "pids_limit": "pids_limit"}
_SERVICE_KEYS = ("image", "command", "entrypoint", "environment", "ports", "labels", "healthcheck", "deploy",
                 "stop_grace_period", "volumes", "tmpfs", "extra_hosts", "ulimits", "sysctls", "shm_size", "expose",
                 "env_file",
                 *_FLAG_KEYS, *_TEXT_KEYS, *_LIST_KEYS, *_NUMBER_KEYS)
_DEPLOY_KEYS = ("mode", "replicas", "placement", "resources", "restart_policy", "update_config")
_PLACEMENT_KEYS = ("constraints", "preferences")
_PREFERENCE_KEYS = ("spread",)
_RESOURCES_KEYS = ("limits", "reservations")
_RESOURCE_KEYS = ("cpus", "memory")
_RESTART_KEYS = ("condition", "delay", "max_attempts", "window")
_UPDATE_KEYS = ("parallelism", "delay", "failure_action", "monitor")
_HEALTH_KEYS = ("test", "interval", "timeout", "start_period", "retries", "disable")
_PORT_KEYS = ("target", "published", "protocol", "mode", "host_ip")

_PORT_NUMBER = re.compile(r"[0-9]{1,5}")
_CPUS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

_DURATION_HINT = "(examples: 10s, 1m30s, 500ms)"


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines())


def _q(value: Any) -> str:
    """A user value quoted for a message, shortened and on one line."""
    text = _one_line(str(value))
    if len(text) > 80:
        text = text[:77] + "..."
    return f'"{text}"'


class StackFileError(ValueError):
    """One problem in a stack file. str(e) is one line: "<path>: <reason>"."""

    def __init__(self, path: str, reason: str):
        self.path = _one_line(path)
        self.reason = _one_line(reason)
        super().__init__(f"{self.path}: {self.reason}")


@dataclass(frozen=True)
class ParsedStack:
    services: list[types_pb2.ServiceSpec] = field(default_factory=list)  # sorted by name
    warnings: list[str] = field(default_factory=list)


EnvFileReader = Callable[[str], list[tuple[str, str]]]


def parse_stack(text: str, *, source: str = "stack file", stack: str = "",
                read_env_file: EnvFileReader | None = None) -> ParsedStack:
    """Parses a Compose file's text. Raises StackFileError for the first problem found. `stack`:
    the stack's name, which prefixes its volumes' names (`<stack>_<volume>`, as Compose does).
    read_env_file: env_file's reader (a name as the file gives it -> its K=V pairs, ValueError with
    the reason); without one, env_file is refused."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StackFileError(source, _yaml_reason(exc)) from None
    return _Parser(stack, read_env_file).stack(doc, source)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if mark is not None and problem:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if isinstance(exc, yaml.reader.ReaderError):  # bad bytes/characters: has a position, no mark
        return f"invalid YAML at character {exc.position}: {exc.reason}"
    return f"invalid YAML: {exc}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Parser:
    def __init__(self, stack: str = "", read_env_file: EnvFileReader | None = None) -> None:
        self.read_env_file = read_env_file
        self.unsupported: list[str] = []
        self.warnings: list[str] = []
        self.stack_name = stack
        self.volumes: dict[str, types_pb2.Mount] = {}   # declared name -> the volume's name and driver

    # ---- generic helpers -------------------------------------------------------------------

    def mapping(self, value: Any, path: str, known: tuple[str, ...]) -> dict:
        """value as a dict (None -> {}); keys outside `known` are recorded as unsupported."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise StackFileError(path, "must be a mapping")
        for key in value:
            if key in known:
                continue
            if isinstance(key, str) and key.startswith("x-"):
                continue  # Compose extension fields are for the user, ignored by design
            self.unsupported.append(f"{path}.{key}")
        return value

    @staticmethod
    def sequence(value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise StackFileError(path, "must be a list")
        return value

    @staticmethod
    def string(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise StackFileError(path, "must be a string")
        return value

    @staticmethod
    def count(value: Any, path: str) -> int:
        """An int32 >= 0 (no bools, no strings, no floats)."""
        if not _is_int(value) or value < 0:
            raise StackFileError(path, "must be an integer >= 0")
        if value > INT32_MAX:
            raise StackFileError(path, f"must be at most {INT32_MAX}")
        return value

    @staticmethod
    def duration(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise StackFileError(path, f"must be a duration {_DURATION_HINT}")
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            raise StackFileError(path, str(exc)) from None

    @staticmethod
    def choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise StackFileError(path, f"must be one of {', '.join(choices)}")
        if value not in choices:
            raise StackFileError(path, f"{_q(value)} is not one of {', '.join(choices)}")
        return value

    @staticmethod
    def scalar_text(value: Any, path: str) -> str:
        """A mapping value for environment/labels: str/int/float/bool -> str; None -> ""."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise StackFileError(path, "must be a string, number, boolean or null")

    # ---- the document ----------------------------------------------------------------------

    def stack(self, doc: Any, source: str) -> ParsedStack:
        if doc is None:
            raise StackFileError("services", "required")
        if not isinstance(doc, dict):
            raise StackFileError(source, "the top level must be a mapping with a services key")
        for key in doc:
            if key in _TOP_KEYS or (isinstance(key, str) and key.startswith("x-")):
                continue
            self.unsupported.append(str(key))
        if doc.get("volumes") is not None:
            self.volumes.update(self.top_volumes(doc["volumes"]))
        services = doc.get("services")
        if services is None:
            raise StackFileError("services", "required")
        if not isinstance(services, dict):
            raise StackFileError("services", "must be a mapping of service names to services")
        if not services:
            raise StackFileError("services", "must define at least one service")

        specs = []
        for key in sorted(services, key=str):
            name = key if isinstance(key, str) else str(key)
            path = f"services.{name}"
            if not isinstance(key, str):
                raise StackFileError(path, f"service names must be strings (quote it: {_q(name)})")
            if not NAME_RE.fullmatch(key):
                raise StackFileError(
                    path,
                    f"{_q(name)} is not a valid service name ({NAME_RULE} characters)",
                )
            specs.append(self.service(name, services[key], path))

        warnings = list(self.warnings)
        if self.unsupported:
            warnings.append("unsupported keys ignored: " + ", ".join(sorted(set(self.unsupported))))
        return ParsedStack(services=specs, warnings=warnings)

    def service(self, name: str, value: Any, path: str) -> types_pb2.ServiceSpec:
        svc = self.mapping(value, path, _SERVICE_KEYS)
        task = types_pb2.ContainerSpec()

        image = svc.get("image")
        if image is None:
            raise StackFileError(f"{path}.image", "required")
        task.image = self.string(image, f"{path}.image")
        if not task.image.strip():
            raise StackFileError(f"{path}.image", "must not be empty")

        if svc.get("command") is not None:
            task.command.extend(self.argv(svc["command"], f"{path}.command"))
        if svc.get("entrypoint") is not None:
            task.entrypoint.extend(self.argv(svc["entrypoint"], f"{path}.entrypoint"))
        if svc.get("env_file") is not None:
            task.env.update(self.env_files(svc["env_file"], f"{path}.env_file"))
        if svc.get("environment") is not None:   # after env_file: environment wins, as in Compose
            task.env.update(self.environment(svc["environment"], f"{path}.environment"))
        if svc.get("expose") is not None:
            for i, item in enumerate(self.sequence(svc["expose"], f"{path}.expose")):
                task.expose.extend(p for p in self.exposed(item, f"{path}.expose.{i}") if p not in task.expose)
        if svc.get("ports") is not None:
            for i, item in enumerate(self.sequence(svc["ports"], f"{path}.ports")):
                task.ports.extend(self.port(item, f"{path}.ports.{i}"))
        if svc.get("labels") is not None:
            task.labels.update(self.labels(svc["labels"], f"{path}.labels"))
        if svc.get("volumes") is not None:
            for i, item in enumerate(self.sequence(svc["volumes"], f"{path}.volumes")):
                task.mounts.append(self.service_volume(item, f"{path}.volumes.{i}"))
        if svc.get("healthcheck") is not None:
            health = self.healthcheck(svc["healthcheck"], f"{path}.healthcheck")
            if health is not None:
                task.health.CopyFrom(health)

        self.run_options(svc, path, task)

        spec = types_pb2.ServiceSpec(name=name, mode="replicated", replicas=1)
        spec.restart.CopyFrom(types_pb2.RestartPolicy(**RESTART_DEFAULTS))
        spec.update.CopyFrom(types_pb2.UpdateConfig(**UPDATE_DEFAULTS))
        self.deploy(svc.get("deploy"), f"{path}.deploy", spec, task)
        if svc.get("stop_grace_period") is not None:
            spec.stop_grace_ns = self.duration(svc["stop_grace_period"], f"{path}.stop_grace_period")
        spec.task.CopyFrom(task)
        return spec

    # ---- container fields ------------------------------------------------------------------

    def run_options(self, svc: dict, path: str, task: types_pb2.ContainerSpec) -> None:
        """The isolation and runtime keys; their values are checked again by the manager (one set of rules)."""
        for key, target in _FLAG_KEYS.items():
            if svc.get(key) is not None:
                if not isinstance(svc[key], bool):
                    raise StackFileError(f"{path}.{key}", "must be true or false")
                setattr(task, target, svc[key])
        for key, target in _TEXT_KEYS.items():
            if svc.get(key) is not None:
                setattr(task, target, self.scalar_text(svc[key], f"{path}.{key}"))
        for key, target in _LIST_KEYS.items():
            if svc.get(key) is not None:
                items = [svc[key]] if isinstance(svc[key], (str, int)) else self.sequence(svc[key], f"{path}.{key}")
                getattr(task, target).extend(self.scalar_text(v, f"{path}.{key}.{i}") for i, v in enumerate(items))
        for key, target in _NUMBER_KEYS.items():
            if svc.get(key) is not None:
                if not _is_int(svc[key]):
                    raise StackFileError(f"{path}.{key}", "must be an integer")
                setattr(task, target, svc[key])
        if svc.get("shm_size") is not None:
            task.shm_size_bytes = _memory_bytes(svc["shm_size"], f"{path}.shm_size")
        if svc.get("tmpfs") is not None:
            items = [svc["tmpfs"]] if isinstance(svc["tmpfs"], str) else self.sequence(svc["tmpfs"], f"{path}.tmpfs")
            for i, item in enumerate(items):
                target, size, mode, flags = self.parsed(parse_tmpfs, self.string(item, f"{path}.tmpfs.{i}"),
                                                        f"{path}.tmpfs.{i}")
                task.tmpfs.append(types_pb2.TmpfsMount(target=target, size_bytes=size, mode=mode, options=list(flags)))
        if svc.get("extra_hosts") is not None:
            hosts = svc["extra_hosts"]
            if isinstance(hosts, dict):
                task.extra_hosts.extend(f"{name}:{self.scalar_text(ip, f'{path}.extra_hosts.{name}')}"
                                        for name, ip in hosts.items())
            else:
                for i, item in enumerate(self.sequence(hosts, f"{path}.extra_hosts")):
                    task.extra_hosts.append(self.parsed(parse_host_entry, self.string(item, f"{path}.extra_hosts.{i}"),
                                                        f"{path}.extra_hosts.{i}"))
        if svc.get("ulimits") is not None:
            if not isinstance(svc["ulimits"], dict):
                raise StackFileError(f"{path}.ulimits", "must be a mapping of ulimit names to limits")
            for name, limit in svc["ulimits"].items():
                task.ulimits.append(self.ulimit(str(name), limit, f"{path}.ulimits.{name}"))
        if svc.get("sysctls") is not None:
            sysctls = svc["sysctls"]
            if isinstance(sysctls, dict):
                task.sysctls.update({str(k): self.scalar_text(v, f"{path}.sysctls.{k}") for k, v in sysctls.items()})
            else:
                for i, item in enumerate(self.sequence(sysctls, f"{path}.sysctls")):
                    key, value = self.parsed(parse_sysctl, self.string(item, f"{path}.sysctls.{i}"), f"{path}.sysctls.{i}")
                    task.sysctls[key] = value

    def top_volumes(self, value: Any) -> list[tuple[str, types_pb2.Mount]]:
        """The top-level volumes: each becomes the named volume its mounts use (<stack>_<key> unless
        `name:` or `external:` says otherwise), with its driver options and labels."""
        if not isinstance(value, dict):
            raise StackFileError("volumes", "must be a mapping of volume names to volumes")
        out = []
        for key, body in value.items():
            path = f"volumes.{key}"
            spec = self.mapping(body, path, _VOLUME_KEYS)
            external = spec.get("external", False)
            if not isinstance(external, bool):
                raise StackFileError(f"{path}.external", "must be true or false")
            name = self.string(spec["name"], f"{path}.name") if spec.get("name") is not None else (
                str(key) if external or not self.stack_name else f"{self.stack_name}_{key}")
            mount = types_pb2.Mount(type="volume", source=name)
            if spec.get("driver") is not None:
                mount.driver = self.string(spec["driver"], f"{path}.driver")
            if spec.get("driver_opts") is not None:
                opts = spec["driver_opts"]
                if not isinstance(opts, dict):
                    raise StackFileError(f"{path}.driver_opts", "must be a mapping")
                mount.driver_options.update({str(k): self.scalar_text(v, f"{path}.driver_opts.{k}")
                                             for k, v in opts.items()})
            if spec.get("labels") is not None:
                mount.volume_labels.update(self.labels(spec["labels"], f"{path}.labels"))
            out.append((str(key), mount))
        return out

    def service_volume(self, item: Any, path: str) -> types_pb2.Mount:
        """`data:/var/lib/db:ro`, `/srv:/srv`, `/cache`, or the long form {type, source, target, read_only, tmpfs}."""
        if isinstance(item, str):
            kind, source, target, readonly = self.parsed(parse_volume, item, path)
            fields = {"type": kind, "source": source, "target": target, "read_only": readonly, "short": True}
        elif isinstance(item, dict):
            fields = self.mapping(item, path, _MOUNT_KEYS)
            if fields.get("target") is None:
                raise StackFileError(f"{path}.target", "required")
            if fields.get("read_only") is not None and not isinstance(fields["read_only"], bool):
                raise StackFileError(f"{path}.read_only", "must be true or false")
        else:
            raise StackFileError(path, 'must be a string ("data:/var/lib/db") or a mapping with type, source and target')
        kind = self.choice(fields.get("type", "volume"), f"{path}.type", MOUNT_TYPES)
        mount = types_pb2.Mount(type=kind, target=self.string(fields["target"], f"{path}.target"),
                                readonly=bool(fields.get("read_only")))
        source = fields.get("source")
        if source:
            source = self.string(source, f"{path}.source")
            if kind == "volume":
                declared = self.volumes.get(source)
                if declared is None:
                    raise StackFileError(f"{path}.source", f'volume "{source}" is not declared in the top-level volumes')
                mount.CopyFrom(declared)
                mount.target, mount.readonly = self.string(fields["target"], f"{path}.target"), bool(fields.get("read_only"))
            else:
                mount.source = source
                mount.create_host_path = bool(fields.get("short")) or bool(
                    isinstance(fields.get("bind"), dict) and fields["bind"].get("create_host_path"))
        if kind == "tmpfs" and isinstance(fields.get("tmpfs"), dict) and fields["tmpfs"].get("size") is not None:
            mount.tmpfs_size_bytes = _memory_bytes(fields["tmpfs"]["size"], f"{path}.tmpfs.size")
        return mount

    @staticmethod
    def parsed(parser, text: str, path: str):
        try:
            return parser(text)
        except ValueError as exc:
            raise StackFileError(path, str(exc)) from None

    def ulimit(self, name: str, value: Any, path: str) -> types_pb2.Ulimit:
        """nofile: 1024, or nofile: {soft: 1024, hard: 2048}."""
        if _is_int(value):
            return types_pb2.Ulimit(name=name, soft=value, hard=value)
        limits = self.mapping(value, path, ("soft", "hard"))
        if not _is_int(limits.get("soft")) or not _is_int(limits.get("hard")):
            raise StackFileError(path, "must be a number or a mapping with soft and hard numbers")
        return types_pb2.Ulimit(name=name, soft=limits["soft"], hard=limits["hard"])

    def argv(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise StackFileError(path, f"cannot be split into arguments: {exc}") from None
        if isinstance(value, list):
            for i, arg in enumerate(value):
                if not isinstance(arg, str):
                    raise StackFileError(f"{path}.{i}", "must be a string (quote it)")
            return list(value)
        raise StackFileError(path, "must be a string or a list of strings")

    def environment(self, value: Any, path: str) -> dict[str, str]:
        env: dict[str, str] = {}
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or not key:
                    raise StackFileError(f"{path}.{key}", "variable names must be non-empty strings")
                env[key] = self.scalar_text(item, f"{path}.{key}")
            return env
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise StackFileError(f"{path}.{i}", "must be a KEY=VALUE string")
                key, sep, val = item.partition("=")
                if not key:
                    raise StackFileError(f"{path}.{i}", f"{_q(item)} has no variable name")
                if not sep:
                    raise StackFileError(
                        f"{path}.{i}",
                        f"{_q(item)} has no value; a value is required (KEY=VALUE), "
                        "taking it from the shell is not supported",
                    )
                env[key] = val
            return env
        raise StackFileError(path, "must be a mapping or a list of KEY=VALUE strings")

    def labels(self, value: Any, path: str) -> dict[str, str]:
        labels: dict[str, str] = {}
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or not key:
                    raise StackFileError(f"{path}.{key}", "label keys must be non-empty strings")
                self.check_label_key(key, f"{path}.{key}")
                labels[key] = self.scalar_text(item, f"{path}.{key}")
            return labels
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise StackFileError(f"{path}.{i}", "must be a KEY=VALUE string")
                key, _, val = item.partition("=")  # a bare KEY is an empty value, as in Compose
                if not key:
                    raise StackFileError(f"{path}.{i}", f"{_q(item)} has no label key")
                self.check_label_key(key, f"{path}.{i}")
                labels[key] = val
            return labels
        raise StackFileError(path, "must be a mapping or a list of KEY=VALUE strings")

    @staticmethod
    def check_label_key(key: str, path: str) -> None:
        if key.startswith(RESERVED_LABEL_PREFIX):
            raise StackFileError(path, f"{_q(key)}: the {RESERVED_LABEL_PREFIX} prefix is reserved")

    def port(self, item: Any, path: str) -> list[types_pb2.PortMapping]:
        if _is_int(item):
            if not 1 <= item <= 65535:
                raise StackFileError(path, f"{_q(item)} is not a valid port")
            return [types_pb2.PortMapping(host_port=0, container_port=item, protocol="tcp")]
        if isinstance(item, str):
            return self.short_port(item, path)
        if isinstance(item, dict):
            return [self.long_port(item, path)]
        raise StackFileError(path, "must be a port string (\"8080:80/tcp\"), a port number or a mapping")

    @staticmethod
    def short_port(text: str, path: str) -> list[types_pb2.PortMapping]:
        """Compose's short syntax is docker run -p's: [IP:][HOST:]CONTAINER[/PROTOCOL], with ranges."""
        try:
            mappings = parse_publish(text)
        except ValueError as exc:
            raise StackFileError(path, str(exc)) from None
        return [types_pb2.PortMapping(host_port=h, container_port=c, protocol=p, host_ip=ip) for h, c, p, ip in mappings]

    def env_files(self, value: Any, path: str) -> dict[str, str]:
        names = [value] if isinstance(value, str) else self.sequence(value, path)
        env: dict[str, str] = {}
        for i, name in enumerate(names):
            where = path if isinstance(value, str) else f"{path}.{i}"
            if not isinstance(name, str) or not name:
                raise StackFileError(where, "must be a file name")
            if self.read_env_file is None:
                raise StackFileError(where, "env files can only be read from a stack file on disk")
            try:
                env.update(self.read_env_file(name))
            except ValueError as exc:
                raise StackFileError(where, str(exc)) from None
        return env

    @staticmethod
    def exposed(item: Any, path: str) -> list[str]:
        text = str(item) if _is_int(item) else item
        if not isinstance(text, str) or ":" in text:
            raise StackFileError(path, f"{_q(item)} is not PORT[/PROTOCOL] or a range A-B")
        try:
            return [f"{port}/{proto}" for _, port, proto, _ in parse_publish(text)]
        except ValueError as exc:
            raise StackFileError(path, str(exc)) from None

    def long_port(self, item: dict, path: str) -> types_pb2.PortMapping:
        self.mapping(item, path, _PORT_KEYS)
        if item.get("target") is None:
            raise StackFileError(f"{path}.target", "required")
        target = self.port_number(item["target"], f"{path}.target")
        published = 0
        if item.get("published") is not None:
            published = self.port_number(item["published"], f"{path}.published")
        protocol = "tcp"
        if item.get("protocol") is not None:
            protocol = self.choice(item["protocol"], f"{path}.protocol", PROTOCOLS)
        if item.get("mode") is not None:
            self.choice(item["mode"], f"{path}.mode", PORT_MODES)  # checked, then ignored
        host_ip = ""
        if item.get("host_ip") is not None:
            text = self.string(item["host_ip"], f"{path}.host_ip")
            try:
                host_ip = str(ipaddress.ip_address(text.strip("[]")))
            except ValueError:
                raise StackFileError(f"{path}.host_ip", f"{_q(text)} is not an IP address") from None
        return types_pb2.PortMapping(host_port=published, container_port=target, protocol=protocol, host_ip=host_ip)

    @staticmethod
    def port_number(value: Any, path: str) -> int:
        if _is_int(value) and 1 <= value <= 65535:
            return value
        if isinstance(value, str):
            if "-" in value.strip("-"):
                raise StackFileError(path, f"{_q(value)}: port ranges are not supported; publish each port separately")
            if _valid_port_text(value):
                return int(value)
        raise StackFileError(path, f"{_q(value)} is not a valid port")

    def healthcheck(self, value: Any, path: str) -> types_pb2.HealthCheck | None:
        hc = self.mapping(value, path, _HEALTH_KEYS)
        disabled = False
        if hc.get("disable") is not None:
            if not isinstance(hc["disable"], bool):
                raise StackFileError(f"{path}.disable", "must be true or false")
            disabled = hc["disable"]

        test: list[str] | None = None
        if hc.get("test") is not None:
            test = self.health_test(hc["test"], f"{path}.test")
        health = types_pb2.HealthCheck()
        if hc.get("interval") is not None:
            health.interval_ns = self.duration(hc["interval"], f"{path}.interval")
        if hc.get("timeout") is not None:
            health.timeout_ns = self.duration(hc["timeout"], f"{path}.timeout")
        if hc.get("start_period") is not None:
            health.start_period_ns = self.duration(hc["start_period"], f"{path}.start_period")
        if hc.get("retries") is not None:
            health.retries = self.count(hc["retries"], f"{path}.retries")

        if disabled:
            if test and test[0] != "NONE":
                raise StackFileError(f"{path}.disable", "cannot be combined with a test")
            return None
        if test is None:
            # Shoal's HealthCheck has no "keep the image's test, change the timings".
            raise StackFileError(f"{path}.test", "required (or disable: true)")
        if test[0] == "NONE":
            return None
        health.test.extend(test)
        return health

    @staticmethod
    def health_test(value: Any, path: str) -> list[str]:
        if isinstance(value, str):
            if not value.strip():
                raise StackFileError(path, "must not be empty")
            return ["CMD-SHELL", value]
        if not isinstance(value, list):
            raise StackFileError(path, "must be a string or a list of strings")
        if not value:
            raise StackFileError(path, "must not be empty")
        for i, arg in enumerate(value):
            if not isinstance(arg, str):
                raise StackFileError(f"{path}.{i}", "must be a string (quote it)")
        if value[0] not in HEALTH_KINDS:
            raise StackFileError(f"{path}.0", f"{_q(value[0])} is not one of {', '.join(HEALTH_KINDS)}")
        if value[0] != "NONE" and len(value) < 2:
            raise StackFileError(path, f"{value[0]} needs a command after it")
        return list(value)

    # ---- deploy ----------------------------------------------------------------------------

    def deploy(self, value: Any, path: str, spec: types_pb2.ServiceSpec, task: types_pb2.ContainerSpec) -> None:
        deploy = self.mapping(value, path, _DEPLOY_KEYS)
        if deploy.get("mode") is not None:
            spec.mode = self.choice(deploy["mode"], f"{path}.mode", MODES)
        if spec.mode == "global":
            spec.replicas = 0
            if deploy.get("replicas") is not None:
                raise StackFileError(f"{path}.replicas", "not allowed with mode global")
        elif deploy.get("replicas") is not None:
            spec.replicas = self.count(deploy["replicas"], f"{path}.replicas")

        if deploy.get("placement") is not None:
            self.placement(deploy["placement"], f"{path}.placement", spec, task)
        if deploy.get("resources") is not None:
            self.resources(deploy["resources"], f"{path}.resources", task)
        if deploy.get("restart_policy") is not None:
            self.restart_policy(deploy["restart_policy"], f"{path}.restart_policy", spec.restart)
        if deploy.get("update_config") is not None:
            self.update_config(deploy["update_config"], f"{path}.update_config", spec.update)

    def placement(self, value: Any, path: str, spec: types_pb2.ServiceSpec, task: types_pb2.ContainerSpec) -> None:
        placement = self.mapping(value, path, _PLACEMENT_KEYS)
        if placement.get("constraints") is not None:
            items = self.sequence(placement["constraints"], f"{path}.constraints")
            for i, expr in enumerate(items):
                self.string(expr, f"{path}.constraints.{i}")
                if "==" not in expr and "!=" not in expr:
                    raise StackFileError(
                        f"{path}.constraints.{i}", f"{_q(expr)} is not KEY==VALUE or KEY!=VALUE",
                    )
                task.constraints.append(expr)
        if placement.get("preferences") is not None:
            items = self.sequence(placement["preferences"], f"{path}.preferences")
            for i, item in enumerate(items):
                item_path = f"{path}.preferences.{i}"
                if not isinstance(item, dict):
                    raise StackFileError(item_path, "must be a mapping like {spread: node.labels.KEY}")
                pref = self.mapping(item, item_path, _PREFERENCE_KEYS)
                if pref.get("spread") is None:
                    raise StackFileError(f"{item_path}.spread", "required")
                spread = self.string(pref["spread"], f"{item_path}.spread")
                if not spread.startswith("node.labels.") or spread == "node.labels.":
                    raise StackFileError(f"{item_path}.spread", f"{_q(spread)} must be node.labels.KEY")
                spec.preferences.append(types_pb2.PlacementPreference(spread=spread))

    def resources(self, value: Any, path: str, task: types_pb2.ContainerSpec) -> None:
        resources = self.mapping(value, path, _RESOURCES_KEYS)
        given: dict[tuple[str, str], tuple[int, Any]] = {}
        for kind in _RESOURCES_KEYS:
            section = self.mapping(resources.get(kind), f"{path}.{kind}",
                                   (*_RESOURCE_KEYS, "pids") if kind == "limits" else _RESOURCE_KEYS)
            if kind == "limits" and section.get("pids") is not None:
                if not _is_int(section["pids"]):
                    raise StackFileError(f"{path}.limits.pids", "must be an integer")
                task.pids_limit = section["pids"]
            if section.get("cpus") is not None:
                given[kind, "cpus"] = (_nano_cpus(section["cpus"], f"{path}.{kind}.cpus"), section["cpus"])
            if section.get("memory") is not None:
                given[kind, "memory"] = (_memory_bytes(section["memory"], f"{path}.{kind}.memory"), section["memory"])
        # Limits bound the container; reservations are what the scheduler counts (the limit when not given).
        for resource, limit_field, reserve_field in (("cpus", "nano_cpus", "reserve_nano_cpus"),
                                                     ("memory", "memory_bytes", "reserve_memory_bytes")):
            if ("limits", resource) in given:
                setattr(task, limit_field, given["limits", resource][0])
            if ("reservations", resource) in given:
                setattr(task, reserve_field, given["reservations", resource][0])

    def restart_policy(self, value: Any, path: str, restart: types_pb2.RestartPolicy) -> None:
        policy = self.mapping(value, path, _RESTART_KEYS)
        if policy.get("condition") is not None:
            restart.condition = self.choice(policy["condition"], f"{path}.condition", RESTART_CONDITIONS)
        if policy.get("delay") is not None:
            restart.delay_ns = self.duration(policy["delay"], f"{path}.delay")
        if policy.get("max_attempts") is not None:
            restart.max_attempts = self.count(policy["max_attempts"], f"{path}.max_attempts")
        if policy.get("window") is not None:
            restart.window_ns = self.duration(policy["window"], f"{path}.window")

    def update_config(self, value: Any, path: str, update: types_pb2.UpdateConfig) -> None:
        config = self.mapping(value, path, _UPDATE_KEYS)
        if config.get("parallelism") is not None:
            update.parallelism = self.count(config["parallelism"], f"{path}.parallelism")
        if config.get("delay") is not None:
            update.delay_ns = self.duration(config["delay"], f"{path}.delay")
        if config.get("failure_action") is not None:
            update.failure_action = self.choice(config["failure_action"], f"{path}.failure_action", FAILURE_ACTIONS)
        if config.get("monitor") is not None:
            update.monitor_ns = self.duration(config["monitor"], f"{path}.monitor")


def _valid_port_text(text: str) -> bool:
    return bool(_PORT_NUMBER.fullmatch(text)) and 1 <= int(text) <= 65535


def _nano_cpus(value: Any, path: str) -> int:
    """'0.5' or 0.5 -> 500_000_000."""
    bad = StackFileError(path, f"{_q(value)} is not a number of CPUs (examples: 0.5, 2)")
    if isinstance(value, bool):
        raise bad
    if _is_int(value):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise bad
        amount = Decimal(repr(value))
    elif isinstance(value, str) and _CPUS.fullmatch(value.strip()):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise bad from None
    else:
        raise bad
    if amount < 0:
        raise bad
    nanos = int((amount * 1_000_000_000).to_integral_value())
    if nanos > INT64_MAX:
        raise StackFileError(path, f"{_q(value)} is too many CPUs")
    return nanos


def _memory_bytes(value: Any, path: str) -> int:
    """Compose sizes: '64M', '1g', '512m', '100b', 1024 (bytes) -> bytes. Binary units."""
    bad = StackFileError(path, f"{_q(value)} is not a size {SIZE_EXAMPLES}")
    if isinstance(value, bool):
        raise bad
    if _is_int(value):
        if value < 0:
            raise bad
        size = value
    elif isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError as exc:
            whole = "whole number" in str(exc)
            raise (StackFileError(path, f"{_q(value)} is not a whole number of bytes") if whole else bad) from None
    else:
        raise bad
    if size > INT64_MAX:
        raise StackFileError(path, f"{_q(value)} is too large")
    return size
