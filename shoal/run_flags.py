"""Parsers for the values of `docker run`'s isolation and runtime flags, as Docker's CLI reads
them; shared by the CLI and the stack file parser. Pure: each raises ValueError with the reason."""
from __future__ import annotations

from shoal.protos.spec_rules import RESTART_POLICIES, TMPFS_FLAGS
from shoal.units import parse_size


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """'nofile=1024:2048' -> ('nofile', 1024, 2048); 'nproc=512' -> ('nproc', 512, 512); -1 or
    'unlimited' is no limit."""
    name, sep, limits = text.partition("=")
    if not sep or not name or not limits:
        raise ValueError(f'"{text}" is not NAME=SOFT[:HARD]')
    soft_text, _, hard_text = limits.partition(":")
    return name, _limit(soft_text, text), _limit(hard_text or soft_text, text)


def _limit(value: str, text: str) -> int:
    if value == "unlimited":
        return -1
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f'"{text}": "{value}" is not a number or unlimited') from None
    if n < -1:
        raise ValueError(f'"{text}": a limit is -1 (unlimited) or more')
    return n


def parse_tmpfs(text: str) -> tuple[str, int, int, tuple[str, ...]]:
    """'/run:size=64m,mode=1770,noexec' -> ('/run', 67108864, 0o1770, ('noexec',))."""
    target, _, opts = text.partition(":")
    size = mode = 0
    flags: list[str] = []
    for opt in filter(None, opts.split(",")):
        key, sep, value = opt.partition("=")
        if key == "size" and sep:
            size = parse_size(value)
        elif key == "mode" and sep:
            try:
                mode = int(value, 8)
            except ValueError:
                raise ValueError(f'"{text}": mode "{value}" is not an octal file mode') from None
        elif not sep and opt in TMPFS_FLAGS:
            flags.append(opt)
        else:
            raise ValueError(f'"{text}": "{opt}" is not a tmpfs option (size=, mode=, {", ".join(sorted(TMPFS_FLAGS))})')
    if not target.startswith("/"):
        raise ValueError(f'"{text}": the path must be absolute')
    return target, size, mode, tuple(flags)


def parse_host_entry(text: str) -> str:
    """'db:10.0.0.5' or 'db=10.0.0.5' (Docker takes both) -> 'db:10.0.0.5'."""
    sep = "=" if "=" in text else ":"
    name, found, address = text.partition(sep)
    if not found or not name or not address:
        raise ValueError(f'"{text}" is not NAME:IP')
    return f"{name}:{address}"


def parse_sysctl(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise ValueError(f'"{text}" is not NAME=VALUE')
    return key.strip(), value.strip()


def parse_restart(text: str) -> tuple[str, int]:
    """'on-failure:3' -> ('on-failure', 3); 'always' -> ('always', 0)."""
    name, sep, count = text.partition(":")
    if name not in RESTART_POLICIES:
        raise ValueError(f'"{text}" is not one of {", ".join(RESTART_POLICIES)} (on-failure[:N])')
    if not sep:
        return name, 0
    if name != "on-failure":
        raise ValueError(f'"{text}": only on-failure takes a maximum retry count')
    if not count.isdigit():
        raise ValueError(f'"{text}": "{count}" is not a number of retries')
    return name, int(count)


def parse_volume(text: str) -> tuple[str, str, str, bool]:
    """`-v` as docker reads it: 'data:/var/lib/db[:ro]' (a named volume), '/srv/www:/www:ro' (a bind),
    '/cache' (an anonymous volume) -> (type, source, target, readonly)."""
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(f'"{text}" is not [SOURCE:]TARGET[:ro|rw]')
    readonly = False
    if len(parts) == 3 or (len(parts) == 2 and parts[1] in ("ro", "rw")):
        mode = parts.pop()
        if mode not in ("ro", "rw"):
            raise ValueError(f'"{text}": "{mode}" is not ro or rw')
        readonly = mode == "ro"
    if len(parts) == 1:
        return "volume", "", parts[0], readonly
    source, target = parts
    if source.startswith("/"):
        return "bind", source, target, readonly
    if source.startswith((".", "~")) or "/" in source:
        raise ValueError(f'"{text}": a bind mount\'s source must be an absolute path on the node '
                         f"(the node is not this machine: a relative path means nothing there)")
    return "volume", source, target, readonly


_MOUNT_KEYS = {"type": "type", "source": "source", "src": "source", "target": "target", "destination": "target",
               "dst": "target", "readonly": "readonly", "ro": "readonly", "tmpfs-size": "tmpfs_size"}


def parse_mount(text: str) -> tuple[str, str, str, bool, int]:
    """`--mount type=volume,source=data,target=/data,readonly` -> (type, source, target, readonly, tmpfs size)."""
    fields: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        name = _MOUNT_KEYS.get(key.strip().lower())
        if name is None:
            raise ValueError(f'"{text}": "{key}" is not a --mount key ({", ".join(sorted(_MOUNT_KEYS))})')
        if name == "readonly":
            if sep and value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f'"{text}": readonly takes true or false, not "{value}"')
            value = "true" if not sep or value.lower() in ("true", "1") else "false"
        elif not sep or not value:
            raise ValueError(f'"{text}": {key} needs a value')
        fields[name] = value
    kind = fields.get("type", "volume")
    if "target" not in fields:
        raise ValueError(f'"{text}": target= is required')
    size = parse_size(fields["tmpfs_size"]) if "tmpfs_size" in fields else 0
    return kind, fields.get("source", ""), fields["target"], fields.get("readonly") == "true", size
