"""What the benchmarks that run real daemons share: a dev cluster of their own in a temporary
directory, polling with a deadline, a process's resident memory, stopping their helper processes."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.integration.ports import free_port_pair


def new_cluster(name: str, **options):
    """(DevCluster, its temporary state dir), not started; free etcd and manager ports."""
    from shoal.devcluster import DevCluster

    state = Path(tempfile.mkdtemp(prefix=f"shoal-bench-{name}-"))
    cluster = DevCluster(state / "cluster", name=name, etcd_port=free_port_pair(), manager_port=free_port_pair(),
                         **options)
    return cluster, state


def remove_cluster(cluster, state: Path, keep: bool = False) -> None:
    """Stops everything the cluster runs; its state dir (logs) goes too unless `keep`."""
    cluster.down(keep_logs=keep)
    if not keep:
        shutil.rmtree(state, ignore_errors=True)


def poll(predicate, timeout: float, what: str, interval: float = 0.05):
    """predicate()'s first truthy value, or the benchmark stops with a one-line error at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)   # poll interval


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def stop(processes, timeout: float) -> None:
    """SIGTERM to each, then SIGKILL to any still running `timeout` seconds later."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
