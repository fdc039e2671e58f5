"""Pure text and argument rules of start ... cp: docker's stats columns, port lines, cp's arguments."""
from __future__ import annotations

from dataclasses import dataclass

from shoal.protos.shoal.v1 import types_pb2

STATS_TITLES = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS", "NODE"]
_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _scaled(n: float, base: float, units: tuple[str, ...], digits: int) -> str:
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return f"{n:.{digits}g}{units[i]}"


def human_size(n: int) -> str:
    """docker's units.HumanSize (NET I/O, BLOCK I/O): decimal, three significant digits."""
    return _scaled(float(n), 1000.0, _DECIMAL, 3)


def bytes_size(n: int) -> str:
    """docker's units.BytesSize (MEM USAGE / LIMIT): binary, four significant digits."""
    return _scaled(float(n), 1024.0, _BINARY, 4)


def memory_percent(s: types_pb2.ContainerStats) -> float:
    return s.memory_bytes / s.memory_limit_bytes * 100.0 if s.memory_limit_bytes > 0 else 0.0


def stats_row(s: types_pb2.ContainerStats) -> list[str]:
    if s.error:
        return [s.id[:12], s.name, "--", "-- / --", "--", "--", "--", "--", s.node_name]
    return [s.id[:12], s.name, f"{s.cpu_percent:.2f}%",
            f"{bytes_size(s.memory_bytes)} / {bytes_size(s.memory_limit_bytes)}", f"{memory_percent(s):.2f}%",
            f"{human_size(s.net_rx_bytes)} / {human_size(s.net_tx_bytes)}",
            f"{human_size(s.block_read_bytes)} / {human_size(s.block_write_bytes)}", str(s.pids), s.node_name]


def stats_json(s: types_pb2.ContainerStats) -> dict:
    return {"id": s.id, "name": s.name, "node": s.node_name, "cpu_percent": round(s.cpu_percent, 2),
            "memory_bytes": s.memory_bytes, "memory_limit_bytes": s.memory_limit_bytes,
            "memory_percent": round(memory_percent(s), 2), "net_rx_bytes": s.net_rx_bytes,
            "net_tx_bytes": s.net_tx_bytes, "block_read_bytes": s.block_read_bytes,
            "block_write_bytes": s.block_write_bytes, "pids": s.pids, "read_at": s.read_at, "error": s.error}


def parse_private_port(text: str) -> tuple[int, str]:
    """`docker port c 80/tcp`: a port and an optional protocol (tcp by default)."""
    port, _, proto = text.partition("/")
    proto = proto or "tcp"
    if not port.isdigit() or not 1 <= int(port) <= 65535 or proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f'"{text}" is not PORT[/tcp|udp|sctp]')
    return int(port), proto


def _host(p: types_pb2.PortMapping) -> str:
    ip = p.host_ip or "0.0.0.0"
    return f"[{ip}]:{p.host_port}" if ":" in ip else f"{ip}:{p.host_port}"


def port_lines(ports, private: tuple[int, str] | None = None) -> list[str]:
    """As docker port prints them: `80/tcp -> 0.0.0.0:8080` for all, the host side only for one."""
    published = sorted((p for p in ports if p.host_port), key=lambda p: (p.container_port, p.protocol, p.host_ip))
    if private is None:
        return [f"{p.container_port}/{p.protocol} -> {_host(p)}" for p in published]
    return [_host(p) for p in published if (p.container_port, p.protocol) == private]


@dataclass(frozen=True, slots=True)
class CopyArgs:
    container: str
    container_path: str
    local: str          # "-": a tar on stdin or stdout
    to_container: bool


def _split(arg: str) -> tuple[str, str]:
    # As docker cp: a local path that could hold a colon is written as an absolute or ./ path.
    if arg.startswith(("/", ".")) or arg == "-":
        return "", arg
    container, sep, path = arg.partition(":")
    return (container, path) if sep and container else ("", arg)


def parse_cp(src: str, dest: str) -> CopyArgs:
    s_container, s_path = _split(src)
    d_container, d_path = _split(dest)
    if s_container and d_container:
        raise ValueError("copying between containers is not supported")
    if not s_container and not d_container:
        raise ValueError("one of SRC and DEST must be CONTAINER:PATH")
    if s_container:
        if not s_path:
            raise ValueError(f'"{src}": the path in the container must not be empty')
        return CopyArgs(s_container, s_path, d_path, to_container=False)
    if not d_path:
        raise ValueError(f'"{dest}": the path in the container must not be empty')
    return CopyArgs(d_container, d_path, s_path, to_container=True)


def renamed(name: str, old_root: str, new_root: str) -> str:
    """An archive member's name with its first component `old_root` replaced by `new_root`."""
    if name.startswith("./"):
        name = name[2:]
    if name == old_root or name == old_root + "/":
        return new_root
    if name.startswith(old_root + "/"):
        return new_root + name[len(old_root):]
    return name


def unsafe_member(name: str) -> str:
    """Why an archive member's name (or a hard link's target) would land outside the destination, or ""."""
    if ".." in name.split("/"):
        return f'"{name[:200]}" leaves the destination (..)'
    if name.startswith("/"):
        return f'"{name[:200]}" is an absolute path'
    return ""


GO_MODE_DIR = 1 << 31     # Go's os.ModeDir, as the engine's PathStat mode carries it
GO_MODE_SYMLINK = 1 << 27


def is_dir(mode: int) -> bool:
    return bool(mode & GO_MODE_DIR)
