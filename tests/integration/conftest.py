"""A real 3-host dev cluster for the integration tests: network namespaces, one dockerd and
one agent per host, a real etcd and a real manager. Built once per session."""
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


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
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
    try:
        c.up()
        # The hosts' "upstream DNS": on the test bridge this fixture made, never the machine's resolvers.
        upstream = FakeResolver(BRIDGE_IP, UPSTREAM_PORT, UPSTREAM_NAMES)
        wait_for_nodes(c.manager_address, c.admin_credentials(), 3)
        yield c
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
