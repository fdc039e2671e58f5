"""Readiness probes of the dev cluster's daemons: is a port free, does a port accept, is
etcd healthy, does a dockerd answer.  Each answers once, at once; the caller polls."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["dockerd_answers", "etcd_healthy", "port_free", "tcp_accepts"]


def port_free(host: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def etcd_healthy(url: str, tls_dir: Path | None = None) -> bool:
    opener = _NO_PROXY_OPENER
    if url.startswith("https://") and tls_dir is not None:
        import ssl
        ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        ctx.load_cert_chain(str(tls_dir / "manager.pem"), str(tls_dir / "manager.key"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    try:
        with opener.open(url + "/health", timeout=2) as r:
            body = json.loads(r.read().decode() or "{}")
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return str(body.get("health")).lower() == "true"


def dockerd_answers(socket_path: Path, timeout: float = 5) -> bool:
    if not socket_path.exists():
        return False
    try:
        import docker

        c = docker.DockerClient(base_url=f"unix://{socket_path}", timeout=timeout)
    except Exception:
        return False
    try:
        return bool(c.ping())
    except Exception:
        return False
    finally:
        c.close()
