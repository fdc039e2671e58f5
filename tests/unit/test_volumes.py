"""Volumes and mounts, table by table: `-v`/`--mount` as docker reads them, what the engine is asked
for, the bad values refused, and where a container's volumes pin it (manager/volume_placement.py)."""
from __future__ import annotations

import pytest

from shoal.agent.convert import spec_from_proto
from shoal.agent.runtime.translate import create_kwargs
from shoal.manager import volume_placement as vp
from shoal.manager.validation import InvalidField, check_create_volume, check_service, check_spec
from shoal.protos.shoal.v1 import manager_pb2, types_pb2
from shoal.run_flags import parse_mount, parse_volume
from tests.unit.conftest import node_snapshot


@pytest.mark.parametrize("text,expected", [
    ("data:/var/lib/db", ("volume", "data", "/var/lib/db", False)),
    ("data:/var/lib/db:ro", ("volume", "data", "/var/lib/db", True)),
    ("/srv/www:/www", ("bind", "/srv/www", "/www", False)),
    ("/srv/www:/www:rw", ("bind", "/srv/www", "/www", False)),
    ("/cache", ("volume", "", "/cache", False)),
    ("/cache:ro", ("volume", "", "/cache", True)),
])
def test_volume_flag(text, expected):
    assert parse_volume(text) == expected


@pytest.mark.parametrize("text,message", [
    ("./data:/data", "a bind mount's source must be an absolute path on the node"),
    ("~/data:/data", "a bind mount's source must be an absolute path on the node"),
    ("data:/data:z", '"z" is not ro or rw'),
    ("a:b:c:d", "is not [SOURCE:]TARGET[:ro|rw]"),
    ("data::/x", "is not [SOURCE:]TARGET[:ro|rw]"),
])
def test_bad_volume_flag(text, message):
    with pytest.raises(ValueError) as caught:
        parse_volume(text)
    assert message in str(caught.value)


@pytest.mark.parametrize("text,expected", [
    ("type=volume,source=data,target=/data", ("volume", "data", "/data", False, 0)),
    ("src=data,dst=/data,readonly", ("volume", "data", "/data", True, 0)),
    ("type=bind,source=/srv,destination=/srv,ro=true", ("bind", "/srv", "/srv", True, 0)),
    ("type=tmpfs,target=/scratch,tmpfs-size=64m", ("tmpfs", "", "/scratch", False, 64 << 20)),
    ("type=volume,target=/anon,readonly=false", ("volume", "", "/anon", False, 0)),
])
def test_mount_flag(text, expected):
    assert parse_mount(text) == expected


@pytest.mark.parametrize("text,message", [
    ("type=volume,source=data", "target= is required"),
    ("type=volume,target=/d,color=red", '"color" is not a --mount key'),
    ("target=/d,readonly=maybe", 'readonly takes true or false, not "maybe"'),
    ("target=/d,source=", "source needs a value"),
])
def test_bad_mount_flag(text, message):
    with pytest.raises(ValueError) as caught:
        parse_mount(text)
    assert message in str(caught.value)


def engine_mounts(*mounts: types_pb2.Mount) -> list[dict]:
    spec = types_pb2.ContainerSpec(image="img", mounts=mounts)
    return create_kwargs("c" * 24, "db", "n1", spec_from_proto(spec))["mounts"]


def test_mounts_reach_the_engine_in_its_own_shape():
    named = types_pb2.Mount(type="volume", source="data", target="/data", driver="local",
                            driver_options={"type": "tmpfs", "device": "tmpfs"}, volume_labels={"tier": "db"})
    assert engine_mounts(named, types_pb2.Mount(type="bind", source="/srv", target="/srv", readonly=True),
                         types_pb2.Mount(type="tmpfs", target="/scratch", tmpfs_size_bytes=1 << 20)) == [
        {"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": False,
         "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"device": "tmpfs", "type": "tmpfs"}},
                           "Labels": {"tier": "db"}}},
        {"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/scratch", "ReadOnly": False, "TmpfsOptions": {"SizeBytes": 1 << 20}},
    ]
    assert "mounts" not in create_kwargs("c" * 24, "db", "n1", spec_from_proto(types_pb2.ContainerSpec(image="i")))


def test_a_v_bind_goes_as_dockers_binds_so_a_missing_host_path_is_made():
    spec = types_pb2.ContainerSpec(image="img", mounts=[
        types_pb2.Mount(type="bind", source="/srv/a", target="/a", readonly=True, create_host_path=True),
        types_pb2.Mount(type="bind", source="/srv/b", target="/b")])
    kwargs = create_kwargs("c" * 24, "db", "n1", spec_from_proto(spec))
    assert kwargs["volumes"] == ["/srv/a:/a:ro"]
    assert kwargs["mounts"] == [{"Type": "bind", "Source": "/srv/b", "Target": "/b", "ReadOnly": False}]


@pytest.mark.parametrize("mounts,message", [
    ([types_pb2.Mount(type="nfs", target="/d")], '--mount: type "nfs" is not one of volume, bind, tmpfs'),
    ([types_pb2.Mount(type="volume", source="d", target="data")], '--volume: "data": the target must be an absolute'),
    ([types_pb2.Mount(type="volume", source="d", target="/")], '--volume: "/": the target must be an absolute'),
    ([types_pb2.Mount(type="bind", source="srv", target="/srv")], '--volume: "srv": a bind mount\'s source must be'),
    ([types_pb2.Mount(type="volume", source="-bad", target="/d")], '--volume: "-bad" is not a valid volume name'),
    ([types_pb2.Mount(type="volume", source="dd", target="/d"), types_pb2.Mount(type="bind", source="/x", target="/d/")],
     "--volume: /d/ is mounted twice"),
    ([types_pb2.Mount(type="tmpfs", source="x", target="/t")], "--mount: a tmpfs mount has no source"),
    ([types_pb2.Mount(type="bind", source="/x", target="/t", tmpfs_size_bytes=5)], "--mount: tmpfs-size goes only"),
])
def test_bad_mounts_are_refused_naming_the_flag(mounts, message):
    with pytest.raises(InvalidField) as caught:
        check_spec(types_pb2.ContainerSpec(image="img", mounts=mounts))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_global_service_cannot_mount_a_named_volume():
    spec = types_pb2.ServiceSpec(name="agent", mode="global", task=types_pb2.ContainerSpec(
        image="img", mounts=[types_pb2.Mount(type="volume", source="dd", target="/d")]))
    with pytest.raises(InvalidField) as caught:
        check_service(spec)
    assert str(caught.value).startswith("--mount: a global service cannot mount a named volume")


@pytest.mark.parametrize("req,message", [
    (manager_pb2.CreateVolumeRequest(name="x"), 'NAME: "x" is not a valid volume name'),
    (manager_pb2.CreateVolumeRequest(name="d" * 64), "NAME: at most 63 characters"),
    (manager_pb2.CreateVolumeRequest(name="db", driver="nfs"), '--driver: "nfs" is not supported (local)'),
    (manager_pb2.CreateVolumeRequest(name="db", options={"size": "1g"}), '--opt: "size" is not an option of the local'),
    (manager_pb2.CreateVolumeRequest(name="db", labels={"io.shoal.x": "1"}), "--label:"),
])
def test_bad_volume_create_is_refused(req, message):
    with pytest.raises(InvalidField) as caught:
        check_create_volume(req)
    assert str(caught.value).startswith(message), str(caught.value)


# ---- where volumes pin a container ------------------------------------------------------

def vol(name: str, node_id: str = "", node_name: str = "") -> types_pb2.Volume:
    return types_pb2.Volume(name=name, driver="local", node_id=node_id, node_name=node_name)


def mounting(*names: str) -> types_pb2.ContainerSpec:
    return types_pb2.ContainerSpec(image="img", mounts=[types_pb2.Mount(type="volume", source=n, target=f"/{n}")
                                                        for n in names])


def test_a_recorded_volume_pins_and_an_unknown_one_lands_with_the_container():
    volumes = {"db": vol("db", "n2", "h2")}
    assert vp.pin(mounting("db", "logs"), volumes) == vp.Pin("n2", "h2", "db", ("logs",))
    assert vp.pin(mounting("logs"), volumes) == vp.Pin(new=("logs",))
    assert vp.pin(mounting("db", "db"), volumes) == vp.Pin("n2", "h2", "db", ())
    assert vp.pin(types_pb2.ContainerSpec(image="img"), volumes) == vp.Pin()


def test_a_volume_created_without_a_node_lands_with_its_first_container_keeping_its_options():
    volumes = {"db": types_pb2.Volume(name="db", driver="local", options={"type": "tmpfs"}, created_at="t0")}
    p = vp.pin(mounting("db", "cache"), volumes)
    assert p.new == ("db", "cache")
    records = vp.new_records(p, mounting("db", "cache"), "n3", "h3", "t1", volumes)
    assert [(r.name, r.node_id, r.node_name, dict(r.options), r.created_at, r.implicit) for r in records] == [
        ("db", "n3", "h3", {"type": "tmpfs"}, "t0", False), ("cache", "n3", "h3", {}, "t1", True)]


def test_volumes_on_two_nodes_cannot_be_mounted_together():
    with pytest.raises(vp.VolumesApart) as caught:
        vp.pin(mounting("a", "b"), {"a": vol("a", "n1", "h1"), "b": vol("b", "n2", "h2")})
    assert str(caught.value) == "volume a is on node h1 and volume b on node h2: one container cannot mount both"


@pytest.mark.parametrize("slot,names", [(0, ["db"]), (1, ["db"]), (2, ["db.2"]), (17, ["db.17"])])
def test_slot_volumes_keep_slot_one_on_the_name_itself(slot, names):
    spec = mounting("db")
    spec.mounts.append(types_pb2.Mount(type="bind", source="/srv", target="/srv"))
    vp.for_slot(spec, slot)
    assert vp.named_volumes(spec) == names and spec.mounts[1].source == "/srv"


def test_fill_copies_the_record_into_the_mount():
    spec = mounting("db", "fresh")
    vp.fill(spec, {"db": types_pb2.Volume(name="db", driver="local", options={"o": "size=1m"}, labels={"a": "b"})})
    assert (spec.mounts[0].driver, dict(spec.mounts[0].driver_options), dict(spec.mounts[0].volume_labels)) == (
        "local", {"o": "size=1m"}, {"a": "b"})
    assert (spec.mounts[1].driver, dict(spec.mounts[1].driver_options)) == ("local", {})


@pytest.mark.parametrize("nodes,expected", [
    ({}, "volume db is on node h2, which is down"),
    ({"n2": node_snapshot("n2", ready=False)}, "volume db is on node h2, which is down"),
    ({"n2": node_snapshot("n2", availability="drain")}, "volume db is on node h2, which is draining"),
    ({"n2": node_snapshot("n2", availability="pause")}, "volume db is on node h2, which is paused"),
    ({"n2": node_snapshot("n2")}, None),
])
def test_why_a_pinned_task_waits(nodes, expected):
    assert vp.why_waiting(vp.Pin("n2", "h2", "db"), nodes) == expected
    assert vp.why_waiting(vp.Pin(), nodes) is None


def test_a_volume_named_on_first_use_is_recorded_as_its_mount_asks():
    spec = types_pb2.ContainerSpec(image="img", mounts=[types_pb2.Mount(
        type="volume", source="shop_data", target="/d", driver_options={"type": "tmpfs"}, volume_labels={"a": "b"})])
    vp.fill(spec, {})
    assert (spec.mounts[0].driver, dict(spec.mounts[0].driver_options)) == ("local", {"type": "tmpfs"})
    [record] = vp.new_records(vp.pin(spec, {}), spec, "n1", "h1", "t", {})
    assert (dict(record.options), dict(record.labels), record.implicit) == ({"type": "tmpfs"}, {"a": "b"}, True)


def test_mount_driver_options_are_checked_as_volume_create_checks_them():
    bad = types_pb2.Mount(type="volume", source="dd", target="/d", driver_options={"size": "1"})
    with pytest.raises(InvalidField) as caught:
        check_spec(types_pb2.ContainerSpec(image="img", mounts=[bad]))
    assert str(caught.value).startswith('--mount: "size" is not an option of the local driver')
