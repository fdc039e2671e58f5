"""What agents write to etcd is untrusted input (issue 14, finding 1): every record is decoded
defensively by the manager's ClusterState and the agent's ClusterView; a bad one is skipped and
counted, and the rest of the view keeps working. Pure: no etcd here (the attacks on a real cluster
are in tests/integration/test_threat_model.py)."""
from __future__ import annotations

import ipaddress
import json
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.agent.cluster_view import ClusterView
from shoal.agent.routes import wanted_routes
from shoal.manager.state import ClusterState
from shoal.protos import etcd_keys, node_identity, placements, records
from shoal.dns.gate import EndpointGate
from shoal.dns.zone import Zone
from shoal.protos.record_log import BadRecords
from shoal.protos.shoal.v1 import types_pb2
from tests.unit.conftest import as_json, container, node_record, observed

L1, L2 = 0x101, 0x102


def info(node_id: str, name: str, **desc) -> bytes:
    return as_json(node_record(node_id, name, "10.213.7.11:7070",
                               **{"hostname": name, "nano_cpus": 10**9, "memory_bytes": 1 << 30, **desc}))


def status(cid: str, state: str = "running") -> bytes:
    return records.encode(observed(cid, state))


def endpoint(name: str, ip: str, service: str = "", port: object = 80) -> bytes:
    return json.dumps({"name": name, "service": service, "ip": ip, "node": "whoever",
                       "ports": [{"port": port, "protocol": "tcp", "name": ""}]}).encode()


def task(cid: str, node_id: str) -> bytes:
    return records.encode(container(cid, "web.1", node_id, image="img", desired_state="running",
                                    service_id="s1", service_name="web"))


def two_nodes() -> ClusterState:
    s = ClusterState()
    s.apply(etcd_keys.node_info("n1"), info("n1", "h1"), 10, lease=L1)
    s.apply(etcd_keys.node_info("n2"), info("n2", "h2"), 11, lease=L2)
    return s


def views_work(s: ClusterState) -> None:
    s.node_views()
    s.container_views()
    s.snapshots()
    for c in s.containers.records():
        s.status_of(c)


# ---- the manager's view -----------------------------------------------------------------------
def test_truncated_info_drops_only_that_node_and_is_counted():
    s = two_nodes()
    s.apply(etcd_keys.node_info("n1"), b'{"id": "n1", "nanoCpus": ', 12, lease=L1)
    assert set(s.nodes) == {"n2"}
    assert s.bad.count == 1
    views_work(s)


def test_info_not_under_a_lease_is_ignored():
    s = ClusterState()
    s.apply(etcd_keys.node_info("n1"), info("n1", "h1"), 10, lease=0)
    assert s.nodes == {} and s.bad.count == 1


def test_info_for_another_node_id_or_out_of_bounds_is_refused():
    s = two_nodes()
    s.apply(etcd_keys.node_info("n1"), info("n2", "h1"), 12, lease=L1)
    s.apply(etcd_keys.node_info("n2"), info("n2", "h2", nano_cpus=-1), 13, lease=L2)
    assert s.nodes == {} and s.bad.count == 2


def test_bad_container_status_does_not_break_reads_or_passes():
    s = two_nodes()
    s.apply(etcd_keys.container("c1"), task("c1", "n1"), 20)
    s.apply(etcd_keys.node_container("n1", "c1"), b'{"status": ', 21, lease=L1)
    s.apply(etcd_keys.node_container("n1", "c2"), b"\xff\xfe\x00garbage", 22, lease=L1)
    assert s.bad.count == 2
    views_work(s)
    assert s.observed.get("n1", {}) == {}


def test_status_under_another_lease_is_ignored():
    s = two_nodes()
    s.apply(etcd_keys.container("c1"), task("c1", "n1"), 20)
    s.apply(etcd_keys.node_container("n1", "c1"), status("c1", "exited"), 21, lease=L2)
    s.apply(etcd_keys.node_container("n1", "c3"), status("c3"), 22, lease=0)
    assert "c1" not in s.observed.get("n1", {}) and "c3" not in s.observed.get("n1", {})
    assert s.bad.count == 2


def test_a_new_lease_forgets_what_the_old_one_reported():
    s = two_nodes()
    s.apply(etcd_keys.node_container("n1", "c1"), status("c1"), 21, lease=L1)
    s.apply(etcd_keys.node_info("n1"), info("n1", "h1"), 30, lease=0x999)
    assert s.observed.get("n1", {}) == {}


def test_bad_manager_records_keep_their_last_good_version():
    s = two_nodes()
    svc = types_pb2.Service(id="s1", spec=types_pb2.ServiceSpec(name="web", replicas=2))
    s.apply(etcd_keys.service("web"), as_json(svc), 40)
    s.apply(etcd_keys.service("web"), b"{not json", 41)
    s.apply(etcd_keys.node_conf("n1"), b'{"labels": {"a": 1}}', 42)
    s.apply(etcd_keys.name("x"), b"\xff", 43)
    assert s.services["web"][0].spec.replicas == 2
    assert s.bad.count == 3
    views_work(s)


agent_keys = st.sampled_from([
    etcd_keys.node_info("n1"), etcd_keys.node_container("n1", "c1"), etcd_keys.node_container("n1", "c9"),
    etcd_keys.node_endpoint("n1", "c1"), etcd_keys.node_prefix("n1") + "whatever/else", etcd_keys.node_info("n1/x"),
])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
hostile = st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()) | st.fixed_dictionaries(
    {"id": st.just("n1"), "name": st.text(max_size=30), "nanoCpus": json_values,
     "description": json_values, "status": json_values, "port": json_values, "ip": json_values,
     "ports": json_values}).map(lambda v: json.dumps(v).encode())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(agent_keys, hostile | st.none(), st.sampled_from([0, L1, L2])), max_size=8))
def test_property_no_agent_record_breaks_the_manager_view(writes):
    s = two_nodes()
    s.dns_gate = EndpointGate(Zone(), s.bad)
    s.apply(etcd_keys.container("c1"), task("c1", "n1"), 20)
    for rev, (key, value, lease) in enumerate(writes, start=100):
        s.apply(key, value, rev, lease=lease)
    views_work(s)
    # The other node is untouched by anything written under n1's keys.
    assert "n2" in s.nodes and s.nodes["n2"][0].description.memory_bytes == 1 << 30


# ---- DNS: what may be answered --------------------------------------------------------------
def gate_with(zone: Zone) -> EndpointGate:
    g = EndpointGate(zone, BadRecords(SimpleNamespace(warning=lambda *a: None)))
    g.node_lease("n1", L1)
    g.subnet("n1", "10.214.10.0/24")
    return g


def names(zone: Zone) -> set[tuple[str, str]]:
    return {(ep.name, ep.ip) for ep in zone.endpoints()}


def test_gate_serves_only_what_the_manager_placed_on_that_node():
    zone = Zone()
    g = gate_with(zone)
    key = etcd_keys.node_endpoint("n1", "c1")
    g.endpoint(key, "n1", "c1", endpoint("web.1", "10.214.10.5", "web"), L1)
    assert names(zone) == set()                                  # no placement yet
    g.placement("c1", placements.Placed("n1", "web.1", "web"))
    assert names(zone) == {("web.1", "10.214.10.5")}
    g.placement("c1", placements.Placed("n2", "web.1", "web"))   # placed elsewhere: not n1's to announce
    assert names(zone) == set()


def test_gate_refuses_other_names_addresses_and_leases():
    zone = Zone()
    g = gate_with(zone)
    g.placement("c1", placements.Placed("n1", "web.1", "web"))
    g.placement("c2", placements.Placed("n1", "db", ""))
    g.endpoint(etcd_keys.node_endpoint("n1", "c1"), "n1", "c1", endpoint("web.9", "10.214.10.5", "web"), L1)
    g.endpoint(etcd_keys.node_endpoint("n1", "c2"), "n1", "c2", endpoint("db", "10.214.7.1"), L1)
    g.endpoint(etcd_keys.node_endpoint("n1", "c3"), "n1", "c3", endpoint("web.1", "10.214.10.6", "web"), L1)
    g.endpoint(etcd_keys.node_endpoint("n1", "evil"), "n1", "evil", endpoint("web.1", "10.214.10.7", "web"), 0)
    g.endpoint(etcd_keys.node_endpoint("n1", "c9"), "n1", "c9", endpoint("x", "10.214.10.8", port=1e400), L1)
    assert names(zone) == set()
    assert len(g.rejected()) == 4            # the 1e400 one never decoded: counted as bad, not held


def test_gate_takes_the_overlay_address_ipam_gave_that_container():
    zone = Zone()
    g = gate_with(zone)
    g.placement("c1", placements.Placed("n1", "web.1", "web"))
    g.endpoint(etcd_keys.node_endpoint("n1", "c1"), "n1", "c1", endpoint("web.1", "10.240.0.5", "web"), L1)
    assert names(zone) == set()
    g.address("front", "10.240.0.5", "c2")
    assert names(zone) == set()
    g.address("front", "10.240.0.5", "c1")
    assert names(zone) == {("web.1", "10.240.0.5")}
    g.address("front", "10.240.0.5", None)
    assert names(zone) == set()


def test_gate_load_is_one_replace_and_reset_empties_the_zone():
    zone = Zone()
    g = gate_with(zone)
    g.hold()
    g.placement("c1", placements.Placed("n1", "web.1", "web"))
    g.endpoint(etcd_keys.node_endpoint("n1", "c1"), "n1", "c1", endpoint("web.1", "10.214.10.5", "web"), L1)
    assert names(zone) == set()
    g.flush()
    assert names(zone) == {("web.1", "10.214.10.5")}
    g.reset()
    g.flush()
    assert names(zone) == set()


# ---- routes: only the subnet bound to a node, via the address bound to it -------------------
def bound(node_id: str, address: str, subnet: str) -> types_pb2.Node:
    return node_record(node_id, address=address, container_subnet=subnet)


def test_routes_refuse_default_wide_overlapping_and_local_subnets():
    local = [ipaddress.ip_network("10.213.7.0/24"), ipaddress.ip_network("10.214.10.0/24")]
    nodes = {
        "self": bound("self", "10.213.7.11:7070", "10.214.10.0/24"),
        "ok": bound("ok", "10.213.7.12:7070", "10.214.11.0/24"),
        "default": bound("default", "10.213.7.13:7070", "0.0.0.0/0"),
        "wide": bound("wide", "10.213.7.14:7070", "10.0.0.0/8"),
        "host": bound("host", "10.213.7.15:7070", "10.213.7.1/32"),
        "mine": bound("mine", "10.213.7.16:7070", "10.214.10.128/25"),
        "overlay": bound("overlay", "10.213.7.17:7070", "10.240.3.0/24"),
        "a": bound("a", "10.213.7.18:7070", "10.214.20.0/24"),
        "b": bound("b", "10.213.7.19:7070", "10.214.20.0/25"),
        "gw": bound("gw", "10.214.11.9:7070", "10.214.30.0/24"),
    }
    assert wanted_routes(nodes, "self", local) == {"10.214.11.0/24": "10.213.7.12"}


# ---- the agent's view -------------------------------------------------------------------------
def kv(key: str, value: bytes, lease: int = 0):
    return SimpleNamespace(key=key, value=value, lease=lease, mod_revision=1)


def agent_view() -> tuple[ClusterView, list]:
    handed: list = []
    return ClusterView(etcd=None, zone=Zone(), on_nodes=handed.append), handed


def test_agent_view_hands_on_only_bound_nodes_with_their_bound_address():
    view, handed = agent_view()
    view._loader(etcd_keys.NODES)([kv(etcd_keys.node_info("n1"), info("n1", "h1", container_subnet="0.0.0.0/0"), L1),
                                   kv(etcd_keys.node_info("n2"), b'{"id": "n2", "nanoCpus": ', L2)])
    assert handed[-1] == {}
    ident = node_identity.NodeIdentity("h1", "h1", "10.213.7.11:7070", "10.214.10.0/24")
    view._loader(etcd_keys.NODE_IDENT)([kv(etcd_keys.node_ident("n1"), node_identity.encode(ident).encode())])
    node = handed[-1]["n1"]
    assert (node.address, node.description.container_subnet) == ("10.213.7.11:7070", "10.214.10.0/24")
    assert view.bad.count == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([etcd_keys.NODES, etcd_keys.NODE_IDENT, etcd_keys.PLACED, etcd_keys.IPAM]),
                          st.text(max_size=12), hostile, st.sampled_from([0, L1])), max_size=10))
def test_property_no_record_breaks_the_agent_view(writes):
    view, _ = agent_view()
    for prefix in (etcd_keys.NODES, etcd_keys.NODE_IDENT, etcd_keys.PLACED, etcd_keys.IPAM):
        view._loader(prefix)([])
    for prefix, suffix, value, lease in writes:
        for key in (prefix + suffix, prefix + "n1/info", prefix + "n1/endpoints/c1", prefix + "net/10.240.0.5"):
            ev = SimpleNamespace(type="put", kv=kv(key, value, lease))
            view._applier(prefix)((ev,))
    view.bound_nodes()
    view.gate.zone.answer("web.shoal", "A")
