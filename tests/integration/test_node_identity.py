"""Issue 14, finding 3 (and the manager side of 2): a node's name, hostname, address and container
subnet are what the leader bound, not what its agent writes later. Attacked with a host's own
etcd identity (its agent's certificate and key) on the real dev cluster, and with nodes joined
through the real join flow that claim what is not theirs."""
from __future__ import annotations

import asyncio
import json
import secrets
import subprocess

import pytest
from google.protobuf import json_format

from shoal.pki import files
from shoal.pki.files import Credentials
from shoal.pki.join import join, join_address
from shoal.protos import etcd_keys, node_identity
from shoal.etcd.client import EtcdClient, TlsConfig
from shoal.protos.shoal.v1 import types_pb2
from tests.polling import poll
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"


def creds_of(host) -> Credentials:
    creds = files.load(host.dir / "agent", "node")
    assert creds is not None
    return creds


def etcd_as(cluster, creds: Credentials, action):
    async def go():
        async with EtcdClient([cluster.etcd_url], tls=TlsConfig(creds.ca, creds.cert, creds.key), timeout=5) as etcd:
            return await action(etcd)
    return asyncio.run(go())


def manager_creds(cluster) -> Credentials:
    creds = files.load(cluster.manager_dir, "manager")
    assert creds is not None
    return creds


def bound(cluster, node_id: str):
    kv = etcd_as(cluster, manager_creds(cluster), lambda etcd: etcd.get(etcd_keys.node_ident(node_id)))
    return None if kv is None else node_identity.decode(kv.value)


def name_holder(cluster, name: str) -> str | None:
    kv = etcd_as(cluster, manager_creds(cluster), lambda etcd: etcd.get(etcd_keys.node_name(name)))
    return None if kv is None else kv.value.decode()


def by_id(shoal) -> dict[str, dict]:
    return {n["id"]: n for n in shoal.json("node", "ls")}


def engine_names(host) -> list[str]:
    r = subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", "ps", "-a", "--format",
                        '{{.Label "io.shoal.name"}}'], capture_output=True, text=True, check=True, timeout=30)
    return r.stdout.split()


def test_a_host_cannot_take_another_hosts_name_nor_its_pinned_work(shoal, cluster):
    """h1, with its own credentials, rewrites its info record as h2 (name, hostname, address and
    subnet): node ls still shows one h2, and work pinned to h2 with a secret lands on h2 only."""
    h1, h2 = cluster.hosts[0], cluster.hosts[1]
    me, them = creds_of(h1).identity.node_id, creds_of(h2).identity.node_id
    h1_bound, h2_bound = bound(cluster, me), bound(cluster, them)
    assert h1_bound.name == h1.name and h2_bound.name == h2.name and h2_bound.container_subnet
    kv = etcd_as(cluster, creds_of(h1), lambda etcd: etcd.get(etcd_keys.node_info(me)))
    assert kv is not None and kv.lease
    original = kv.value

    def write_info(**fields) -> None:
        node = json_format.Parse(original, types_pb2.Node(), ignore_unknown_fields=True)
        node.name = fields.get("name", node.name)
        node.address = fields.get("address", node.address)
        node.description.hostname = fields.get("hostname", node.description.hostname)
        node.description.container_subnet = fields.get("subnet", node.description.container_subnet)
        etcd_as(cluster, creds_of(h1), lambda etcd: etcd.put(etcd_keys.node_info(me), json_format.MessageToJson(node),
                                                              lease=kv.lease))

    write_info(name=h2.name, hostname=h2_bound.hostname + "-forged", address=h2_bound.address,
               subnet=h2_bound.container_subnet)
    try:
        node = poll(lambda: (n := by_id(shoal).get(me)) and f'name "{h2.name}"' in n["note"] and n, 15,
                    what="h1's forged name noted and refused")
        assert (node["name"], node["address"], node["state"]) == (h1.name, h1_bound.address, "ready")
        assert node["description"]["container_subnet"] == h1_bound.container_subnet
        assert [n["id"] for n in shoal.json("node", "ls") if n["name"] == h2.name] == [them]
        assert bound(cluster, me) == h1_bound and bound(cluster, them) == h2_bound
        assert name_holder(cluster, h2.name) == them

        shoal("service", "create", "--name", "pinned", "--replicas", "3", "--constraint", f"node.name=={h2.name}",
              "--secret-env", "API_KEY=pinned-secret-value", "--stop-grace-period", "1s", IMAGE, "sleep", "300")
        tasks = poll(lambda: (t := [c for c in shoal.json("ps") if c["service"] == "pinned" and c["state"] == "running"])
                     and len(t) == 3 and t, 60, what="3 running tasks of pinned")
        assert {t["node_id"] for t in tasks} == {them} and {t["node"] for t in tasks} == {h2.name}
        assert not [n for n in engine_names(h1) if n.startswith("pinned.")]
        assert len([n for n in engine_names(h2) if n.startswith("pinned.")]) == 3

        # A new name nobody holds changes nothing on a bound node either.
        write_info(name="brand-new-name")
        poll(lambda: 'name "brand-new-name"' in by_id(shoal)[me]["note"], 15, what="the new name refused")
        assert by_id(shoal)[me]["name"] == h1.name and "brand-new-name" not in shoal.nodes()
        assert name_holder(cluster, "brand-new-name") is None
    finally:
        etcd_as(cluster, creds_of(h1), lambda etcd: etcd.put(etcd_keys.node_info(me), original, lease=kv.lease))
    poll(lambda: by_id(shoal)[me]["note"] == "", 15, what="h1's note gone once its record is its own again")


class FakeNode:
    """A node joined with the agent token through the real join flow, with its own etcd identity,
    that writes whatever info record a test wants under its own lease (no agent process)."""

    def __init__(self, cluster, node_id: str = ""):
        self.cluster = cluster
        self.id = node_id or secrets.token_hex(10)
        self.creds, _ = asyncio.run(join(join_address(cluster.manager_address), cluster.join_token("agent"),
                                         "agent", self.id))
        self.lease = 0

    def etcd(self, action):
        return etcd_as(self.cluster, self.creds, action)

    def register(self, name: str, subnet: str = "", address: str = "") -> None:
        node = types_pb2.Node(id=self.id, name=name, address=address or f"127.0.0.1:{free_port()}",
                              description=types_pb2.NodeDescription(hostname=name, nano_cpus=10**9,
                                                                    memory_bytes=256 << 20, container_subnet=subnet))

        async def put(etcd):
            if not self.lease:
                self.lease = await etcd.lease_grant(120)
            await etcd.put(etcd_keys.node_info(self.id), json_format.MessageToJson(node), lease=self.lease)
        self.etcd(put)

    def deregister(self) -> None:
        if self.lease:
            self.etcd(lambda etcd: etcd.lease_revoke(self.lease))
            self.lease = 0


@pytest.fixture
def fake_nodes(shoal, cluster):
    made: list[FakeNode] = []

    def make(node_id: str = "") -> FakeNode:
        made.append(FakeNode(cluster, node_id))
        return made[-1]
    yield make
    for n in made:
        shoal("node", "rm", "--force", n.id, check=False)


def test_a_new_node_with_a_taken_name_is_listed_by_id_and_gets_no_work(shoal, cluster, fake_nodes):
    h2 = cluster.hosts[1]
    them = creds_of(h2).identity.node_id
    new = fake_nodes()
    new.register(h2.name, subnet="10.214.99.0/24")
    node = poll(lambda: by_id(shoal).get(new.id), 15, what="the newcomer listed")
    assert (node["name"], node["address"], node["state"]) == ("", "", "unbound")
    assert node["note"].startswith(f"not bound: name {h2.name} is taken by node {them}"), node["note"]
    assert [n["id"] for n in shoal.json("node", "ls") if n["name"] == h2.name] == [them]
    assert bound(cluster, new.id) is None and name_holder(cluster, h2.name) == them
    r = shoal("run", "-d", "--name", "to-newcomer", "--constraint", f"node.id=={new.id}", IMAGE, "sleep", "300",
              check=False)
    assert r.returncode != 0 and "no node fits" in r.stderr, r

    # Under a name nobody holds it is bound at first sight, with its subnet from the pool.
    new.register("newcomer-7", subnet="10.214.99.0/24")
    node = poll(lambda: (n := by_id(shoal).get(new.id)) and n["state"] == "ready" and n, 15, what="the newcomer bound")
    assert node["name"] == "newcomer-7" and node["note"] == ""
    assert bound(cluster, new.id).container_subnet == "10.214.99.0/24"
    assert name_holder(cluster, "newcomer-7") == new.id

    # node rm frees the name and the binding.
    shoal("node", "rm", "--force", new.id)
    assert bound(cluster, new.id) is None and name_holder(cluster, "newcomer-7") is None


def test_a_subnet_outside_the_pool_or_of_another_host_is_not_recorded(shoal, cluster, fake_nodes):
    h1 = cluster.hosts[0]
    me = creds_of(h1).identity.node_id
    h1_subnet = bound(cluster, me).container_subnet
    claims = {
        "0.0.0.0/0": "wider than /16",
        "10.213.7.1/32": "narrower than /30",
        "192.168.77.0/24": "outside the container pool (10.214.0.0/16)",
        h1_subnet: f"overlaps node {me}'s {h1_subnet}",
    }
    nodes = {}
    for i, subnet in enumerate(claims):
        nodes[subnet] = fake_nodes()
        nodes[subnet].register(f"claimer-{i}", subnet=subnet)
    for subnet, why in claims.items():
        n = nodes[subnet]
        shown = poll(lambda n=n: (v := by_id(shoal).get(n.id)) and v["state"] == "ready" and v, 15,
                     what=f"the node claiming {subnet} bound")
        assert why in shown["note"] and shown["description"]["container_subnet"] == "", shown
        assert bound(cluster, n.id).container_subnet == ""
        inspected = json.loads(shoal("node", "inspect", n.id).stdout)
        assert why in inspected["note"]
    assert bound(cluster, me).container_subnet == h1_subnet
