"""The threat model, attacked: a compromised host (its agent's own certificate and key, used
directly against etcd) tries each finding of issue 14 against the real dev cluster, and each
attack must fail. docs/SECURITY.md points at these tests, claim by claim.

Here: malformed records crash nothing (1), routes only to manager-bound subnets (2), DNS only
what the manager placed (4), a forced compaction costs a reload (10). The other findings have
their attacks beside the code they test: node names (3) in test_node_identity.py, the leader's
heartbeat (5) in test_leader_heartbeat.py, revoked certificates (6) in test_security.py, secret
values in argv (7) in test_secret_input.py, the CLI session's caller checks (8) in
test_cli_session.py, planted symlinks (9) in tests/unit/test_pki_files.py."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.pki import files
from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdClient, TlsConfig
from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"


def creds_of(host):
    creds = files.load(host.dir / "agent", "node")
    assert creds is not None
    return creds


def as_host(cluster, host, action):
    """Runs `action(etcd, node_id)` with that host's own etcd identity."""
    creds = creds_of(host)

    async def go():
        async with EtcdClient([cluster.etcd_url], tls=TlsConfig(creds.ca, creds.cert, creds.key), timeout=5) as etcd:
            return await action(etcd, creds.identity.node_id)
    return asyncio.run(go())


def all_up(cluster) -> None:
    procs = cluster.status()["procs"]
    down = [k for k, p in procs.items() if k.split(":")[0] in ("manager", "agent") and not p["running"]]
    assert not down, f"exited: {down}; manager log tail: {cluster.manager_log().read_text()[-2000:]}"


def still_schedules(shoal, cluster, name="probe", replicas=3) -> None:
    shoal("service", "create", "--name", name, "--replicas", "1", "--stop-grace-period", "1s", IMAGE, "sleep", "3600")
    shoal("service", "scale", f"{name}={replicas}")
    poll(lambda: sum(1 for c in shoal.json("ps") if c["service"] == name and c["state"] == "running") == replicas,
         60, what=f"{replicas} running tasks of {name}")
    shoal("node", "ls")
    shoal("service", "ls")
    shoal("service", "rm", name)


def info_of(cluster, host):
    async def read(etcd, node_id):
        kv = await etcd.get(etcd_keys.node_info(node_id))
        assert kv is not None and kv.lease, "the agent's info record is under its lease"
        return node_id, kv.value, kv.lease
    return as_host(cluster, host, read)


def put_as(cluster, host, key_of, value, leased=True, lease=0):
    """Writes as that host: under its agent's lease (`leased`), or none, or the `lease` given."""
    async def put(etcd, node_id):
        use = lease or ((await etcd.get(etcd_keys.node_info(node_id))).lease if leased else 0)
        await etcd.put(key_of(node_id), value, lease=use)
    as_host(cluster, host, put)


def restore_info(cluster, host, original: bytes, lease: int) -> None:
    put_as(cluster, host, etcd_keys.node_info, original, lease=lease)


# ---- finding 1: one malformed record crashed every manager and agent --------------------------
@pytest.mark.parametrize("value", [b'{"id": "%s", "nanoCpus": ', b"\x00\xff not protobuf", b'{"id": "%s", "description": {"nanoCpus": 1e400}}',
                                   b'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'])
def test_a_malformed_info_record_crashes_nothing(shoal, cluster, value):
    h1 = cluster.hosts[0]
    node_id, original, lease = info_of(cluster, h1)
    put_as(cluster, h1, etcd_keys.node_info, value.replace(b"%s", node_id.encode()))
    try:
        poll(lambda: h1.name not in {n["name"] for n in shoal.json("node", "ls") if n["state"] == "ready"}, 10,
             what="the node with an unreadable record to drop out")
        all_up(cluster)
        still_schedules(shoal, cluster)
        all_up(cluster)
    finally:
        restore_info(cluster, h1, original, lease)
    poll(lambda: h1.name in shoal.nodes(), 20, what="the node back once its record is good again")


def test_an_unleased_malformed_record_does_not_stop_a_manager_start(shoal, cluster):
    h1 = cluster.hosts[0]
    key = etcd_keys.node_prefix(info_of(cluster, h1)[0]) + "endpoints/stays-forever"
    put_as(cluster, h1, lambda node_id: key, b'{"name": "db", "ip": "10.214.20.99", "ports": [{"port": 1e400}]}',
           leased=False)
    put_as(cluster, h1, lambda node_id: etcd_keys.node_container(node_id, "forever"), b'{"status": ', leased=False)
    try:
        cluster.kill_manager()
        cluster.start_manager_process()
        poll(lambda: len(shoal.nodes()) >= 3, 30, what="the restarted manager to see the nodes")
        # The killed manager's leadership ends with its lease (the TTL) before this one can lead.
        poll(lambda: "(leader)" in shoal("cluster", "status", check=False).stdout, 30, what="a leader")
        all_up(cluster)
        assert "skipped a bad record" in cluster.manager_log().read_text()
        still_schedules(shoal, cluster)
    finally:
        async def clean(etcd, node_id):
            await etcd.delete(key)
            await etcd.delete(etcd_keys.node_container(node_id, "forever"))
        as_host(cluster, h1, clean)


def test_bad_status_and_endpoint_records_leave_admins_their_commands(shoal, cluster):
    h1 = cluster.hosts[0]
    shoal("service", "create", "--name", "web", "--replicas", "2", "--stop-grace-period", "1s", IMAGE, "sleep", "3600")
    poll(lambda: sum(1 for c in shoal.json("ps") if c["state"] == "running") == 2, 60, what="2 tasks")
    put_as(cluster, h1, lambda n: etcd_keys.node_container(n, "bogus"), b'{"status": ')
    put_as(cluster, h1, lambda n: etcd_keys.node_endpoint(n, "bogus"),
           b'{"name": "web.9", "ip": "10.214.20.9", "ports": [{"port": 1e400}]}')
    ids = [c["id"] for c in shoal.json("ps")]
    for cid in ids:
        put_as(cluster, h1, lambda n, cid=cid: etcd_keys.node_container(n, cid), b"\x0a\xff\xff\xff garbage")
    all_up(cluster)
    shoal("ps")
    shoal("node", "ls")
    shoal("service", "ls")
    shoal("service", "scale", "web=4")
    # h1's tasks show no trustworthy status while its records are bad; the scale itself is carried out.
    poll(lambda: sum(1 for c in shoal.json("ps") if c["service"] == "web" and c["desired_state"] == "running") == 4,
         60, what="scale to be carried out")
    all_up(cluster)

    async def clean(etcd, node_id):
        for cid in ["bogus", *ids]:
            await etcd.delete(etcd_keys.node_container(node_id, cid))
        await etcd.delete(etcd_keys.node_endpoint(node_id, "bogus"))
    as_host(cluster, h1, clean)


record_values = st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["id", "name", "ip", "port", "ports", "status", "nanoCpus", "description", "containerSubnet",
                         "address", "service", "node", "state"]) | st.text(max_size=8), inner, max_size=6),
    max_leaves=20).map(lambda v: json.dumps(v).encode())
agent_keys = st.sampled_from(["info", "containers/c1", "endpoints/c1", "endpoints/web", "info/x", "other"])


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(writes=st.lists(st.tuples(agent_keys, record_values, st.booleans()), min_size=1, max_size=6))
def test_property_arbitrary_records_under_a_hosts_keys(shoal, cluster, writes):
    """Seeded (derandomize): make test runs the same 25 examples every time."""
    h1 = cluster.hosts[0]
    node_id, original, lease = info_of(cluster, h1)
    written = set()
    try:
        for suffix, value, leased in writes:
            key = etcd_keys.node_prefix(node_id) + suffix
            written.add(key)
            put_as(cluster, h1, lambda n, key=key: key, value, leased=leased)
        all_up(cluster)
        r = shoal("node", "ls", check=False)
        assert r.returncode == 0, r.stderr
    finally:
        async def clean(etcd, n):
            for key in written:
                if key != etcd_keys.node_info(n):
                    await etcd.delete(key)
        as_host(cluster, h1, clean)
        restore_info(cluster, h1, original, lease)
    poll(lambda: len([n for n in shoal.json("node", "ls") if n["state"] == "ready"]) >= 3, 20, what="3 nodes ready")


def test_after_arbitrary_records_the_cluster_still_schedules(shoal, cluster):
    all_up(cluster)
    still_schedules(shoal, cluster, replicas=4)


# ---- finding 2: routes only to the subnet the manager bound to a host --------------------------
def routes_of(host) -> str:
    """The host's routes without link-state flags: docker0's route reads `linkdown` until a container's
    veth joins the bridge, which starting the marker container does (failed CI with nothing rerouted)."""
    out = subprocess.run(["ip", "-n", host.netns, "route", "show"], capture_output=True, text=True, check=True).stdout
    return "\n".join(" ".join(w for w in line.split() if w != "linkdown") for line in out.splitlines())


@pytest.mark.parametrize("subnet", ["0.0.0.0/0", "10.213.8.1/32", "10.214.21.0/24", "10.240.0.0/16"])
def test_a_host_cannot_route_others_traffic_through_itself(shoal, cluster, subnet):
    h1, h2 = cluster.hosts[0], cluster.hosts[1]
    before = routes_of(h2)
    node_id, original, lease = info_of(cluster, h1)
    doc = json.loads(original)
    doc.setdefault("description", {})["containerSubnet"] = subnet
    doc["address"] = cluster.hosts[2].agent_address   # and claim another host's address for good measure
    put_as(cluster, h1, etcd_keys.node_info, json.dumps(doc).encode())
    try:
        # A container started on h2 after the forged record, and found in h2's resolver, means h2's
        # agent has taken every earlier /shoal/nodes/ event from its (ordered) watch.
        shoal("run", "-d", "--name", "marker", "--constraint", f"node.name=={h2.name}", IMAGE, "sleep", "3600")
        server = resolver_of(cluster, h2)
        poll(lambda: ask_in(h2, server, "marker.shoal") or None, 30, what="h2's resolver to know the marker")
        after = routes_of(h2)
        assert after == before, f"h2's routes changed:\n{before}\n->\n{after}"
        assert "default via" in after
    finally:
        restore_info(cluster, h1, original, lease)
    assert "default via" in routes_of(h2)


# ---- finding 4: DNS answers only what the manager placed ---------------------------------------
def resolver_of(cluster, host) -> tuple[str, int]:
    addr = json.loads(info_of(cluster, host)[1])["description"]["dnsAddress"]
    ip, _, port = addr.rpartition(":")
    return ip, int(port)


def ask_in(host, server: tuple[str, int], name: str) -> set[str]:
    code = ("import sys; from dnslib import DNSRecord; q = DNSRecord.question(sys.argv[1]);"
            "r = DNSRecord.parse(q.send(sys.argv[2], int(sys.argv[3]), timeout=3));"
            "print(' '.join(str(a.rdata) for a in r.rr if a.rtype == 1))")
    out = subprocess.run(["nsenter", f"--net={host.netns_path}", sys.executable, "-c", code, name, server[0],
                          str(server[1])], capture_output=True, text=True, timeout=20, check=True).stdout
    return set(out.split())


def ask_manager(cluster, name: str) -> set[str]:
    host, _, port = cluster.manager_dns.rpartition(":")
    reply = DNSRecord.parse(DNSRecord.question(name, "A").send(host, int(port), timeout=3))
    return {str(a.rdata) for a in reply.rr if a.rtype == 1}


def test_a_host_cannot_make_dns_answer_names_it_was_not_given(shoal, cluster):
    h1, h2 = cluster.hosts[0], cluster.hosts[1]
    shoal("service", "create", "--name", "web", "--replicas", "2", "--stop-grace-period", "1s",
          "--constraint", f"node.name=={h2.name}", IMAGE, "sleep", "3600")
    shoal("run", "-d", "--name", "db", "--constraint", f"node.name=={h2.name}", IMAGE, "sleep", "3600")
    server = resolver_of(cluster, h2)
    honest = poll(lambda: (lambda a: a if len(a) == 2 else None)(ask_in(h2, server, "web.shoal")), 30,
                  what="web to resolve to its 2 tasks")
    db = poll(lambda: ask_in(h2, server, "db.shoal") or None, 30, what="db to resolve")
    evil = "10.214.20.66"   # inside h1's own container subnet: only the names are forged
    for cid, name, service in (("evil1", "web.9", "web"), ("evil2", "db", ""), ("evil3", "web.1", "web")):
        for leased in (True, False):
            put_as(cluster, h1, lambda n, cid=cid, leased=leased: etcd_keys.node_endpoint(n, cid + str(leased)),
                   json.dumps({"name": name, "service": service, "ip": evil, "ports": [], "node": ""}).encode(),
                   leased=leased)
    try:
        # Wait until a later, honest change has reached h2's resolver: then the forged records have too.
        shoal("service", "scale", "web=3")
        poll(lambda: len(ask_in(h2, server, "web.shoal")) == 3, 30, what="the honest third task in DNS")
        for name in ("web.shoal", "db.shoal", "web.9.shoal", "web.1.shoal", "tasks.web.shoal"):
            assert evil not in ask_in(h2, server, name), name
            assert evil not in ask_manager(cluster, name), name
        assert honest <= ask_in(h2, server, "web.shoal") and ask_in(h2, server, "db.shoal") == db
    finally:
        async def clean(etcd, n):
            await etcd.delete(etcd_keys.node_prefix(n) + "endpoints/evil", prefix=True)
        as_host(cluster, h1, clean)


# ---- finding 10: a forced compaction costs only a reload -------------------------------------
def test_a_compaction_forced_by_a_host_costs_a_reload(shoal, cluster):
    h1 = cluster.hosts[0]

    async def compact(etcd, node_id):
        kv = await etcd.get(etcd_keys.node_info(node_id))
        await etcd.compact(kv.mod_revision)
    try:
        as_host(cluster, h1, compact)
    except Exception as exc:   # a later etcd may refuse it: then there is nothing to recover from
        pytest.skip(f"etcd refused the compaction: {exc}")
    all_up(cluster)
    still_schedules(shoal, cluster)
