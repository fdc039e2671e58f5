"""A whole Shoal cluster on one machine: the dev cluster and the integration tests' cluster.

Layout of ``state_dir``::

    cluster.json                  everything needed to tear down from a fresh process
    logs/<proc>.log               etcd, manager, dockerd-<host>, agent-<host>
    etcd/                         etcd data
    hosts/<host>/docker.sock      that host's dockerd (running inside the host's netns)
    hosts/<host>/{data,exec}/     its data-root and exec-root
    hosts/<host>/docker.pid
    hosts/<host>/agent/           the agent's --state-dir

Network (see shoal.devhosts): bridge ``<name>-br`` with .1 of ``subnet`` in the
root namespace; host k is netns ``<name>-hk`` with eth0 = .(10+k), joined by
veth ``<name>-hk``; its dockerd's docker0 is ``--bip`` = third octet of
``docker_bip_base`` + k - 1 (10.214.10.1/24, 10.214.11.1/24, ...).  The root
namespace routes each host's container subnet via the host's address and the rest
of the pools (``address_pools``) nowhere, and forwards nothing from the bridge
past them (``devhosts.add_container_routes``): nothing leaves the machine.

etcd and the manager run in the root namespace; each dockerd and agent runs in
its host's netns (``nsenter --net``, never ``ip netns exec``: that remounts /sys
and dockerd then fails with "Devices cgroup isn't mounted").

Every process runs in its own session with stdout+stderr in its log, recorded
by pid and start time and signalled only while it is still that process
(``shoal.devprocs``).  The daemons' command lines are ``shoal.devdaemons``, the
probes that say each is ready ``shoal.devprobes``, and the clean-up after a
killed dockerd (its mounts, processes, shim sockets, cgroups) ``shoal.devcleanup``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from shoal.pki import cluster_files, files
from shoal.protos.address_pools import OVERLAY_POOL
from shoal import devcleanup, devdaemons, devhosts, devimage, devprobes
from shoal.deverrors import DevClusterError
from shoal.devprocs import child_env, log_tail, running, send_signal, start_process, stop_pid, wait_gone, which

STATE_FILE = "cluster.json"
STATE_VERSION = 1

ETCD_READY_TIMEOUT = 30.0
DOCKERD_READY_TIMEOUT = 60.0
AGENT_READY_TIMEOUT = 30.0
MANAGER_READY_TIMEOUT = 30.0
DOCKERD_STOP_TIMEOUT = 20.0
PROC_STOP_TIMEOUT = 10.0

__all__ = ["DevCluster", "DevClusterError", "DevHost", "STATE_FILE"]


@dataclass
class DevHost:
    name: str  # "<cluster>-h1": also the agent's --name and the netns name
    netns: str
    ip: str
    dir: Path
    docker_socket: Path
    agent_address: str  # "10.213.7.11:7070"
    index: int = 0  # 1-based
    veth: str = ""  # root-namespace end of the veth pair
    bip: str = ""  # dockerd --bip, e.g. "10.214.10.1/24"

    @property
    def netns_path(self) -> str:
        return devhosts.netns_path(self.netns)


def address_pools(docker_bip_base: str) -> list[str]:
    """What the root namespace routes only to the hosts, or nowhere: the /16 of the hosts'
    container subnets, and the overlay networks' pool."""
    return [str(ipaddress.ip_network(f"{docker_bip_base}/16", strict=False)), str(OVERLAY_POOL)]


# -- the cluster ----------------------------------------------------------------


class DevCluster:
    def __init__(
        self,
        state_dir: Path,
        *,
        name: str = "shoal",
        hosts: int = 3,
        subnet: str = "10.213.7.0/24",
        docker_bip_base: str = "10.214.10.0",
        etcd_port: int = 23790,
        manager_port: int = 7000,
        agent_port: int = 7070,
        strategy: str = "spread",
        host_memory: int | None = None,
        host_cpus: float | None = None,
        lease_ttl: int | None = None,
        dns_upstream: str = "none",
        manager_dns: str | None = None,
        start_agents: bool = True,
        start_manager: bool = True,
        python: str = sys.executable,
        agent_token: str | None = None,
        cert_lifetime: str | None = None,
    ):
        self.state_dir = Path(state_dir).absolute()
        self.name = name
        self.subnet = subnet
        self.docker_bip_base = docker_bip_base
        self.etcd_port = int(etcd_port)
        self.manager_port = int(manager_port)
        self.agent_port = int(agent_port)
        self.strategy = strategy
        self.host_memory = host_memory
        self.host_cpus = host_cpus
        self.lease_ttl = lease_ttl
        self.dns_upstream = dns_upstream
        self.manager_dns = manager_dns
        self.start_agents = start_agents
        self.start_manager = start_manager
        self.python = python
        self.agent_token = agent_token   # None: asked from the manager once it runs
        self.cert_lifetime = cert_lifetime
        self.n_hosts = int(hosts)

        if self.n_hosts < 0:
            # 0: etcd and a manager only (bench/deploy.py brings simulated agents of its own).
            raise DevClusterError(f"hosts must be >= 0, not {hosts}")
        net = ipaddress.ip_network(subnet, strict=True)
        if net.version != 4 or net.num_addresses < 16 + self.n_hosts:
            raise DevClusterError(f"subnet {subnet} too small for {hosts} hosts (needs .1 and .11 on)")
        self.bridge = f"{name}-br"
        try:
            devhosts.check_ifname(self.bridge)
            devhosts.check_ifname(f"{name}-h{self.n_hosts}")
        except devhosts.DevHostsError as e:
            raise DevClusterError(f"cluster name {name!r} too long for interface names: {e}") from None
        self.bridge_ip = str(net.network_address + 1)
        self.prefixlen = net.prefixlen
        base = ipaddress.ip_address(docker_bip_base)
        b = base.packed
        if b[2] + self.n_hosts - 1 > 255:
            raise DevClusterError(f"docker_bip_base {docker_bip_base} leaves no room for {hosts} hosts")

        self.hosts: list[DevHost] = []
        for k in range(1, self.n_hosts + 1):
            hname = f"{name}-h{k}"
            ip = str(net.network_address + 10 + k)
            hdir = self.state_dir / "hosts" / hname
            bip = f"{b[0]}.{b[1]}.{b[2] + k - 1}.1/24"
            self.hosts.append(
                DevHost(
                    name=hname,
                    netns=hname,
                    ip=ip,
                    dir=hdir,
                    docker_socket=hdir / "docker.sock",
                    agent_address=f"{ip}:{self.agent_port}",
                    index=k,
                    veth=hname,
                    bip=bip,
                )
            )
        self._lock = threading.RLock()
        self._popen: dict[str, subprocess.Popen] = {}
        self._state: dict[str, Any] | None = None  # as in cluster.json, once up() started or load()ed

    # -- public properties ------------------------------------------------------

    @property
    def manager_address(self) -> str:
        """On the bridge: the CLI and the hosts (for joining and renewals) reach it there."""
        return f"{self.bridge_ip}:{self.manager_port}"

    @property
    def manager_dir(self) -> Path:
        """The manager's state dir: the cluster CA, its key and the manager's certificate."""
        return self.state_dir / "manager"

    @property
    def admin_dir(self) -> Path:
        """The admin client certificate (ca.pem, admin.pem, admin.key) for the CLI."""
        return self.state_dir / "admin"

    @property
    def etcd_url(self) -> str:
        return f"https://127.0.0.1:{self.etcd_port}"

    @property
    def etcd_bridge_url(self) -> str:
        """etcd as the hosts reach it."""
        return f"https://{self.bridge_ip}:{self.etcd_port}"

    def admin_credentials(self) -> files.Credentials:
        creds = files.load(self.admin_dir, "admin")
        if creds is None:
            raise DevClusterError(f"{self.admin_dir}: no admin certificate (is the dev cluster up?)")
        return creds

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def agent_log(self, host: DevHost | str) -> Path:
        return self.log_dir / f"agent-{self._host(host).name}.log"

    def dockerd_log(self, host: DevHost | str) -> Path:
        return self.log_dir / f"dockerd-{self._host(host).name}.log"

    def manager_log(self) -> Path:
        return self.log_dir / "manager.log"

    def etcd_log(self) -> Path:
        return self.log_dir / "etcd.log"

    def _host(self, host: DevHost | str) -> DevHost:
        name = host if isinstance(host, str) else host.name
        for h in self.hosts:
            if h.name == name:
                return h
        raise DevClusterError(f"no host {name!r} in dev cluster {self.name}")

    # -- persistence --------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hosts": self.n_hosts,
            "subnet": self.subnet,
            "docker_bip_base": self.docker_bip_base,
            "etcd_port": self.etcd_port,
            "manager_port": self.manager_port,
            "agent_port": self.agent_port,
            "strategy": self.strategy,
            "host_memory": self.host_memory,
            "host_cpus": self.host_cpus,
            "lease_ttl": self.lease_ttl,
            "dns_upstream": self.dns_upstream,
            "manager_dns": self.manager_dns,
            "start_agents": self.start_agents,
            "start_manager": self.start_manager,
            "python": self.python,
        }

    @classmethod
    def load(cls, state_dir: Path) -> "DevCluster":
        state_dir = Path(state_dir).absolute()
        path = state_dir / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise DevClusterError(f"no dev cluster in {state_dir} ({STATE_FILE} missing)") from None
        except (OSError, ValueError) as e:
            raise DevClusterError(f"cannot read {path}: {e}") from None
        cfg = dict(state.get("config") or {})
        cluster = cls(state_dir, **cfg)
        cluster._state = state
        return cluster

    def _save(self) -> None:
        with self._lock:
            if self._state is None or not self.state_dir.is_dir():
                return  # never re-create a state dir that down() removed
            tmp = self.state_file.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self._state, indent=2, sort_keys=True))
            os.replace(tmp, self.state_file)

    def _new_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "status": "starting",
            "config": self._config(),
            "bridge": {
                "name": self.bridge,
                "address": f"{self.bridge_ip}/{self.prefixlen}",
                "forward_rule": False,
            },
            "hosts": [
                {
                    "name": h.name,
                    "netns": h.netns,
                    "veth": h.veth,
                    "ip": h.ip,
                    "bip": h.bip,
                    "dir": str(h.dir),
                    "docker_socket": str(h.docker_socket),
                    "agent_address": h.agent_address,
                }
                for h in self.hosts
            ],
            "ports": {
                "etcd": self.etcd_port,
                "etcd_peer": self.etcd_port + 1,
                "manager": self.manager_port,
                "agent": self.agent_port,
            },
            "procs": {},
        }

    def _current_state(self, refresh: bool = False) -> dict[str, Any] | None:
        """The record; with refresh, re-read from cluster.json (the file is
        the truth when several objects or processes work on one cluster)."""
        with self._lock:
            if self._state is None or refresh:
                try:
                    self._state = json.loads(self.state_file.read_text())
                except FileNotFoundError:
                    # torn down (maybe by another object): forget our copy, so
                    # names are never deleted on the strength of a stale record
                    self._state = None
                    self._popen.clear()
                except (OSError, ValueError):
                    pass  # unreadable or half-written: keep what we know
            return self._state

    # -- process records ------------------------------------------------------------

    def _spawn(self, key: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
        p, start = start_process(argv, log, self.state_dir, env)
        rec = {
            "pid": p.pid,
            "start": start,
            "argv": argv,
            "log": str(log),
            "alive": True,
        }
        with self._lock:
            self._popen[key] = p
            assert self._state is not None
            self._state["procs"][key] = rec
            self._save()
        return rec

    def _proc(self, key: str) -> dict[str, Any] | None:
        st = self._current_state()
        if not st:
            return None
        return st.get("procs", {}).get(key)

    def _proc_running(self, key: str) -> bool:
        rec = self._proc(key)
        if not rec or rec.get("start") is None:
            return False
        p = self._popen.get(key)
        if p is not None:
            p.poll()
        return running(rec["pid"], rec["start"])

    def _stop_proc(self, key: str, timeout: float, sig_first: int = signal.SIGTERM) -> bool:
        rec = self._proc(key)
        if not rec:
            return True
        pid, start = rec["pid"], rec.get("start")
        gone = True
        if start is not None:
            if sig_first == signal.SIGKILL:
                send_signal(pid, start, signal.SIGKILL)
                gone = wait_gone(pid, start, timeout)
            else:
                gone = stop_pid(pid, start, timeout)
        p = self._popen.pop(key, None)
        if p is not None and gone:
            try:
                p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        with self._lock:
            rec["alive"] = not gone
            self._save()
        return gone

    def _wait_ready(
        self, key: str, what: str, check: Callable[[], bool], timeout: float, log: Path
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if check():
                return
            if not self._proc_running(key):
                rc = self._popen[key].returncode if key in self._popen else None
                tail = log_tail(log)
                raise DevClusterError(
                    f"{what} exited (code {rc}) before it was ready; log: {log}" + (f" -- {tail}" if tail else "")
                )
            if time.monotonic() >= deadline:
                tail = log_tail(log)
                raise DevClusterError(
                    f"{what} not ready within {timeout:.0f} s; log: {log}" + (f" -- {tail}" if tail else "")
                )
            time.sleep(0.1)

    # -- argv -------------------------------------------------------------------------

    def _etcd_argv(self) -> list[str]:
        return devdaemons.etcd_argv(self.name, self.state_dir / "etcd", self.manager_dir, self.bridge_ip,
                                    self.etcd_port)

    def _dockerd_argv(self, h: DevHost) -> list[str]:
        return devdaemons.dockerd_argv(h.netns_path, h.dir, h.docker_socket, h.bip)

    def _agent_argv(self, h: DevHost) -> list[str]:
        return devdaemons.agent_argv(
            self.python, h.netns_path, name=h.name, manager_address=self.manager_address,
            etcd_url=self.etcd_bridge_url, agent_address=h.agent_address, docker_socket=h.docker_socket,
            state_dir=h.dir / "agent", memory=self.host_memory, cpus=self.host_cpus, lease_ttl=self.lease_ttl,
            dns_upstream=self.dns_upstream,
        )

    def _manager_argv(self) -> list[str]:
        return devdaemons.manager_argv(
            self.python, state_dir=self.manager_dir, etcd_url=self.etcd_url, listen=self.manager_address,
            strategy=self.strategy, lease_ttl=self.lease_ttl, dns=self.manager_dns,
            dns_upstream=self.dns_upstream, cert_lifetime=self.cert_lifetime,
        )

    # -- up ---------------------------------------------------------------------------

    def _anything_present(self, state: dict[str, Any]) -> list[str]:
        present = []
        for key, rec in (state.get("procs") or {}).items():
            if rec.get("start") is not None and running(rec["pid"], rec["start"]):
                present.append(f"process {key} (pid {rec['pid']})")
        for h in state.get("hosts") or []:
            if devhosts.netns_exists(h["netns"]):
                present.append(f"netns {h['netns']}")
            if devhosts.link_exists(h["veth"]):
                present.append(f"link {h['veth']}")
        br = (state.get("bridge") or {}).get("name")
        if br and devhosts.link_exists(br):
            present.append(f"bridge {br}")
        return present

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise DevClusterError("a dev cluster needs root (network namespaces, dockerd)")
        for cmd in ("etcd", "dockerd", "nsenter", "containerd", "docker-proxy"):
            which(cmd)
        if not Path(devimage.BUSYBOX).exists():
            raise DevClusterError(f"{devimage.BUSYBOX} missing (install busybox-static)")
        longest = self.hosts[-1].dir / "exec" / "containerd" / "containerd.sock.ttrpc" if self.hosts else None
        if longest is not None and len(str(longest)) > 107:
            raise DevClusterError(f"state dir {self.state_dir} is too long for unix socket paths ({longest})")
        if devhosts.link_exists(self.bridge):
            raise DevClusterError(
                f"interface {self.bridge} exists already (another dev cluster named {self.name!r}?)"
            )
        for h in self.hosts:
            if devhosts.netns_exists(h.netns):
                raise DevClusterError(f"network namespace {h.netns} exists already (another dev cluster named {self.name!r}?)")
            if devhosts.link_exists(h.veth):
                raise DevClusterError(f"interface {h.veth} exists already (another dev cluster named {self.name!r}?)")
        ports = [("etcd", self.etcd_port), ("etcd peer", self.etcd_port + 1)]
        if self.start_manager:
            ports.append(("manager", self.manager_port))
        for what, port in ports:
            if not devprobes.port_free("127.0.0.1", port):
                raise DevClusterError(f"{what} port 127.0.0.1:{port} is in use")

    def up(self, progress: Callable[[str], None] = lambda s: None) -> None:
        existing = self._current_state(refresh=True)
        if existing is not None:
            present = self._anything_present(existing)
            if present:
                raise DevClusterError(
                    f"dev cluster in {self.state_dir} already up; run shoal dev down first (found {', '.join(present[:3])})"
                )
            # a stale record of a cluster that is gone: clean up what may be
            # left (mounts, orphaned containers) and forget it
            self.down(keep_logs=True)
        self._preflight()

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # record every name before creating anything, so that down() from any
        # process can remove whatever of it exists
        self._state = self._new_state()
        self._save()
        t0 = time.monotonic()
        try:
            self._up(progress)
        except BaseException as e:
            progress("failed; tearing down")
            try:
                self.down(keep_logs=True)
            except Exception as e2:  # keep the first error; mention the second
                if isinstance(e, DevClusterError):
                    raise DevClusterError(f"{e} (teardown also failed: {e2})") from e
                raise DevClusterError(f"dev cluster up failed: {e!r} (teardown also failed: {e2})") from e
            if isinstance(e, DevClusterError):
                raise
            if isinstance(e, Exception):
                raise DevClusterError(f"dev cluster up failed: {type(e).__name__}: {e}; logs: {self.log_dir}") from e
            raise
        with self._lock:
            self._state["status"] = "up"
            self._state["up_seconds"] = round(time.monotonic() - t0, 2)
            self._save()

    def _up(self, progress: Callable[[str], None]) -> None:
        assert self._state is not None
        progress(f"bridge {self.bridge} {self.bridge_ip}/{self.prefixlen}")
        try:
            devhosts.create_bridge(self.bridge, f"{self.bridge_ip}/{self.prefixlen}")
            if devhosts.ensure_bridge_forwarding(self.bridge):
                self._state["bridge"]["forward_rule"] = True
                self._save()
        except (OSError, devhosts.DevHostsError) as e:
            raise DevClusterError(f"creating bridge {self.bridge} failed: {e}") from e

        for h in self.hosts:
            progress(f"host {h.name} {h.ip}")
            try:
                devhosts.create_host(
                    self.bridge,
                    devhosts.HostNet(h.netns, h.veth, h.ip, self.prefixlen, self.bridge_ip),
                )
            except (OSError, devhosts.DevHostsError) as e:
                raise DevClusterError(f"creating host {h.name} (netns, veth) failed: {e}") from e
            for sub in ("data", "exec"):
                (h.dir / sub).mkdir(parents=True, exist_ok=True)
            # 0700 whatever the umask: the agent refuses a state dir group or others can write in.
            (h.dir / "agent").mkdir(mode=0o700, exist_ok=True)
            (h.dir / "agent").chmod(0o700)
        progress("routes to the hosts' containers; the rest of the pools unreachable")
        try:
            devhosts.add_container_routes(
                self.bridge, {str(ipaddress.ip_interface(h.bip).network): h.ip for h in self.hosts},
                address_pools(self.docker_bip_base))
        except (OSError, devhosts.DevHostsError) as e:
            raise DevClusterError(f"routing the hosts' container subnets failed: {e}") from e

        progress("cluster CA and certificates")
        lifetime = {}
        if self.cert_lifetime:
            from datetime import timedelta

            from shoal.durations import parse_duration
            lifetime["lifetime"] = timedelta(microseconds=parse_duration(self.cert_lifetime) // 1000)
        created = cluster_files.create_files(self.manager_dir, self.admin_dir, cluster=self.name, **lifetime)
        cluster_files.etcd_server_credentials(created.authority, self.manager_dir, ("127.0.0.1", self.bridge_ip))
        progress(f"etcd on 127.0.0.1:{self.etcd_port} and {self.bridge_ip}:{self.etcd_port}")
        (self.state_dir / "etcd").mkdir(mode=0o700, exist_ok=True)
        self._spawn("etcd", self._etcd_argv(), self.etcd_log())
        for h in self.hosts:
            progress(f"dockerd on {h.name}")
            self._spawn(f"dockerd:{h.name}", self._dockerd_argv(h), self.dockerd_log(h))

        self._wait_ready("etcd", "etcd", lambda: devprobes.etcd_healthy(self.etcd_url, self.manager_dir), ETCD_READY_TIMEOUT, self.etcd_log())
        for h in self.hosts:
            self._wait_ready(
                f"dockerd:{h.name}",
                f"dockerd on {h.name}",
                lambda h=h: self._docker_ping(h),
                DOCKERD_READY_TIMEOUT,
                self.dockerd_log(h),
            )

        if self.hosts:
            progress(f"image {devimage.IMAGE} on {len(self.hosts)} hosts")
            devimage.build_tar()  # once, before the threads

        def load(h: DevHost) -> None:
            try:
                devimage.load_image(h.docker_socket)
            except Exception as e:
                raise DevClusterError(
                    f"loading {devimage.IMAGE} into dockerd on {h.name} failed: {e}; log: {self.dockerd_log(h)}"
                ) from e

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(self.hosts)))) as ex:
            for f in [ex.submit(load, h) for h in self.hosts]:
                f.result()

        if self.start_manager:
            progress(f"manager on {self.manager_address}")
            self._start_manager()
        if self.start_agents:
            token = self.join_token("agent")
            for h in self.hosts:
                progress(f"agent on {h.name} {h.agent_address}")
                # In the environment, not argv: a join token is a secret (`ps` shows argv).
                self._spawn(f"agent:{h.name}", self._agent_argv(h), self.agent_log(h),
                            env={"SHOAL_JOIN_TOKEN": token})
            for h in self.hosts:
                self._wait_agent(h)

    def join_token(self, role: str) -> str:
        """The manager's current join token for role, asked over the admin API like `shoal cluster join-token`."""
        cached = self.manager_dir / f"{role}-join.token"
        if self.agent_token is not None and role == "agent":
            files.write_private(cached, self.agent_token.encode())
        if cached.exists():
            # Kept next to the CA key it is worth less than, for restarts of hosts that never joined.
            return cached.read_text().strip()
        from shoal.protos.shoal.v1 import manager_pb2
        from shoal.client import connect

        channel, stub = connect(self.manager_address, self.admin_credentials())
        deadline = time.monotonic() + MANAGER_READY_TIMEOUT
        try:
            while True:
                try:
                    token = stub.JoinToken(manager_pb2.JoinTokenRequest(role=role), timeout=5).token
                    files.write_private(cached, token.encode())
                    return token
                except Exception as e:  # grpc.RpcError; the manager may not lead yet
                    if time.monotonic() > deadline:
                        raise DevClusterError(f"no {role} join token from the manager: {e}; "
                                              f"log: {self.manager_log()}") from None
                    time.sleep(0.2)
        finally:
            channel.close()

    def _docker_ping(self, h: DevHost) -> bool:
        return devprobes.dockerd_answers(h.docker_socket)

    def _start_manager(self) -> None:
        self._spawn("manager", self._manager_argv(), self.manager_log())
        self._wait_ready(
            "manager",
            "manager",
            lambda: devprobes.tcp_accepts(self.bridge_ip, self.manager_port),
            MANAGER_READY_TIMEOUT,
            self.manager_log(),
        )

    def _wait_agent(self, h: DevHost) -> None:
        self._wait_ready(
            f"agent:{h.name}",
            f"agent on {h.name}",
            lambda: devprobes.tcp_accepts(h.ip, self.agent_port),
            AGENT_READY_TIMEOUT,
            self.agent_log(h),
        )

    # -- using it -----------------------------------------------------------------------

    def host_exec(
        self, host: DevHost, argv: list[str], timeout: float = 30, **kwargs: Any
    ) -> subprocess.CompletedProcess:
        """Run argv inside the host's network namespace (nsenter --net), capture
        its output as text.  Extra keyword arguments go to subprocess.run."""
        h = self._host(host)
        kw: dict[str, Any] = {"capture_output": True, "text": True, "errors": "replace", "env": child_env()}
        kw.update(kwargs)
        return subprocess.run([which("nsenter"), f"--net={h.netns_path}", *argv], timeout=timeout, **kw)

    def docker(self, host: DevHost, timeout: float = 60):
        import docker

        h = self._host(host)
        return docker.DockerClient(base_url=f"unix://{h.docker_socket}", timeout=timeout)

    def kill_agent(self, host: DevHost) -> None:
        h = self._host(host)
        key = f"agent:{h.name}"
        self._current_state(refresh=True)
        if not self._proc(key):
            raise DevClusterError(f"no agent was started on {h.name}")
        if not self._stop_proc(key, 10, sig_first=signal.SIGKILL):
            raise DevClusterError(f"agent on {h.name} did not die on SIGKILL; log: {self.agent_log(h)}")

    def start_agent(self, host: DevHost) -> None:
        h = self._host(host)
        key = f"agent:{h.name}"
        if self._current_state(refresh=True) is None:
            raise DevClusterError(f"dev cluster in {self.state_dir} is not up")
        if self._proc_running(key):
            raise DevClusterError(f"agent on {h.name} is running already (pid {self._proc(key)['pid']})")
        rec = self._proc(key)
        argv = rec["argv"] if rec else self._agent_argv(h)
        # A host that joined keeps its certificate; one that never did needs the token.
        env = None if files.load(h.dir / "agent", "node") else {"SHOAL_JOIN_TOKEN": self.join_token("agent")}
        self._spawn(key, argv, self.agent_log(h), env=env)
        self._wait_agent(h)

    def kill_manager(self) -> None:
        self._current_state(refresh=True)
        if not self._stop_proc("manager", 10, sig_first=signal.SIGKILL):
            raise DevClusterError(f"manager did not die on SIGKILL; log: {self.manager_log()}")

    def start_manager_process(self) -> None:
        self._current_state(refresh=True)
        if self._proc_running("manager"):
            raise DevClusterError("manager is running already")
        self._start_manager()

    def kill_host(self, host: DevHost) -> None:
        """SIGKILL the host's agent and its dockerd: the host dies as a machine would."""
        h = self._host(host)
        self._current_state(refresh=True)
        for key in (f"agent:{h.name}", f"dockerd:{h.name}"):
            if self._proc_running(key) and not self._stop_proc(key, 10, sig_first=signal.SIGKILL):
                raise DevClusterError(f"{key} did not die on SIGKILL")

    def start_host(self, host: DevHost) -> None:
        """Start a killed host's dockerd again (same data root), then its agent."""
        h = self._host(host)
        key = f"dockerd:{h.name}"
        if self._current_state(refresh=True) is None:
            raise DevClusterError(f"dev cluster in {self.state_dir} is not up")
        if not self._proc_running(key):
            # A killed dockerd (and its containerd) may linger as zombies until pid 1 reaps
            # them; their pidfiles would make the new ones wait for the dead.
            for stale in (h.dir / "docker.pid", h.dir / "exec" / "containerd" / "containerd.pid"):
                stale.unlink(missing_ok=True)
            self._spawn(key, self._dockerd_argv(h), self.dockerd_log(h))
            self._wait_ready(key, f"dockerd on {h.name}", lambda: self._docker_ping(h), DOCKERD_READY_TIMEOUT,
                             self.dockerd_log(h))
        if not self._proc_running(f"agent:{h.name}"):
            self.start_agent(h)

    def kill_etcd(self) -> None:
        """SIGKILL etcd (for outage tests); its data dir stays, so start_etcd() resumes it."""
        self._current_state(refresh=True)
        if not self._stop_proc("etcd", 10, sig_first=signal.SIGKILL):
            raise DevClusterError(f"etcd did not die on SIGKILL; log: {self.etcd_log()}")

    def start_etcd(self) -> None:
        self._current_state(refresh=True)
        if self._proc_running("etcd"):
            raise DevClusterError("etcd is running already")
        self._spawn("etcd", self._etcd_argv(), self.etcd_log())
        self._wait_ready("etcd", "etcd", lambda: devprobes.etcd_healthy(self.etcd_url, self.manager_dir), ETCD_READY_TIMEOUT, self.etcd_log())

    def status(self) -> dict[str, Any]:
        """What is recorded and whether each piece is there now."""
        state = self._current_state(refresh=True)
        if state is None:
            return {"state_dir": str(self.state_dir), "status": "down"}
        procs = {}
        for key, rec in (state.get("procs") or {}).items():
            procs[key] = {
                "pid": rec["pid"],
                "running": rec.get("start") is not None and running(rec["pid"], rec["start"]),
                "log": rec.get("log"),
            }
        return {
            "state_dir": str(self.state_dir),
            "status": state.get("status"),
            "name": self.name,
            "etcd": self.etcd_url,
            "manager": self.manager_address if self.start_manager else None,
            "bridge": {"name": self.bridge, "present": devhosts.link_exists(self.bridge)},
            "hosts": [
                {
                    "name": h.name,
                    "ip": h.ip,
                    "agent": h.agent_address,
                    "docker": f"unix://{h.docker_socket}",
                    "netns": devhosts.netns_exists(h.netns),
                }
                for h in self.hosts
            ],
            "procs": procs,
        }

    # -- down ------------------------------------------------------------------------------

    def down(self, keep_logs: bool = False) -> None:
        """Remove everything recorded in cluster.json (or made by this object).
        Tolerant of partial state; safe to call twice.  keep_logs leaves
        state_dir/logs (everything else in state_dir goes)."""
        state = self._current_state(refresh=True)
        errors: list[str] = []
        if state is not None:
            self._teardown(state, errors)
        if self.state_dir.exists():
            try:
                if errors:
                    # keep the record so that another down() can retry
                    pass
                elif keep_logs:
                    for child in self.state_dir.iterdir():
                        if child.name == "logs":
                            continue
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
                else:
                    shutil.rmtree(self.state_dir)
            except OSError as e:
                errors.append(f"removing {self.state_dir}: {e}")
        if not errors:
            self._state = None
            self._popen.clear()
        if errors:
            raise DevClusterError(f"dev cluster down incomplete: {'; '.join(errors)}")

    def _teardown(self, state: dict[str, Any], errors: list[str]) -> None:
        with self._lock:
            state["status"] = "stopping"
            if self.state_file.exists() or self.state_dir.exists():
                try:
                    self._save()
                except OSError:
                    pass
        procs: dict[str, Any] = state.get("procs") or {}
        hosts = state.get("hosts") or []

        # 1. agents and manager (they talk to dockerd and etcd)
        keys = [k for k in procs if k.startswith("agent:")] + (["manager"] if "manager" in procs else [])
        if keys:
            with ThreadPoolExecutor(max_workers=len(keys)) as ex:
                for key, ok in zip(keys, ex.map(lambda k: self._stop_proc(k, PROC_STOP_TIMEOUT), keys), strict=True):
                    if not ok:
                        errors.append(f"{key} (pid {procs[key]['pid']}) did not stop")

        # 2. hosts: containers, dockerd, leftovers, mounts (in parallel)
        def host_down(h: dict[str, Any]) -> list[str]:
            return self._host_down(h, procs)

        if hosts:
            with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as ex:
                for errs in ex.map(host_down, hosts):
                    errors.extend(errs)

        # 3. etcd
        if "etcd" in procs and not self._stop_proc("etcd", PROC_STOP_TIMEOUT):
            errors.append(f"etcd (pid {procs['etcd']['pid']}) did not stop")

        # anything else recorded (future additions)
        for key in list(procs):
            if key == "etcd" or key == "manager" or key.startswith(("agent:", "dockerd:")):
                continue
            if not self._stop_proc(key, PROC_STOP_TIMEOUT):
                errors.append(f"{key} (pid {procs[key]['pid']}) did not stop")

        # 4. network: netns + veths, then the bridge and our forward rule
        for h in hosts:
            try:
                devhosts.delete_link(h["veth"])
            except Exception as e:
                errors.append(f"deleting link {h['veth']}: {e}")
            try:
                devhosts.delete_netns(h["netns"])
            except Exception as e:
                errors.append(f"deleting netns {h['netns']}: {e}")
        br = state.get("bridge") or {}
        if br.get("name"):
            try:
                pools = address_pools((state.get("config") or {}).get("docker_bip_base") or self.docker_bip_base)
                devhosts.remove_container_routes(br["name"], pools)
            except Exception as e:
                errors.append(f"removing the routes of {br['name']}: {e}")
            try:
                devhosts.delete_link(br["name"])
            except Exception as e:
                errors.append(f"deleting bridge {br['name']}: {e}")
            if br.get("forward_rule"):
                try:
                    devhosts.remove_bridge_forwarding(br["name"])
                except Exception as e:
                    errors.append(f"removing the iptables rule of {br['name']}: {e}")

    def _host_down(self, h: dict[str, Any], procs: dict[str, Any]) -> list[str]:
        errors: list[str] = []
        name = h["name"]
        hdir = Path(h["dir"])
        key = f"dockerd:{name}"
        sock = Path(h.get("docker_socket") or hdir / "docker.sock")

        # remove containers first: dockerd would give each one its stop timeout
        # (10 s by default) on shutdown
        if self._proc_running(key) and sock.exists():
            devcleanup.remove_containers(sock)
        if key in procs and not self._stop_proc(key, DOCKERD_STOP_TIMEOUT):
            errors.append(f"dockerd on {name} (pid {procs[key]['pid']}) did not stop; log: {procs[key].get('log')}")

        # whatever a dead dockerd left behind: containerd, shims, containers, mounts
        errors.extend(devcleanup.clear_host(devhosts.netns_path(h["netns"]), hdir))
        return errors
