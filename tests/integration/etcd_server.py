"""Run a throw-away single-member etcd on loopback for integration tests.

    server = EtcdServer(tmp_path)      # picks free client/peer ports
    server.start()                     # waits until /health says true
    server.kill()                      # SIGKILL, like a crash
    server.start()                     # same data dir and ports
    server.stop()                      # SIGTERM, then SIGKILL; always by pid

Every started process is also killed (by pid) at interpreter exit as a safety net.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.polling import poll


ETCD_BINARY = os.environ.get("SHOAL_TEST_ETCD", shutil.which("etcd") or "/usr/bin/etcd")
_LIVE: dict[int, subprocess.Popen] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServerTls:
    """PEM files for serving the client URL over https. With ``client_cert_file``
    set, etcd also requires client certificates signed by ``ca_file`` (and the
    health probe presents that certificate)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path | None = None
    client_key_file: Path | None = None


class EtcdServer:
    def __init__(self, base_dir: Path, name: str = "t", *, tls: ServerTls | None = None) -> None:
        self.name = name
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "etcd.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        while self.peer_port == self.client_port:
            self.peer_port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            ETCD_BINARY,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ] + self._tls_args()

    def _tls_args(self) -> list[str]:
        if self.tls is None:
            return []
        args = ["--cert-file", str(self.tls.cert_file), "--key-file", str(self.tls.key_file)]
        if self.tls.client_cert_file:
            args += ["--client-cert-auth", "--trusted-ca-file", str(self.tls.ca_file)]
        return args

    def start(self, timeout: float = 20.0) -> None:
        if self.running():
            raise RuntimeError(f"etcd already running (pid {self.pid})")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE[self.proc.pid] = self.proc
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def healthy(self) -> bool:
        if not self.running():
            raise RuntimeError(
                f"etcd exited with {self.proc.returncode if self.proc else None}:\n{self.log_tail()}"
            )
        return self._health_ok()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.create_default_context(cafile=str(self.tls.ca_file))
        if self.tls.client_cert_file:
            context.load_cert_chain(str(self.tls.client_cert_file), str(self.tls.client_key_file))
        return context

    def _health_ok(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.endpoint}/health", timeout=1.0, context=self._ssl_context()
            ) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def metric(self, name: str) -> float:
        """Current value of an unlabelled Prometheus metric from etcd's /metrics
        (e.g. ``etcd_debugging_mvcc_watcher_total``, the number of live watchers)."""
        with urllib.request.urlopen(
            f"{self.endpoint}/metrics", timeout=2.0, context=self._ssl_context()
        ) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise KeyError(name)

    def wait_healthy(self, timeout: float = 20.0) -> None:
        poll(self.healthy, timeout, interval=0.05, what=f"etcd at {self.endpoint} to be healthy")

    def kill(self) -> None:
        """SIGKILL the process (simulated crash); the data dir stays for a restart."""
        self._signal_and_reap(signal.SIGKILL, 10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop by pid: SIGTERM, then SIGKILL if it does not exit within ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self._signal_and_reap(signal.SIGTERM, timeout)
            except subprocess.TimeoutExpired:
                self._signal_and_reap(signal.SIGKILL, 10.0)
        _LIVE.pop(self.proc.pid, None)

    def _signal_and_reap(self, sig: int, timeout: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(timeout)
        _LIVE.pop(self.proc.pid, None)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_etcd(base_dir: Path, name: str = "t", *, tls: ServerTls | None = None) -> EtcdServer:
    server = EtcdServer(base_dir, name, tls=tls)
    server.start()
    return server


@atexit.register
def _kill_leftovers() -> None:
    for pid, proc in list(_LIVE.items()):
        if proc.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _LIVE.pop(pid, None)
