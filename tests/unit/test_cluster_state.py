"""ClusterState: how etcd events become the manager's view."""
import pytest

from shoal.manager.state import ClusterState, NodeConf, UnknownRef
from shoal.protos import etcd_keys, node_identity
from shoal.protos.shoal.v1 import types_pb2
from tests.unit.conftest import as_json, bind_identity, node_record, observed
from tests.unit.conftest import container as build_container


LEASE = {"n1": 0x101, "n2": 0x102}


def node(node_id, name, mem=1 << 30, cpus=2 * 10**9):
    return node_record(node_id, name, f"{name}:7070", hostname=name, memory_bytes=mem, nano_cpus=cpus)


def container(cid, name, node_id, mem=0, ports=(), desired="running", state="running"):
    return build_container(
        cid, name, node_id, desired_state=desired,
        spec=types_pb2.ContainerSpec(image="img", memory_bytes=mem,
                                     ports=[types_pb2.PortMapping(host_port=h, container_port=h, protocol="tcp") for h in ports]),
        status=types_pb2.ContainerStatus(state=state),
    )


@pytest.fixture
def state():
    s = ClusterState()
    s.apply(etcd_keys.node_info("n1"), as_json(node("n1", "h1")), 10, lease=LEASE["n1"])
    s.apply(etcd_keys.node_info("n2"), as_json(node("n2", "h2")), 11, lease=LEASE["n2"])
    for node_id, name, rev in (("n1", "h1", 12), ("n2", "h2", 13)):
        # What the leader binds (manager/identity.py): a node without it gets no work.
        bind_identity(s, node_id, node_identity.NodeIdentity(name=name, hostname=name, address=f"{name}:7070"), rev)
    return s


def test_reservations_and_ports_count_only_live_containers(state):
    state.apply(etcd_keys.container("c1"), as_json(container("c1", "a", "n1", mem=64 << 20, ports=[8080])), 20)
    state.apply(etcd_keys.container("c2"), as_json(container("c2", "b", "n1", mem=32 << 20)), 21)
    state.apply(etcd_keys.node_container("n1", "c1"), as_json(observed("c1")), 22, lease=LEASE["n1"])
    state.apply(etcd_keys.node_container("n1", "c2"), as_json(observed("c2", "exited", exit_code=3)), 23, lease=LEASE["n1"])
    snap = {s.id: s for s in state.snapshots()}
    assert snap["n1"].reserved_memory == 64 << 20
    assert snap["n1"].containers == 1
    assert snap["n1"].used_ports == frozenset({(8080, "tcp", "")})
    assert snap["n2"].reserved_memory == 0
    assert state.container_view("c2").status.exit_code == 3


def test_node_conf_feeds_labels_and_availability(state):
    state.apply(etcd_keys.node_conf("n2"), NodeConf({"zone": "eu"}, "drain").to_json().encode(), 30)
    snap = {s.id: s for s in state.snapshots()}
    assert snap["n2"].labels == {"zone": "eu"} and snap["n2"].availability == "drain"
    assert snap["n1"].availability == "active"
    assert state.node_view("n2").labels["zone"] == "eu"


def test_node_loss_makes_its_containers_unknown_and_removes_the_node(state):
    state.apply(etcd_keys.container("c1"), as_json(container("c1", "a", "n1")), 20)
    state.apply(etcd_keys.node_container("n1", "c1"), as_json(observed("c1")), 21, lease=LEASE["n1"])
    state.apply(etcd_keys.node_info("n1"), None, 40)
    assert [n.name for n in state.node_views()] == ["h2"]
    view = state.container_view("c1")
    assert view.status.state == "unknown" and view.status.error == "node is down"


def test_a_late_echo_never_undoes_a_newer_local_write(state):
    key = etcd_keys.container("c1")
    state.apply(key, as_json(container("c1", "a", "n1")), 50)
    state.apply(key, None, 55, local=True)          # our delete, applied at once
    state.apply(key, as_json(container("c1", "a", "n1")), 50)  # the watch echoes the older put
    assert "c1" not in state.containers
    state.forget_tombstones(55)
    state.apply(key, as_json(container("c1", "a", "n1")), 60)  # a genuinely new write still lands
    assert "c1" in state.containers


def test_the_echo_of_a_local_write_is_not_applied_twice(state):
    key = etcd_keys.container("c1")
    mine = container("c1", "a", "n1")
    state.apply(key, as_json(mine), 70, message=mine, local=True)
    state.apply(key, b"not even a record", 70)   # the same revision again: skipped, not decoded
    assert state.containers["c1"] == (mine, 70)


def test_records_nobody_here_wrote_keep_no_bookkeeping(state):
    # Agents' observed status: the watch's order is the only order, nothing to remember per key.
    state.apply(etcd_keys.node_container("n1", "c9"), as_json(observed("c9")), 80, lease=LEASE["n1"])
    state.apply(etcd_keys.node_container("n1", "c9"), None, 81)
    assert not state._key_rev and not state._tombstones


def test_missing_when_the_node_no_longer_reports_it(state):
    state.apply(etcd_keys.container("c1"), as_json(container("c1", "a", "n1")), 20)
    assert state.container_view("c1").status.state == "missing"


def test_resolution_by_name_and_unique_prefix(state):
    state.apply(etcd_keys.container("abc123"), as_json(container("abc123", "web", "n1")), 20)
    state.apply(etcd_keys.name("web"), b"abc123", 20)
    state.apply(etcd_keys.container("abd999"), as_json(container("abd999", "db", "n1")), 21)
    assert state.resolve_container("web") == "abc123"
    assert state.resolve_container("abc") == "abc123"
    with pytest.raises(UnknownRef, match="ambiguous"):
        state.resolve_container("ab")
    with pytest.raises(UnknownRef, match="no such container"):
        state.resolve_container("zzz")
    assert state.resolve_node("h2") == "n2"
    assert state.resolve_node("n1") == "n1"


def test_revocations_are_followed_and_survive_a_reload():
    from shoal.manager.state import ClusterState
    from shoal.protos import etcd_keys

    state = ClusterState()
    shared = state.revoked          # the TLS role check holds this very object
    state.apply(etcd_keys.revoked("ab12"), b"{}", 5)
    assert "ab12" in shared
    state.clear()                   # a reload after a compaction
    assert state.revoked is shared and "ab12" not in shared
    state.apply(etcd_keys.revoked("cd34"), b"{}", 7)
    assert "cd34" in shared
    state.apply(etcd_keys.revoked("cd34"), None, 8)
    assert "cd34" not in shared


def test_a_report_of_the_create_that_trails_the_start_does_not_win(state):
    record = container("c1", "a", "n1")
    record.status.runtime_id = "r1"
    state.apply(etcd_keys.container("c1"), as_json(record), 20)
    late = observed("c1", "created")
    late.status.runtime_id = "r1"
    state.apply(etcd_keys.node_container("n1", "c1"), as_json(late), 21, lease=LEASE["n1"])
    assert state.status_of(state.containers["c1"][0]).state == "running"
    late.status.runtime_id = "r2"            # another run of it: the report is what counts
    state.apply(etcd_keys.node_container("n1", "c1"), as_json(late), 22, lease=LEASE["n1"])
    assert state.status_of(state.containers["c1"][0]).state == "created"


def test_the_bookkeeping_of_a_local_write_ends_with_its_echo(state):
    key = etcd_keys.container("c1")
    mine = container("c1", "a", "n1")
    state.apply(key, mine.SerializeToString(), 70, message=mine, local=True)
    state.apply(etcd_keys.container("c2"), None, 71, local=True)
    assert state._key_rev and state._tombstones
    state.apply(key, mine.SerializeToString(), 70)            # the echoes
    state.apply(etcd_keys.container("c2"), None, 71)
    assert not state._key_rev and not state._tombstones      # nothing kept per task written
    assert state.containers["c1"] == (mine, 70)


def test_a_local_write_the_watch_has_already_passed_changes_nothing(state):
    key = etcd_keys.container("c1")
    state.apply(key, container("c1", "a", "n1").SerializeToString(), 70)   # our write's echo came first
    state.apply(key, container("c1", "a", "n2").SerializeToString(), 75)   # then someone else's
    state.revision = 75
    state.apply(key, container("c1", "a", "n1").SerializeToString(), 70, local=True)
    assert state.containers["c1"][0].node_id == "n2" and not state._key_rev


def test_container_records_are_kept_encoded_and_read_as_copies(state):
    record = container("c1", "web.1", "n1")
    record.service_id = "s1"
    state.apply(etcd_keys.container("c1"), as_json(record), 20)                 # JSON, as older managers wrote
    stored = state.containers._raw["c1"]
    assert state.containers["c1"][1] == 20
    assert types_pb2.Container.FromString(stored[:-8]) == record            # kept as binary
    got = state.tasks_of("s1")[0]
    got.desired_state = "shutdown"                                       # a reader's change ...
    assert state.containers["c1"][0].desired_state == "running"            # ... stays the reader's


def test_a_task_moved_to_another_service_leaves_the_first_ones_index(state):
    for cid, sid in (("c1", "s1"), ("c2", "s1"), ("c3", "s2")):
        record = container(cid, cid, "n1")
        record.service_id = sid
        state.apply(etcd_keys.container(cid), record.SerializeToString(), 20)
    moved = container("c1", "c1", "n1")
    moved.service_id = "s2"
    state.apply(etcd_keys.container("c1"), moved.SerializeToString(), 21)
    assert [t.id for t in state.tasks_of("s1")] == ["c2"]
    assert [t.id for t in state.tasks_of("s2")] == ["c3", "c1"]
    state.apply(etcd_keys.container("c2"), None, 22)
    assert state.service_ids_with_tasks() == ["s2"]
    assert [t.id for t in state.tasks_of("s1")] == []


def test_many_records_decode_as_each_would_alone():
    from shoal.manager.container_table import decode_many
    records = [container(f"c{i}", "x" * (i * 37), "n1", mem=i) for i in range(0, 200, 7)]   # lengths past 127
    raws = [r.SerializeToString() + (1000 + i).to_bytes(8, "big") for i, r in enumerate(records)]   # as stored
    assert decode_many(raws) == records and decode_many([]) == []
    assert [len(r) for r in raws if len(r) > 127]
    one = decode_many(raws)[3]
    one.name = "changed"                                                # each is its own message
    assert decode_many(raws)[3].name == records[3].name
