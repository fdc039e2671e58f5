"""Clean-up after a dockerd that was killed or never stopped cleanly: the mounts under
its directories, the processes it left (containerd, shims, containers), the shims'
sockets and the containers' cgroups.

Everything is found by what we created: mounts below a directory we own, processes in
a network namespace we made or in the cgroup of a container of that dockerd's data
root.  Nothing is found or killed by name.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import signal
import time
from pathlib import Path

from shoal.devprocs import proc_stat, send_signal

__all__ = [
    "cgroup_roots", "clear_host", "kill_leftovers", "mounts_under", "remove_container_cgroups", "remove_containers",
    "remove_shim_sockets", "unmount_under",
]  # fmt: skip


def _unescape_mount(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 4 <= len(path) and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _mounts() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount in our mount namespace."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) >= 5:
                result.append((_unescape_mount(fields[4]), right.split()[0] if right else ""))
    return result


def mounts_under(directory: Path) -> list[str]:
    d = os.path.realpath(directory)
    return [m for m, _ in _mounts() if m == d or m.startswith(d.rstrip("/") + "/")]


_libc = None


def _umount_lazy(path: str) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    MNT_DETACH = 2
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point (any more)
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def unmount_under(directory: Path) -> None:
    """Lazily unmount everything mounted at or below directory, deepest first."""
    for _ in range(20):  # mounts may be stacked
        found = mounts_under(directory)
        if not found:
            return
        for m in sorted(found, key=lambda p: (p.count("/"), len(p)), reverse=True):
            _umount_lazy(m)
    if mounts_under(directory):
        raise OSError(f"could not unmount everything under {directory}")


def cgroup_roots() -> list[str]:
    return [m for m, fstype in _mounts() if fstype in ("cgroup", "cgroup2")]


def kill_leftovers(netns_ino: tuple[int, int] | None, container_ids: set[str]) -> int:
    """SIGKILL what a killed dockerd left behind: every process inside the
    host's netns (containerd, shims, docker-proxy: they run in the namespace we
    created) and every process in the cgroup of one of that dockerd's
    containers (found by the container ids in its data-root)."""
    me = os.getpid()
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid in (me, 1):
            continue
        st = proc_stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        ours = False
        if netns_ino is not None:
            try:
                s = os.stat(f"/proc/{pid}/ns/net")
                ours = (s.st_dev, s.st_ino) == netns_ino
            except OSError:
                pass
        if not ours and container_ids:
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    for line in f:
                        last = line.rstrip("\n").rsplit("/", 1)[-1]
                        if last in container_ids or last.removeprefix("docker-").removesuffix(".scope") in container_ids:
                            ours = True
                            break
            except OSError:
                pass
        if ours and send_signal(pid, st[1], signal.SIGKILL):
            killed += 1
    return killed


def remove_shim_sockets(exec_root: Path, container_ids: set[str]) -> None:
    """containerd 1.6 names a shim's socket /run/containerd/s/<sha256 of
    "<containerd address>/<namespace>/<container id>">; a SIGKILLed shim leaves
    it behind.  Remove exactly the ones of this dockerd's containers."""
    address = str(exec_root / "containerd" / "containerd.sock")
    for cid in container_ids:
        digest = hashlib.sha256(f"{address}/moby/{cid}".encode()).hexdigest()
        try:
            os.unlink(f"/run/containerd/s/{digest}")
        except OSError:
            pass


def remove_container_cgroups(container_ids: set[str]) -> None:
    if not container_ids:
        return
    for root in cgroup_roots():
        for parent in ("docker", ""):
            for cid in container_ids:
                p = os.path.join(root, parent, cid) if parent else os.path.join(root, cid)
                try:
                    os.rmdir(p)
                except OSError:
                    pass



def remove_containers(docker_socket: Path) -> None:
    """Force-remove every container of a running dockerd, ignoring every failure: what is
    left is killed by clear_host."""
    try:
        import docker

        c = docker.DockerClient(base_url=f"unix://{docker_socket}", timeout=15)
        try:
            for ctr in c.containers.list(all=True, ignore_removed=True):
                try:
                    ctr.remove(force=True)
                except Exception:
                    pass
        finally:
            c.close()
    except Exception:
        pass


def clear_host(netns_path: str, host_dir: Path) -> list[str]:
    """Whatever a stopped or killed dockerd with its data and exec roots under host_dir left
    behind: processes, shim sockets, cgroups, mounts.  Returns what could not be removed."""
    errors: list[str] = []
    netns_ino = None
    try:
        st = os.stat(netns_path)
        netns_ino = (st.st_dev, st.st_ino)
    except OSError:
        pass
    try:
        cids = set(os.listdir(host_dir / "data" / "containers"))
    except OSError:
        cids = set()
    for _ in range(3):
        if not kill_leftovers(netns_ino, cids):
            break
        time.sleep(0.5)
    remove_container_cgroups(cids)
    remove_shim_sockets(host_dir / "exec", cids)

    try:
        unmount_under(host_dir)
    except OSError as e:
        errors.append(f"unmounting under {host_dir}: {e}")
    return errors
