"""A real 3-host dev cluster for the integration tests: network namespaces, one dockerd and
one agent per host, a real etcd and a real manager. Built once per session, and before it goes,
every log of its daemons is searched for the secrets it knew (``no_secrets_in_logs``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.polling import poll
from tests.integration.ports import free_port, free_port_pair

ROOT = Path(__file__).resolve().parents[2]
LEASE_TTL = 5
HOST_MEMORY = 256 << 20
BRIDGE_IP = "10.213.8.1"
UPSTREAM_PORT = 5354
UPSTREAM_NAMES = {"example.test": "192.0.2.10"}
# A secret env value tests hand to containers and services (test_security.py); no log may show it.
SECRET_ENV_VALUE = "tide-9f27c1e0-secret-value"


@dataclass
class Shoal:
    """Runs the real `shoal` CLI against the test cluster's manager."""
    manager: str
    tls_dir: str = ""
    config_dir: str = "/nonexistent-shoal-config"
    env: dict = field(default_factory=dict)

    def at(self, manager: str) -> "Shoal":
        """The same CLI, pointed at other manager address(es)."""
        return Shoal(manager, self.tls_dir, self.config_dir, self.env)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ, SHOAL_CONFIG_DIR=self.config_dir, SHOAL_TLS_DIR=self.tls_dir, **self.env)
        env.pop("SHOAL_MANAGER", None)
        return env

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = self._env()
        r = subprocess.run([sys.executable, "-m", "shoal", "--manager", self.manager, *args],
                           capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
        if check and r.returncode != 0:
            raise AssertionError(f"shoal {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def json(self, *args: str):
        return json.loads(self(*args, "--format", "json").stdout)

    def popen(self, *args: str, text: bool = False) -> subprocess.Popen:
        env = self._env()
        return subprocess.Popen([sys.executable, "-m", "shoal", "--manager", self.manager, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=text)

    def nodes(self) -> dict[str, dict]:
        return {n["name"]: n for n in self.json("node", "ls")}

    def placement(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.json("ps"):
            counts[c["node"]] = counts.get(c["node"], 0) + 1
        return counts


class LogScan:
    """The secrets of the session cluster, and the leaks of them found in its daemons' logs."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {"secret env value": SECRET_ENV_VALUE}
        self.cluster_was_up = False
        self.scanned: list[Path] = []
        self.leaks: list[str] = []

    def learn(self, cluster) -> None:
        """Records the secrets the cluster has now: join tokens (rotated ones stay recorded)
        and their secret halves, the body of every private key in its state dir."""
        self.cluster_was_up = True
        for role in ("agent", "manager"):
            token = _current_join_token(cluster, role)
            self.secrets[f"{role} join token {token[:12]}..."] = token
            # The secret half alone must not leak either.
            self.secrets[f"{role} join token secret of {token[:12]}..."] = token.rsplit("-", 1)[1]
        for key in sorted(Path(cluster.state_dir).rglob("*.key")):
            # Each line of the PEM body (64 characters; the last may be shorter): any log of the
            # key, however joined or wrapped, holds a whole one. A last line under 16 is too short.
            lines = [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
            for i, line in enumerate(lines):
                if len(line) >= 16:
                    self.secrets[f"private key {key.relative_to(cluster.state_dir)} (line {i + 1})"] = line

    def scan(self, log_dir: Path) -> None:
        self.scanned = sorted(Path(log_dir).glob("*.log"))
        for log in self.scanned:
            text = log.read_text(errors="replace")
            for name, value in self.secrets.items():
                if value in text:
                    self.leaks.append(f"{name} in {log.name}")
            if "PRIVATE KEY" in text:
                self.leaks.append(f"a PEM private key in {log.name}")

    def verdict(self) -> None:
        short = [name for name, value in self.secrets.items() if len(value) < 16]
        if short:
            pytest.fail(f"secrets too short to search for without false hits: {short}", pytrace=False)
        if len(self.scanned) < 5:   # etcd, manager, an agent and a dockerd per host
            pytest.fail(f"only {len(self.scanned)} daemon logs to scan: {[p.name for p in self.scanned]}",
                        pytrace=False)
        if self.leaks:
            pytest.fail("secrets in the session cluster's logs: " + "; ".join(self.leaks), pytrace=False)


def _current_join_token(cluster, role: str) -> str:
    """Asks the manager (not the dev cluster's cached copy, which a rotation may have outdated)."""
    import grpc

    from shoal.protos.shoal.v1 import manager_pb2
    from shoal.client import connect

    channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
    try:
        def ask() -> str | None:
            try:
                return stub.JoinToken(manager_pb2.JoinTokenRequest(role=role), timeout=5).token
            except grpc.RpcError:  # the manager may be restarting, or not lead yet
                return None

        return poll(ask, 30, interval=0.5, what=f"the manager's {role} join token (log: {cluster.manager_log()})")
    finally:
        channel.close()


@pytest.fixture(scope="session", autouse=True)
def no_secrets_in_logs():
    """No join token (nor its secret half), private key or secret env value in any daemon log of
    the session cluster. Autouse and session-scoped, so the verdict comes after every test that
    ran, whichever were selected: the ``cluster`` fixture records the secrets when it is up and
    scans all its logs just before it goes (``down`` removes them); a leak then fails this
    fixture's teardown, an error that makes pytest exit non-zero. Without a cluster, nothing."""
    scan = LogScan()
    yield scan
    if scan.cluster_was_up:
        scan.verdict()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, no_secrets_in_logs):
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (network namespaces, dockerd)")
    from shoal.cli.dev import wait_for_nodes
    from shoal.devcluster import DevCluster

    from tests.integration.fake_resolver import FakeResolver

    state_dir = tmp_path_factory.mktemp("devcluster")
    c = DevCluster(
        state_dir, name="shoalt", hosts=3, subnet="10.213.8.0/24", docker_bip_base="10.214.20.0",
        etcd_port=free_port_pair(), manager_port=free_port_pair(), agent_port=7071, host_memory=HOST_MEMORY,
        lease_ttl=LEASE_TTL, dns_upstream=f"{BRIDGE_IP}:{UPSTREAM_PORT}", manager_dns=f"127.0.0.1:{free_port()}",
    )
    upstream = None
    up = False
    try:
        c.up()
        # The hosts' "upstream DNS": on the test bridge this fixture made, never the machine's resolvers.
        upstream = FakeResolver(BRIDGE_IP, UPSTREAM_PORT, UPSTREAM_NAMES)
        wait_for_nodes(c.manager_address, c.admin_credentials(), 3)
        no_secrets_in_logs.learn(c)
        up = True
        yield c
    finally:
        try:
            if up:  # after every test: the secrets of now (rotated tokens, renewed keys), every log
                no_secrets_in_logs.learn(c)
                no_secrets_in_logs.scan(c.log_dir)
        finally:
            if upstream is not None:
                upstream.close()
            # SHOAL_TEST_KEEP_LOGS=1 keeps the daemons' logs (in pytest's tmp dir) to debug a failure.
            c.down(keep_logs=bool(os.environ.get("SHOAL_TEST_KEEP_LOGS")))


@pytest.fixture
def shoal(cluster):
    s = Shoal(cluster.manager_address, str(cluster.admin_dir))
    _reset(s, cluster)
    yield s
    _reset(s, cluster)


def _reset(s: Shoal, cluster) -> None:
    """Every test starts from an empty cluster with all nodes active and unlabelled. Done over
    gRPC in-process: the CLI itself is what the tests exercise, not the clean-up."""
    from shoal.protos.shoal.v1 import manager_pb2
    from shoal.client import connect

    for host in cluster.hosts:
        cluster.start_host(host)  # starts only what a test killed
    channel, stub = connect(cluster.manager_address, cluster.admin_credentials())
    t = 30
    try:
        # Nodes that tests add (test_machines) may be there too; the dev hosts must all be.
        poll(lambda: {n.name for n in stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=t).nodes
                      if n.state == "ready"} >= {h.name for h in cluster.hosts}, 30, what="all nodes ready")
        for svc in stub.ListServices(manager_pb2.ListServicesRequest(), timeout=t).services:
            stub.RemoveService(manager_pb2.ServiceRef(ref=svc.spec.name), timeout=t)
        for c in stub.ListContainers(manager_pb2.ListContainersRequest(all=True), timeout=t).containers:
            if not c.service_id:
                stub.RemoveContainer(manager_pb2.RemoveRequest(ref=c.id, force=True), timeout=t)
        # Removed tasks get their stop grace period (10 s for a `sleep` that ignores SIGTERM); the
        # next test need not wait for it, so whatever still runs is killed on the engines.
        for host in cluster.hosts:
            _kill_all(host.docker_socket)
        poll(lambda: not stub.ListContainers(manager_pb2.ListContainersRequest(all=True), timeout=t).containers, 60,
             interval=0.3, what="all containers and tasks to be gone")
        for net in stub.ListNetworks(manager_pb2.ListNetworksRequest(), timeout=t).networks:
            stub.RemoveNetwork(manager_pb2.NetworkRef(ref=net.name), timeout=t)
        for vol in stub.ListVolumes(manager_pb2.ListVolumesRequest(), timeout=t).volumes:
            stub.RemoveVolume(manager_pb2.RemoveVolumeRequest(name=vol.name, force=True), timeout=t)
        for node in stub.ListNodes(manager_pb2.ListNodesRequest(), timeout=t).nodes:
            if node.availability != "active" or node.labels:
                stub.UpdateNode(manager_pb2.UpdateNodeRequest(ref=node.id, label_rm=list(node.labels),
                                                              availability="active"), timeout=t)
    finally:
        channel.close()


def _kill_all(socket_path) -> None:
    import docker
    import docker.errors

    client = docker.DockerClient(base_url=f"unix://{socket_path}", timeout=30)
    try:
        for container in client.containers.list(filters={"status": "running"}):
            try:
                container.kill()
            except docker.errors.APIError:
                pass  # it stopped (or was removed) on its own meanwhile
    finally:
        client.close()
