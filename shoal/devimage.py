"""The dev/test image `shoal/busybox:latest`, built from the host's busybox-static.

No registry is reachable from test hosts, so every dev dockerd gets this tiny
image imported from an in-memory root filesystem:

    bin/busybox + one symlink per applet (`busybox --list`), sbin -> bin,
    usr/bin -> ../bin, usr/sbin -> ../bin, etc/passwd, etc/group (root, nobody),
    tmp (1777), proc, sys, dev, root, home, var/tmp, var/www

The tar is byte-for-byte deterministic for a given busybox binary; its sha256
is stored in the image label `org.shoal.rootfs.sha256`, so `load_image` skips
a dockerd that already has the same content.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

IMAGE = "shoal/busybox:latest"
REPOSITORY, TAG = IMAGE.rsplit(":", 1)
BUSYBOX = "/bin/busybox"
DIGEST_LABEL = "org.shoal.rootfs.sha256"
MTIME = 1_700_000_000  # fixed, so the tar is reproducible

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n"

__all__ = ["IMAGE", "DIGEST_LABEL", "ImageTar", "ImageError", "build_tar", "load_image"]


class ImageError(RuntimeError):
    pass


@dataclass(frozen=True)
class ImageTar:
    data: bytes
    sha256: str
    applets: int


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise ImageError(f"{busybox} --list failed: {out.stderr.strip()}")
    names = sorted({n.strip() for n in out.stdout.split() if n.strip()})
    return [n for n in names if n != "busybox" and "/" not in n]


def _info(name: str, type_: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


@functools.lru_cache(maxsize=4)
def _build_cached(busybox: str, stamp: tuple[int, int, int]) -> ImageTar:
    binary = Path(busybox).read_bytes()
    applets = _applets(busybox)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            tar.addfile(_info(name, tarfile.DIRTYPE, mode))

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))

        def add_link(name: str, target: str) -> None:
            tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=target))

        add_dir("bin")
        add_file("bin/busybox", binary, 0o755)
        for name in applets:
            add_link(f"bin/{name}", "busybox")
        for d in ("dev", "etc", "home", "proc", "sys", "usr", "var", "var/www"):
            add_dir(d)
        add_dir("root", 0o700)
        add_dir("tmp", 0o1777)
        add_dir("var/tmp", 0o1777)
        add_link("sbin", "bin")
        add_link("usr/bin", "../bin")
        add_link("usr/sbin", "../bin")
        add_file("etc/passwd", PASSWD.encode())
        add_file("etc/group", GROUP.encode())
    data = buf.getvalue()
    return ImageTar(data=data, sha256=hashlib.sha256(data).hexdigest(), applets=len(applets))


def build_tar(busybox: str = BUSYBOX) -> ImageTar:
    """The root filesystem tar (cached per busybox binary version)."""
    try:
        st = Path(busybox).stat()
    except OSError as e:
        raise ImageError(f"{busybox} not found (install busybox-static): {e}") from e
    return _build_cached(busybox, (st.st_size, st.st_mtime_ns, st.st_ino))


def _image_digest_label(api, image: str) -> str | None:
    import docker.errors

    try:
        info = api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return None
    labels = (info.get("Config") or {}).get("Labels") or {}
    return labels.get(DIGEST_LABEL)


def load_image(docker_socket_path: str | Path, *, busybox: str = BUSYBOX, timeout: float = 120) -> bool:
    """Import `shoal/busybox:latest` into the dockerd at `docker_socket_path`.

    Idempotent: returns False without importing if the image exists with the
    same rootfs digest label, True after importing.
    """
    import docker

    tar = build_tar(busybox)
    sock = str(docker_socket_path)
    base_url = sock if sock.startswith("unix://") else f"unix://{sock}"
    api = docker.APIClient(base_url=base_url, timeout=timeout)
    try:
        if _image_digest_label(api, IMAGE) == tar.sha256:
            return False
        changes = [
            'CMD ["sh"]',
            f"LABEL {DIGEST_LABEL}={tar.sha256}",
        ]
        out = api.import_image_from_data(tar.data, repository=REPOSITORY, tag=TAG, changes=changes)
        # the daemon answers with a JSON stream; an error shows up as {"error": ...}
        for line in (out or "").splitlines() if isinstance(out, str) else []:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("error"):
                raise ImageError(f"import of {IMAGE} into {sock} failed: {msg['error']}")
        got = _image_digest_label(api, IMAGE)
        if got != tar.sha256:
            raise ImageError(f"import of {IMAGE} into {sock} did not take (label {got!r})")
        return True
    finally:
        api.close()
