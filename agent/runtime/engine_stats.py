"""docker stats' arithmetic on one sample of the engine's /containers/ID/stats document.

As docker/cli computes it (cli/command/container/stats_helpers.go): CPU % is the container's
share of the host's CPU time between this sample and the previous one (`precpu_stats`), times
the number of CPUs, so 100 % is one core busy; memory is the usage minus the inactive page
cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`), which the kernel can reclaim."""
from __future__ import annotations

from shoal.agent.runtime.base import StatsSample


def cpu_percent(doc: dict) -> float:
    cpu, pre = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    cpu_delta = _int((cpu.get("cpu_usage") or {}).get("total_usage")) - _int((pre.get("cpu_usage") or {}).get("total_usage"))
    system_delta = _int(cpu.get("system_cpu_usage")) - _int(pre.get("system_cpu_usage"))
    cpus = _int(cpu.get("online_cpus")) or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return cpu_delta / system_delta * cpus * 100.0


def memory_used(doc: dict) -> int:
    mem = doc.get("memory_stats") or {}
    usage = _int(mem.get("usage"))
    stats = mem.get("stats") or {}
    # cgroup v1 names it total_inactive_file, v2 inactive_file; docker subtracts it only if smaller.
    for key in ("total_inactive_file", "inactive_file"):
        if key in stats and _int(stats[key]) < usage:
            return usage - _int(stats[key])
    return usage


def network_bytes(doc: dict) -> tuple[int, int]:
    nets = (doc.get("networks") or {}).values()
    return sum(_int(n.get("rx_bytes")) for n in nets), sum(_int(n.get("tx_bytes")) for n in nets)


def block_bytes(doc: dict) -> tuple[int, int]:
    read = write = 0
    for entry in (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += _int(entry.get("value"))
        elif op == "write":
            write += _int(entry.get("value"))
    return read, write


def sample(doc: dict) -> StatsSample:
    rx, tx = network_bytes(doc)
    rd, wr = block_bytes(doc)
    return StatsSample(
        cpu_percent=cpu_percent(doc), memory_bytes=memory_used(doc),
        memory_limit_bytes=_int((doc.get("memory_stats") or {}).get("limit")),
        net_rx_bytes=rx, net_tx_bytes=tx, block_read_bytes=rd, block_write_bytes=wr,
        pids=_int((doc.get("pids_stats") or {}).get("current")), read_at=str(doc.get("read") or ""),
    )


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
