"""Binding a node's identity (manager/identity.py) and how ClusterState uses the binding."""
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.manager import identity
from shoal.manager.identity import Bound, Policy, claim_of, policy, subnet_check, unbound_note
from shoal.manager.state import ClusterState
from shoal.protos import etcd_keys, node_identity
from shoal.protos.node_identity import NodeIdentity
from tests.unit.conftest import as_json, bind_identity, node_record

POLICY = Policy()   # 10.214.0.0/16


def report(node_id="n1", name="h1", address="10.213.8.11:7070", hostname="box", subnet="10.214.10.0/24"):
    return node_record(node_id, name, address, hostname=hostname, container_subnet=subnet)


H2 = NodeIdentity(name="h2", hostname="box", address="10.213.8.12:7070", container_subnet="10.214.11.0/24")


def bound_with(**idents: tuple[NodeIdentity, int]) -> Bound:
    b = Bound()
    for node_id, (ident, rev) in {"n2": (H2, 40), **idents}.items():
        b.put(node_id, ident, rev)
        b.names[ident.name] = node_id
    return b


BINDINGS = bound_with()


def decide(node_id, reported, bindings, pol):
    return identity.decide(node_id, claim_of(reported), bindings, pol)


def test_first_sight_binds_what_the_node_reports():
    d = decide("n1", report(), BINDINGS, POLICY)
    assert d.first and d.refused == ()
    assert d.ident == NodeIdentity(name="h1", hostname="box", address="10.213.8.11:7070",
                                   container_subnet="10.214.10.0/24")


def test_a_name_taken_by_another_node_is_not_bound():
    d = decide("n1", report(name="h2"), BINDINGS, POLICY)
    assert d.ident is None and d.refused == ("name h2 is taken by node n2",)
    note = unbound_note("n1", claim_of(report(name="h2")), BINDINGS, POLICY)
    assert note.startswith("not bound: name h2 is taken by node n2")


@pytest.mark.parametrize("name", ["", "../x", "a b", "x" * 64, "-lead", "h\n1"])
def test_a_name_that_is_not_a_node_name_is_not_bound(name):
    d = decide("n1", report(name=name), BINDINGS, POLICY)
    assert d.ident is None and "is not a node name" in d.refused[0] and "\n" not in d.refused[0]


@pytest.mark.parametrize("address,why", [
    ("10.213.8.12:7070", "address 10.213.8.12:7070 is registered to node n2"),
    ("nohost", 'address "nohost" is not HOST:PORT'),
    ("10.213.8.11:0", 'address "10.213.8.11:0" is not HOST:PORT'),
    ("10.213.8.11:99999", 'address "10.213.8.11:99999" is not HOST:PORT'),
    ("10.214.10.5:7070", "address 10.214.10.5:7070 is inside the pool 10.214.0.0/16"),
    ("10.240.0.9:7070", "address 10.240.0.9:7070 is inside the pool 10.240.0.0/12"),
])
def test_an_address_another_node_holds_or_inside_a_pool_is_not_bound(address, why):
    d = decide("n1", report(address=address), BINDINGS, POLICY)
    assert d.ident is None and d.refused == (why,)


def test_a_bound_node_cannot_change_its_name_hostname_or_subnet():
    bound = bound_with(n1=(NodeIdentity("h1", "box", "10.213.8.11:7070", "10.214.10.0/24"), 41))
    d = decide("n1", report(name="h2", hostname="other", subnet="10.214.12.0/24"), bound, POLICY)
    assert d.ident is None
    assert d.refused == ('name "h2": the node is bound to "h1"', 'hostname "other": the node is bound to "box"',
                         "container subnet 10.214.12.0/24: the node is bound to 10.214.10.0/24")
    # Withdrawing the subnet withdraws nothing either.
    assert decide("n1", report(subnet=""), bound, POLICY).ident is None


def test_a_bound_node_may_move_to_a_free_address_only():
    bound = bound_with(n1=(NodeIdentity("h1", "box", "10.213.8.11:7070", "10.214.10.0/24"), 41))
    moved = decide("n1", report(address="10.213.8.111:7070"), bound, POLICY)
    assert not moved.first and moved.revision == 41 and moved.ident.address == "10.213.8.111:7070"
    assert moved.ident.name == "h1"
    taken = decide("n1", report(address=H2.address), bound, POLICY)
    assert taken.ident is None and taken.refused == (f"address {H2.address} is registered to node n2",)


def test_a_node_bound_without_a_subnet_gets_the_first_valid_one():
    bound = bound_with(n1=(NodeIdentity("h1", "box", "10.213.8.11:7070", ""), 41))
    assert decide("n1", report(subnet="10.214.11.0/24"), bound, POLICY).ident is None
    later = decide("n1", report(subnet="10.214.10.0/24"), bound, POLICY)
    assert later.ident.container_subnet == "10.214.10.0/24" and later.revision == 41


@pytest.mark.parametrize("subnet,why", [
    ("10.213.7.1/32", "narrower than /30"),
    ("0.0.0.0/0", "wider than /16"),
    ("10.0.0.0/8", "wider than /16"),
    ("192.168.0.0/24", "outside the container pool (10.214.0.0/16)"),
    ("10.214.11.128/25", "overlaps node n2's 10.214.11.0/24"),
    ("10.214.0.0/16", "overlaps node n2's 10.214.11.0/24"),
    ("fd00::/64", "is not IPv4"),
    ("garbage", "is not a network"),
    ("10.214.99.0/24", "holds 10.214.99.7, a manager's or etcd's address"),
])
def test_a_subnet_is_recorded_only_from_the_pool_and_apart_from_everything(subnet, why):
    pol = Policy(reserved=frozenset({ipaddress.ip_address("10.214.99.7")}))
    d = decide("n1", report(subnet=subnet), BINDINGS, pol)
    assert d.first and d.ident.container_subnet == ""    # bound, without a subnet
    assert len(d.refused) == 1 and why in d.refused[0] and d.refused[0].endswith("no subnet recorded")


def test_a_subnet_holding_a_node_address_or_the_overlay_pool_is_refused():
    wide = Policy(container_pools=(ipaddress.IPv4Network("10.0.0.0/8"),))
    me = NodeIdentity("h1", address="192.0.2.11:7070")
    assert "holds the address of node n2" in subnet_check("10.213.0.0/16", "n1", me, BINDINGS, wide)[1]
    assert "overlaps the overlay networks' pool" in subnet_check("10.240.1.0/24", "n1", me, BINDINGS, wide)[1]
    # Its own address too, as it will be: the route to it would swallow the host itself.
    own = NodeIdentity("h1", address="10.215.0.1:7070")
    assert "holds the address of node n1" in subnet_check("10.215.0.0/24", "n1", own, BINDINGS, wide)[1]
    # ... but not the address it is moving away from.
    moving = bound_with(n1=(own, 41))
    assert subnet_check("10.215.0.0/24", "n1", me, moving, wide) == ("10.215.0.0/24", "")
    assert subnet_check("10.214.10.7/24", "n1", me, BINDINGS, POLICY) == ("10.214.10.0/24", "")


def test_policy_keeps_the_managers_and_etcds_ip_addresses():
    p = policy((identity.DEFAULT_CONTAINER_POOL,),
               ("127.0.0.1:7000", "https://10.213.8.1:23790", "https://etcd.example:2379", "[fd00::1]:7000"))
    assert p.reserved == {ipaddress.ip_address(a) for a in ("127.0.0.1", "10.213.8.1", "fd00::1")}


texts = st.text(max_size=70)


@settings(max_examples=400, deadline=None)
@given(name=texts, address=texts, hostname=texts, subnet=st.one_of(texts, st.from_regex(
    r"10\.214\.[0-9]{1,3}\.[0-9]{1,3}/[0-9]{1,2}", fullmatch=True)))
def test_whatever_a_node_reports_only_a_sound_binding_is_written(name, address, hostname, subnet):
    d = decide("n1", report(name=name, address=address, hostname=hostname, subnet=subnet), BINDINGS, POLICY)
    assert all("\n" not in why for why in d.refused)
    if d.ident is None:
        return
    assert node_identity.decode(node_identity.encode(d.ident)) == d.ident
    assert d.ident.name != "h2" and d.ident.address != H2.address
    if d.ident.container_subnet:
        net = ipaddress.ip_network(d.ident.container_subnet)
        assert net.subnet_of(identity.DEFAULT_CONTAINER_POOL) and 16 <= net.prefixlen <= 30
        assert not net.overlaps(ipaddress.ip_network(H2.container_subnet))


# ---- ClusterState ----------------------------------------------------------------

@pytest.fixture
def state():
    s = ClusterState()
    s.apply(etcd_keys.node_info("n2"), as_json(report("n2", "h2", H2.address, subnet=H2.container_subnet)), 10, lease=2)
    bind_identity(s, "n2", H2, 11)
    return s


def test_an_unbound_node_is_listed_by_id_and_gets_no_work(state):
    state.apply(etcd_keys.node_info("n1"), as_json(report(name="h2")), 20, lease=1)
    view = state.node_view("n1")
    assert (view.name, view.address, view.state) == ("", "", "unbound")
    assert view.note.startswith("not bound: name h2 is taken by node n2")
    snaps = {s.id: s for s in state.snapshots()}
    assert not snaps["n1"].ready and snaps["n2"].ready
    assert [s.name for s in state.snapshots() if s.name == "h2"] == ["h2"]
    assert state.resolve_node("h2") == "n2"
    assert state.node_at(H2.address) == "n2"
    assert "n1" in state.unsettled


def test_the_bound_identity_wins_over_what_the_node_writes_later(state):
    state.apply(etcd_keys.node_info("n1"), as_json(report()), 20, lease=1)
    bind_identity(state, "n1", NodeIdentity("h1", "box", "10.213.8.11:7070", "10.214.10.0/24"), 21)
    # The node now claims h2's name, hostname, address and subnet.
    state.apply(etcd_keys.node_info("n1"), as_json(report(name="h2", address=H2.address, hostname="x",
                                                    subnet=H2.container_subnet)), 22, lease=1)
    node, rev = state.nodes["n1"]
    assert (node.name, node.address, node.description.hostname, node.description.container_subnet) == \
        ("h1", "10.213.8.11:7070", "box", "10.214.10.0/24")
    assert rev == 22        # placements still compare the info record's revision
    assert state.node_view("n1").state == "ready" and 'name "h2": the node is bound to "h1"' in state.node_view("n1").note
    assert state.node_at(H2.address) == "n2"
    assert [n.name for n in state.node_views()] == ["h1", "h2"]


def test_a_malformed_binding_is_skipped_and_the_last_good_one_kept(state):
    state.apply(etcd_keys.node_ident("n2"), b'{"name": ', 30)
    state.apply(etcd_keys.node_ident("n2"), b'{"name": "h2", "container_subnet": "nonsense"}', 31)
    assert state.identities["n2"] == (H2, 11) and state.nodes["n2"][0].name == "h2"
    assert state.bad.count == 2


def test_a_freed_name_marks_the_nodes_that_wanted_it(state):
    state.apply(etcd_keys.node_info("n1"), as_json(report(name="h2")), 20, lease=1)
    state.unsettled.clear()
    state.apply(etcd_keys.node_name("h2"), None, 30)
    state.apply(etcd_keys.node_ident("n2"), None, 30)
    assert state.unsettled == {"n1", "n2"}
    assert identity.decide("n1", state.reported["n1"], state.bound, POLICY).first


def test_the_index_finds_what_a_scan_would():
    """Bound's index (address holders, subnets and addresses by range) against a plain scan."""
    import random
    rng = random.Random(7)
    b = Bound()
    for i in range(400):
        subnet = rng.choice(("", f"10.214.{rng.randrange(0, 256)}.{rng.choice((0, 128))}/25"))
        if subnet and b.subnet_overlapping(ipaddress.ip_network(subnet), f"id{i}"):
            subnet = ""     # recorded subnets are disjoint, as decide keeps them
        ident = NodeIdentity(f"n{i}", address=f"10.{rng.choice((213, 214))}.{rng.randrange(0, 4)}."
                                              f"{rng.randrange(1, 250)}:7070", container_subnet=subnet)
        b.put(f"id{i}", ident, i)
        if rng.random() < 0.2:
            b.drop(f"id{rng.randrange(0, i + 1)}")
    for _ in range(500):
        net = ipaddress.ip_network(f"10.{rng.choice((213, 214))}.{rng.randrange(0, 256)}.0/"
                                   f"{rng.choice((16, 20, 24, 26, 28))}", strict=False)
        me = f"id{rng.randrange(0, 400)}"
        subnets = {n for n, (i, _) in b.idents.items()
                   if n != me and i.container_subnet and net.overlaps(ipaddress.ip_network(i.container_subnet))}
        hosts = {n for n, (i, _) in b.idents.items() if n != me and ipaddress.ip_address(i.host) in net}
        assert (b.subnet_overlapping(net, me) is not None) == bool(subnets)
        assert b.subnet_overlapping(net, me) in subnets | {None}
        assert (b.host_in(net, me) is not None) == bool(hosts) and b.host_in(net, me) in hosts | {None}
    for node_id, (ident, _) in b.idents.items():
        holders = {n for n, (i, _) in b.idents.items() if i.address == ident.address and n != node_id}
        assert b.address_holder(ident.address, node_id) == (min(holders) if holders else None)


def _bind(count: int) -> float:
    """Binds `count` nodes one after another; returns the seconds it took (process CPU time)."""
    import time
    b = Bound()
    claims = [NodeIdentity(f"soak-{i:05d}", "soak", f"127.0.0.1:{1024 + i}", f"10.{200 + i // 4096}.{(i // 16) % 256}"
                                                                          f".{(i % 16) * 16}/28")
              for i in range(count)]
    pol = Policy(container_pools=(ipaddress.IPv4Network("10.0.0.0/8"),))
    started = time.process_time()
    for i, claim in enumerate(claims):
        d = identity.decide(f"n{i}", claim, b, pol)
        assert d.first and d.ident.container_subnet, d.refused
        b.put(f"n{i}", d.ident, i)
        b.names[claim.name] = f"n{i}"
    return time.process_time() - started


def test_binding_ten_thousand_nodes_grows_linearly():
    # A ratio against a baseline taken in the same run, on CPU time, not a wall-clock bound: this
    # machine is shared. Linear binding makes 10x the nodes cost ~10x; a scan per bind would be ~100x.
    small = min(_bind(1_000) for _ in range(3))
    big = _bind(10_000)
    assert big < 30 * max(small, 1e-3), (small, big)
