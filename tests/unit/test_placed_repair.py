"""placed_diff: what makes /shoal/placed/ match the container records (pure)."""
from shoal.manager.placed_repair import placed_diff
from shoal.manager.state import ClusterState
from shoal.manager.store import placed_record
from shoal.protos import etcd_keys, placements, records
from tests.unit.conftest import container


def record(cid, name, node, service=""):
    return container(cid, name, node, service_id="s-" + service if service else "", service_name=service)


def test_missing_wrong_and_stale_placed_records_are_repaired():
    state = ClusterState()
    kept, missing, moved = record("c1", "web.1", "n1", "web"), record("c2", "db", "n2"), record("c3", "web.2", "n1", "web")
    for rev, c in enumerate((kept, missing, moved), start=1):
        state.apply(etcd_keys.container(c.id), records.encode(c), rev)
    stored = {
        placed_record(kept)[0]: placed_record(kept)[1].encode(),
        etcd_keys.placed("c3"): placements.encode("n2", "web.2", "web").encode(),   # says another node
        etcd_keys.placed("gone"): placements.encode("n1", "old", "").encode(),
        etcd_keys.placed("c9"): b"{broken",
    }
    puts, deletes = placed_diff(state, stored)
    assert dict(puts) == dict([placed_record(missing), placed_record(moved)])
    assert sorted(deletes) == [etcd_keys.placed("c9"), etcd_keys.placed("gone")]
    assert placed_diff(state, {**stored, **{k: v.encode() for k, v in puts}} | {})[0] == []
