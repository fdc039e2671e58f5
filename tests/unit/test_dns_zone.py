"""shoal.dns.zone: the cluster DNS names, answered from an in-memory view of endpoints."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.dns.zone import ROTATION_CACHE_MAX, Answer, Endpoint, Port, Record, Zone

HTTP = Port(8080, "tcp", "http")
DNS = Port(53, "udp", "dns")
ENDPOINTS = (
    Endpoint("/eps/web/1", "web.1", "web", "10.0.0.1", (HTTP, DNS), node="h1"),
    Endpoint("/eps/web/2", "web.2", "web", "10.0.0.2", (HTTP,), node="h2"),
    Endpoint("/eps/web/3", "web.3", "web", "10.0.0.3", (HTTP,), node="h3", healthy=False),
    Endpoint("/eps/api/1", "api.1", "api", "10.0.1.1", (Port(9000, "tcp", "grpc"),), healthy=False),
    Endpoint("/eps/db", "db", "", "10.0.2.1", (Port(5432),)),
    Endpoint("/eps/cache", "cache", "", "10.0.2.2", healthy=False),
    Endpoint("/eps/six", "six", "", "fd00::1"),
)
SOA = ("ns.shoal.", "hostmaster.shoal.")


@pytest.fixture
def zone() -> Zone:
    z = Zone()
    z.replace_all(ENDPOINTS)
    return z


def data(answer: Answer) -> list:
    return [r.data for r in answer.records]


def is_nxdomain(answer: Answer) -> bool:
    return (answer.rcode == "NXDOMAIN" and answer.in_zone and not answer.records
            and [r.rtype for r in answer.authority] == ["SOA"])


def is_nodata(answer: Answer) -> bool:
    return (answer.rcode == "NOERROR" and answer.in_zone and not answer.records
            and [r.rtype for r in answer.authority] == ["SOA"])


# (qname, qtype, expected address set) for names that resolve to addresses
ADDRESS_CASES = [
    ("web", "A", {"10.0.0.1", "10.0.0.2"}),
    ("web.", "A", {"10.0.0.1", "10.0.0.2"}),
    ("web.shoal", "A", {"10.0.0.1", "10.0.0.2"}),
    ("web.shoal.", "A", {"10.0.0.1", "10.0.0.2"}),
    ("WEB.Shoal.", "A", {"10.0.0.1", "10.0.0.2"}),
    ("tasks.web", "A", {"10.0.0.1", "10.0.0.2"}),
    ("tasks.web.shoal.", "A", {"10.0.0.1", "10.0.0.2"}),
    ("Tasks.Web.", "A", {"10.0.0.1", "10.0.0.2"}),
    ("web", "ANY", {"10.0.0.1", "10.0.0.2"}),
    ("web.1", "A", {"10.0.0.1"}),
    ("web.1.shoal", "A", {"10.0.0.1"}),
    ("WEB.2.SHOAL.", "A", {"10.0.0.2"}),
    ("db", "A", {"10.0.2.1"}),
    ("db.shoal.", "A", {"10.0.2.1"}),
    ("six", "AAAA", {"fd00::1"}),
    ("six.shoal", "ANY", {"fd00::1"}),
]


@pytest.mark.parametrize(("qname", "qtype", "expected"), ADDRESS_CASES)
def test_names_resolve_to_healthy_addresses(zone: Zone, qname: str, qtype: str, expected: set[str]) -> None:
    answer = zone.answer(qname, qtype)
    assert answer.rcode == "NOERROR" and answer.in_zone and not answer.authority
    assert sorted(data(answer)) == sorted(expected)          # no duplicates either
    owner = qname.lower().rstrip(".") + "."
    assert all(r.name == owner and r.ttl == 5 for r in answer.records)
    assert {r.rtype for r in answer.records} == {"AAAA" if ":" in next(iter(expected)) else "A"}


# (qname, qtype): names that exist but have nothing of that type to give
NODATA_CASES = [
    ("api", "A"),                 # a service with only unhealthy endpoints
    ("api.shoal.", "A"),
    ("tasks.api", "A"),
    ("web.3", "A"),               # an unhealthy task
    ("cache", "A"),               # an unhealthy container
    ("web", "AAAA"),              # IPv4 only
    ("db.shoal", "AAAA"),
    ("six", "A"),                 # IPv6 only
    ("web", "TXT"),
    ("web", "MX"),
    ("web", "SRV"),
    ("_http._tcp.web", "A"),      # an SRV name asked for A
    ("_grpc._tcp.api", "SRV"),    # the port exists, on unhealthy endpoints only
    ("shoal", "A"),               # the apex has SOA and NS only
    ("shoal.", "AAAA"),
]


@pytest.mark.parametrize(("qname", "qtype"), NODATA_CASES)
def test_existing_names_without_records_are_nodata(zone: Zone, qname: str, qtype: str) -> None:
    answer = zone.answer(qname, qtype)
    assert is_nodata(answer), answer
    assert answer.authority[0].name == "shoal."
    assert answer.authority[0].data[:2] == SOA


NXDOMAIN_CASES = [
    ("nope", "A"),                # an unknown single label: never forwarded
    ("nope.", "AAAA"),
    ("nope.shoal", "A"),
    ("x.web.shoal", "A"),
    ("web.9.shoal.", "A"),
    ("tasks.nope.shoal", "A"),
    ("_http._tcp.nope.shoal", "SRV"),
    ("_ftp._tcp.web.shoal", "SRV"),    # a known service without that port
    ("_ftp._tcp.web", "SRV"),
    ("_8080._udp.web.shoal", "SRV"),   # the port is tcp
    ("ns.shoal", "A"),
    ("tasks", "A"),               # an unknown single label, even this one
]


@pytest.mark.parametrize(("qname", "qtype"), NXDOMAIN_CASES)
def test_unknown_names_in_the_zone_are_nxdomain(zone: Zone, qname: str, qtype: str) -> None:
    answer = zone.answer(qname, qtype)
    assert is_nxdomain(answer), answer
    soa = answer.authority[0]
    assert soa.name == "shoal." and soa.ttl == 5
    mname, rname, serial, refresh, retry, expire, minimum = soa.data
    assert (mname, rname, minimum) == (*SOA, 5)
    assert 0 <= serial < 2**32 and refresh > retry > 0 and expire > refresh


@pytest.mark.parametrize("qname", ["example.org", "example.org.", "www.Example.ORG", "a.b.c.d.e",
                                   "shoal.example.org", "web.shoalx", "tasks.nope", ".", ""])
def test_outside_names_are_not_in_the_zone(zone: Zone, qname: str) -> None:
    answer = zone.answer(qname, "A")
    assert not answer.in_zone
    assert not answer.records and not answer.authority


def test_apex_soa_and_ns(zone: Zone) -> None:
    soa = zone.answer("shoal.", "SOA")
    assert soa.rcode == "NOERROR" and [r.rtype for r in soa.records] == ["SOA"]
    assert soa.records[0].data[:2] == SOA and soa.records[0].data[-1] == 5
    ns = zone.answer("SHOAL", "NS")
    assert data(ns) == ["ns.shoal."] and ns.records[0].name == "shoal."
    assert {r.rtype for r in zone.answer("shoal", "ANY").records} == {"SOA", "NS"}


@pytest.mark.parametrize(("qname", "qtype", "port", "targets"), [
    ("_http._tcp.web.shoal", "SRV", 8080, {"web.1.shoal.", "web.2.shoal."}),
    ("_http._tcp.web.shoal.", "SRV", 8080, {"web.1.shoal.", "web.2.shoal."}),
    ("_8080._tcp.web.shoal", "SRV", 8080, {"web.1.shoal.", "web.2.shoal."}),
    ("_8080._tcp.web", "SRV", 8080, {"web.1.shoal.", "web.2.shoal."}),
    ("_HTTP._TCP.Web.", "SRV", 8080, {"web.1.shoal.", "web.2.shoal."}),
    ("_dns._udp.web", "SRV", 53, {"web.1.shoal."}),
    ("_53._udp.web.shoal", "ANY", 53, {"web.1.shoal."}),
    ("_5432._tcp.db.shoal", "SRV", 5432, {"db.shoal."}),   # a container's port
])
def test_srv_by_port_name_and_number(zone: Zone, qname: str, qtype: str, port: int, targets: set[str]) -> None:
    answer = zone.answer(qname, qtype)
    assert answer.rcode == "NOERROR" and answer.in_zone and not answer.authority
    owner = qname.lower().rstrip(".") + "."
    assert all(r.rtype == "SRV" and r.name == owner and r.ttl == 5 for r in answer.records)
    assert sorted(r.data for r in answer.records) == sorted((0, 10, port, t) for t in targets)
    # the targets' addresses ride along in the additional section
    addresses = {"web.1.shoal.": "10.0.0.1", "web.2.shoal.": "10.0.0.2", "db.shoal.": "10.0.2.1"}
    assert sorted((r.name, r.rtype, r.data) for r in answer.additional) == \
        sorted((t, "A", addresses[t]) for t in targets)
    # every SRV target resolves by its own name too
    for target in targets:
        assert data(zone.answer(target, "A")) == [addresses[target]]


def test_rotation_round_robins_each_answer() -> None:
    zone = Zone()
    for i in (3, 1, 2):
        zone.put(Endpoint(f"k{i}", f"web.{i}", "web", f"10.0.0.{i}"))
    seen = [data(zone.answer("web", "A")) for _ in range(4)]
    assert seen == [["10.0.0.1", "10.0.0.2", "10.0.0.3"],
                    ["10.0.0.2", "10.0.0.3", "10.0.0.1"],
                    ["10.0.0.3", "10.0.0.1", "10.0.0.2"],
                    ["10.0.0.1", "10.0.0.2", "10.0.0.3"]]
    # one counter per service, whichever way it is spelled
    assert data(zone.answer("WEB.shoal.", "A"))[0] == "10.0.0.2"
    assert data(zone.answer("tasks.web", "A"))[0] == "10.0.0.3"
    # the same step gives back the same (cached) Answer object
    first = zone.answer("web", "A")
    zone.answer("web", "A")
    zone.answer("web", "A")
    assert zone.answer("web", "A") is first
    # SRV answers rotate as well
    for ep in list(zone.endpoints()):
        zone.put(Endpoint(ep.key, ep.name, ep.service, ep.ip, (HTTP,)))
    starts = [zone.answer("_http._tcp.web", "SRV").records[0].data[3] for _ in range(3)]
    assert sorted(starts) == ["web.1.shoal.", "web.2.shoal.", "web.3.shoal."]


def test_rotation_of_a_large_service() -> None:
    n = ROTATION_CACHE_MAX * 2 + 1
    zone = Zone()
    zone.replace_all(Endpoint(f"k{i}", f"big.{i}", "big", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(n))
    answers = [data(zone.answer("big", "A")) for _ in range(n + 1)]
    assert all(sorted(a) == sorted(answers[0]) and len(a) == n for a in answers)
    assert len({a[0] for a in answers[:n]}) == n and answers[n] == answers[0]


def test_unhealthy_endpoints_are_left_out_and_come_back(zone: Zone) -> None:
    zone.put(Endpoint("/eps/web/1", "web.1", "web", "10.0.0.1", (HTTP, DNS), healthy=False))
    assert data(zone.answer("web", "A")) == ["10.0.0.2"]
    assert [r.data[3] for r in zone.answer("_http._tcp.web", "SRV").records] == ["web.2.shoal."]
    assert is_nodata(zone.answer("_dns._udp.web", "SRV"))
    zone.put(Endpoint("/eps/web/2", "web.2", "web", "10.0.0.2", healthy=False))
    assert is_nodata(zone.answer("web", "A"))
    assert is_nodata(zone.answer("_http._tcp.web", "SRV"))
    zone.put(Endpoint("/eps/web/3", "web.3", "web", "10.0.0.3", (HTTP,)))
    assert data(zone.answer("web.shoal", "A")) == ["10.0.0.3"]
    assert data(zone.answer("web.3", "A")) == ["10.0.0.3"]


def test_put_replaces_by_key_and_remove_forgets(zone: Zone) -> None:
    generation = zone.generation
    zone.put(Endpoint("/eps/web/2", "web.2", "web", "10.0.0.2", (HTTP,), node="h2"))   # unchanged: no-op
    assert zone.generation == generation
    # the same key moves to another service and name
    zone.put(Endpoint("/eps/web/2", "api.2", "api", "10.0.1.2"))
    assert zone.generation > generation
    assert data(zone.answer("web", "A")) == ["10.0.0.1"]
    assert data(zone.answer("api", "A")) == ["10.0.1.2"]
    assert is_nxdomain(zone.answer("web.2.shoal", "A"))
    assert not zone.answer("web.2", "A").in_zone      # gone: a dotted name outside the domain goes upstream
    assert data(zone.answer("api.2.shoal", "A")) == ["10.0.1.2"]
    zone.remove("/eps/web/2")
    zone.remove("/eps/web/2")           # unknown keys are ignored
    zone.remove("/no/such/key")
    assert is_nodata(zone.answer("api", "A"))
    zone.remove("/eps/api/1")
    assert is_nxdomain(zone.answer("api", "A"))
    assert not zone.answer("tasks.api", "A").in_zone     # no longer ours: a dotted name goes upstream
    zone.remove("/eps/web/1")
    zone.remove("/eps/web/3")
    assert is_nxdomain(zone.answer("web", "A"))
    assert is_nxdomain(zone.answer("_http._tcp.web.shoal", "SRV"))


def test_replace_all(zone: Zone) -> None:
    zone.replace_all([
        Endpoint("a", "web.7", "web", "10.0.0.7"),
        Endpoint("b", "web.8", "web", "10.0.0.9"),
        Endpoint("b", "web.8", "web", "10.0.0.8"),     # the last one of a key wins
    ])
    assert len(zone) == 2
    assert sorted(data(zone.answer("web", "A"))) == ["10.0.0.7", "10.0.0.8"]
    assert is_nxdomain(zone.answer("db", "A"))
    assert is_nxdomain(zone.answer("web.1.shoal", "A"))
    generation = zone.generation
    zone.replace_all(zone.endpoints())
    assert zone.generation == generation
    zone.replace_all([])
    assert len(zone) == 0 and is_nxdomain(zone.answer("web", "A"))


def test_duplicate_addresses_and_bad_ips() -> None:
    zone = Zone()
    zone.replace_all([
        Endpoint("a", "web.1", "web", "10.0.0.1"),
        Endpoint("b", "web.2", "web", "10.0.0.1"),     # same address twice: one record
        Endpoint("c", "web.3", "web", "not-an-ip"),    # no address yet: exists, no record
        Endpoint("d", "web.4", "web", " 10.0.0.4 "),
    ])
    assert sorted(data(zone.answer("web", "A"))) == ["10.0.0.1", "10.0.0.4"]
    assert is_nodata(zone.answer("web.3", "A"))


def test_name_precedence_and_names_with_dots() -> None:
    zone = Zone()
    zone.replace_all([
        Endpoint("s", "web.1", "web", "10.0.0.1"),
        Endpoint("c", "web", "", "10.9.9.9"),           # a container named like the service
        Endpoint("t", "tasks.1", "tasks", "10.0.5.1"),  # a service called "tasks"
    ])
    assert data(zone.answer("web", "A")) == ["10.0.0.1"]      # the service wins
    assert data(zone.answer("tasks", "A")) == ["10.0.5.1"]
    assert data(zone.answer("tasks.1", "A")) == ["10.0.5.1"]  # a task name, not tasks of service "1"
    assert data(zone.answer("tasks.tasks.shoal", "A")) == ["10.0.5.1"]


def test_custom_domain_and_ttl() -> None:
    zone = Zone(domain="Cluster.Local.", ttl=30)
    zone.put(Endpoint("a", "web.1", "web", "10.0.0.1", (HTTP,)))
    answer = zone.answer("web.cluster.local", "A")
    assert data(answer) == ["10.0.0.1"] and answer.records[0].ttl == 30
    assert data(zone.answer("web.1.CLUSTER.local.", "A")) == ["10.0.0.1"]
    srv = zone.answer("_http._tcp.web.cluster.local", "SRV")
    assert srv.records[0].data == (0, 10, 8080, "web.1.cluster.local.")
    assert srv.additional[0] == Record("web.1.cluster.local.", "A", 30, "10.0.0.1")
    nx = zone.answer("nope.cluster.local", "A")
    assert is_nxdomain(nx) and nx.authority[0].name == "cluster.local."
    assert nx.authority[0].data[:2] == ("ns.cluster.local.", "hostmaster.cluster.local.")
    assert nx.authority[0].data[-1] == 30
    assert not zone.answer("web.shoal", "A").in_zone
    assert zone.answer("cluster.local", "SOA").records[0].rtype == "SOA"
    with pytest.raises(ValueError):
        Zone(domain="")
    with pytest.raises(ValueError):
        Zone(ttl=-1)


def test_zone_module_is_pure() -> None:
    source = (Path(__file__).resolve().parents[2] / "dns" / "zone.py").read_text()
    allowed = {"__future__", "dataclasses", "typing", "collections", "ipaddress"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in allowed for a in node.names), ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            # The endpoint record's types are the contract's (protos/endpoints.py, pure itself).
            module = node.module or ""
            assert module.split(".")[0] in allowed or module == "shoal.protos.endpoints", ast.dump(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "print", "__import__", "exec", "eval"}


# ------------------------------------------------------------------ property test

KEYS = [f"k{i}" for i in range(8)]
SERVICES = ["s0", "s1", "s2"]
NAMES = ["n0", "n1", "n2", "s0.1", "s1.1"]
endpoints = st.builds(
    Endpoint,
    key=st.sampled_from(KEYS),
    name=st.sampled_from(NAMES),
    service=st.sampled_from(SERVICES + [""]),
    ip=st.sampled_from([f"10.0.0.{i}" for i in range(1, 6)]),
    healthy=st.booleans(),
)
operations = st.lists(st.one_of(
    st.tuples(st.just("put"), endpoints),
    st.tuples(st.just("remove"), st.sampled_from(KEYS)),
    st.tuples(st.just("replace_all"), st.lists(endpoints, max_size=6)),
    st.tuples(st.just("ask"), st.sampled_from(SERVICES + NAMES)),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_indexes_match_brute_force(ops: list) -> None:
    zone = Zone()
    model: dict[str, Endpoint] = {}
    for op, arg in ops:
        if op == "put":
            zone.put(arg)
            model[arg.key] = arg
        elif op == "remove":
            zone.remove(arg)
            model.pop(arg, None)
        elif op == "replace_all":
            zone.replace_all(arg)
            model = {ep.key: ep for ep in arg}
        else:
            zone.answer(arg, "A")       # warms caches and moves rotation between updates
        check(zone, model)


def check(zone: Zone, model: dict[str, Endpoint]) -> None:
    assert len(zone) == len(model)
    for service in SERVICES:
        members = [ep for ep in model.values() if ep.service == service]
        expected = sorted({ep.ip for ep in members if ep.healthy})
        for spelling in (service, f"{service}.shoal.", f"tasks.{service}"):
            answer = zone.answer(spelling, "A")
            if not members:
                assert is_nxdomain(answer) if "." not in spelling.rstrip(".") or spelling.endswith("shoal.") \
                    else not answer.in_zone
            elif not expected:
                assert is_nodata(answer)
            else:
                got = data(answer)
                assert sorted(got) == expected          # all of them, each once
    for name in NAMES:
        if name in SERVICES:
            continue
        members = [ep for ep in model.values() if ep.name == name]
        # a name also used as a service resolves as the service: skip those
        if any(ep.service == name for ep in model.values()):
            continue
        answer = zone.answer(f"{name}.shoal", "A")
        expected = sorted({ep.ip for ep in members if ep.healthy})
        if not members:
            assert is_nxdomain(answer)
        elif not expected:
            assert is_nodata(answer)
        else:
            assert sorted(data(answer)) == expected
