"""The machine store: one `config.json` per machine under `~/.shoal/machines/NAME/`.

Why it looks like this: Docker Machine's store left hosts half-provisioned and then unusable
(`docker-machine ls` showing "Error" with no reason, a truncated config.json after a crash). So:

- every write is atomic (a temporary file in the same directory, fsync, rename, fsync of the
  directory): a crash or a full disk leaves the previous record, never a part of one;
- the record is saved before the first remote step ("creating") and after every outcome, and a
  failure keeps its step and reason ("error"), so `machine ls` says what went wrong and
  `machine rm` / a retry know where the host stands;
- directories are 0700 and files 0600 (later steps keep certificates next to the record);
- a record that cannot be read is reported with its path, on one line.

The base directory is, in order: the `base_dir` argument, $SHOAL_CONFIG_DIR (read at each call,
so tests and `env SHOAL_CONFIG_DIR=... shoal machine ...` work), `~/.shoal` - the same lookup as
shoal/client.py's context file.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shoal.provisioner.errors import CorruptMachineRecord, InvalidMachineName, MachineNotFound, StoreError, one_line

SCHEMA_VERSION = 1
CONFIG_FILE = "config.json"
STATES = ("creating", "ready", "error")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidMachineName(str(name))
    return name


def now_utc() -> str:
    """A UTC timestamp as stored: 2024-05-01T12:00:00.123456Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class MachineError:
    """Where a failed `machine create` stopped: the step's name and a one-line reason."""

    step: str
    reason: str


@dataclass(frozen=True)
class Machine:
    name: str
    ip: str
    driver: str = "generic"
    ssh_port: int = 22
    ssh_user: str = "root"
    ssh_key: str | None = None  # path of the private key (never its content)
    host_key: str | None = None  # SHA256:... fingerprint verified at creation, pinned afterwards
    labels: dict[str, str] = field(default_factory=dict)
    manager: str | None = None
    etcd: str | None = None  # the etcd URL(s) the agent is given
    agent_args: tuple[str, ...] = ()  # further `shoal agent` flags, as given to `machine create`
    state: str = "creating"
    error: MachineError | None = None
    node_id: str | None = None
    agent_version: str | None = None
    created_at: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.state not in STATES:
            raise ValueError(f"machine state must be one of {', '.join(STATES)}, not {self.state!r}")
        if (self.state == "error") != (self.error is not None):
            raise ValueError("a machine has an error (step, reason) exactly when its state is 'error'")
        if not isinstance(self.ssh_port, int) or isinstance(self.ssh_port, bool) or not 0 < self.ssh_port < 65536:
            raise ValueError(f"ssh_port must be in 1-65535, not {self.ssh_port!r}")

    def failed(self, step: str, reason: str) -> Machine:
        """This machine in state "error", stopped at `step` for `reason` (kept on one line)."""
        return replace(self, state="error", error=MachineError(step, one_line(reason, 500)))

    def ready(self, **changes: Any) -> Machine:
        return replace(self, state="ready", error=None, **changes)

    def to_json(self) -> dict[str, Any]:
        doc = {"version": SCHEMA_VERSION, **asdict(self)}
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Machine:
        """Builds a Machine from a decoded record; raises ValueError/TypeError naming the field."""
        if not isinstance(doc, dict):
            raise TypeError("the record is not a JSON object")
        version = doc.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"unknown record version {version!r}")
        known = {f.name: f for f in fields(cls)}
        missing = [n for n in ("name", "ip") if n not in doc]
        if missing:
            raise ValueError(f"missing field {missing[0]!r}")
        kwargs: dict[str, Any] = {}
        for key, value in doc.items():
            if key == "version" or key not in known:
                continue  # fields of a newer shoal are ignored, not fatal
            kwargs[key] = value
        _check_types(kwargs)
        if kwargs.get("error") is not None:
            err = kwargs["error"]
            if not isinstance(err, dict) or not isinstance(err.get("step"), str) or not isinstance(err.get("reason"), str):
                raise TypeError("field 'error' must be {\"step\": str, \"reason\": str}")
            kwargs["error"] = MachineError(err["step"], err["reason"])
        return cls(**kwargs)


_STR_FIELDS = ("name", "ip", "driver", "ssh_user", "state", "created_at", "updated_at")
_OPTIONAL_STR_FIELDS = ("ssh_key", "host_key", "manager", "etcd", "node_id", "agent_version")


def _check_types(kwargs: dict[str, Any]) -> None:
    for key in _STR_FIELDS:
        if key in kwargs and not isinstance(kwargs[key], str):
            raise TypeError(f"field {key!r} must be a string")
    for key in _OPTIONAL_STR_FIELDS:
        if kwargs.get(key) is not None and not isinstance(kwargs[key], str):
            raise TypeError(f"field {key!r} must be a string or null")
    args = kwargs.get("agent_args", ())
    if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
        raise TypeError("field 'agent_args' must be a list of strings")
    if "agent_args" in kwargs:
        kwargs["agent_args"] = tuple(args)
    labels = kwargs.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise TypeError("field 'labels' must map strings to strings")


# --- locations -----------------------------------------------------------------------------


def config_dir(base_dir: str | os.PathLike | None = None) -> Path:
    if base_dir is not None:
        return Path(base_dir)
    env = os.environ.get("SHOAL_CONFIG_DIR")
    return Path(env) if env else Path.home() / ".shoal"


def machines_dir(base_dir: str | os.PathLike | None = None) -> Path:
    return config_dir(base_dir) / "machines"


def machine_dir(name: str, base_dir: str | os.PathLike | None = None) -> Path:
    return machines_dir(base_dir) / validate_name(name)


def config_path(name: str, base_dir: str | os.PathLike | None = None) -> Path:
    return machine_dir(name, base_dir) / CONFIG_FILE


# --- operations ----------------------------------------------------------------------------


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replaces `path` with `data` so that readers (and a crash) see the old or the new content."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def save(machine: Machine, base_dir: str | os.PathLike | None = None, *, now: str | None = None) -> Machine:
    """Writes the record (creating its directory); stamps created_at (first save) and
    updated_at. Returns the machine as saved."""
    stamp = now or now_utc()
    stamped = replace(machine, created_at=machine.created_at or stamp, updated_at=stamp)
    directory = machine_dir(machine.name, base_dir)
    path = directory / CONFIG_FILE
    data = (json.dumps(stamped.to_json(), indent=2, sort_keys=True) + "\n").encode()
    try:
        _private_dir(machines_dir(base_dir))
        _private_dir(directory)
        write_atomic(path, data)
    except OSError as exc:
        raise StoreError(f"{path}: cannot save machine {machine.name!r} ({exc.strerror or exc})") from None
    return stamped


def load(name: str, base_dir: str | os.PathLike | None = None) -> Machine:
    path = config_path(name, base_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise MachineNotFound(name, str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptMachineRecord(str(path), getattr(exc, "strerror", None) or str(exc)) from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CorruptMachineRecord(str(path), f"invalid JSON: {exc}") from None
    try:
        machine = Machine.from_json(doc)
    except (TypeError, ValueError, InvalidMachineName) as exc:
        raise CorruptMachineRecord(str(path), str(exc)) from None
    if machine.name != name:
        raise CorruptMachineRecord(str(path), f"it names machine {machine.name!r}")
    return machine


def exists(name: str, base_dir: str | os.PathLike | None = None) -> bool:
    return config_path(name, base_dir).is_file()


def names(base_dir: str | os.PathLike | None = None) -> list[str]:
    """Sorted names of the machines with a record (directories with other names are ignored)."""
    root = machines_dir(base_dir)
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if _NAME.fullmatch(n) and (root / n / CONFIG_FILE).is_file())


def list_machines(base_dir: str | os.PathLike | None = None) -> list[Machine]:
    """Every machine, sorted by name; a corrupt record raises CorruptMachineRecord (use names()
    and load() one by one to show the others anyway)."""
    return [load(n, base_dir) for n in names(base_dir)]


def remove(name: str, base_dir: str | os.PathLike | None = None) -> None:
    """Deletes the machine's directory (its record and anything stored next to it)."""
    directory = machine_dir(name, base_dir)
    if not directory.is_dir():
        raise MachineNotFound(name, str(directory / CONFIG_FILE))
    try:
        shutil.rmtree(directory)
    except OSError as exc:
        raise StoreError(f"{directory}: cannot remove machine {name!r} ({exc.strerror or exc})") from None
