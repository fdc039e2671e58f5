import pytest

from manager.validation import InvalidField, check_name, check_run
from protos.shoal.v1 import manager_pb2, types_pb2


def req(**spec_fields):
    name = spec_fields.pop("name", "")
    spec = types_pb2.ContainerSpec(image=spec_fields.pop("image", "shoal/busybox:latest"), **spec_fields)
    return manager_pb2.RunRequest(name=name, spec=spec)


def test_a_plain_request_passes_and_constraints_are_parsed():
    parsed = check_run(req(name="web", constraints=["node.labels.zone==eu"]))
    assert [c.key for c in parsed] == ["node.labels.zone"]


@pytest.mark.parametrize("name", ["a", "web-1", "web_1.x", "A" * 63, "0abc"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "a/b", "../x", "a b", "A" * 64, "é"])
def test_bad_names(name):
    with pytest.raises(InvalidField, match="name"):
        check_name(name)


@pytest.mark.parametrize("fields,field", [
    ({"name": "a/../b"}, "--name"),
    ({"image": ""}, "IMAGE"),
    ({"image": "bad image"}, "IMAGE"),
    ({"command": ["x"] * 300}, "CMD"),
    ({"env": {"1BAD": "x"}}, "--env"),
    ({"env": {"A": "x" * 5000}}, "--env"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=80, protocol="sctp")]}, "--publish"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=0, protocol="tcp")]}, "--publish"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=80, protocol="tcp"),
                types_pb2.PortMapping(host_port=80, container_port=81, protocol="tcp")]}, "--publish"),
    ({"memory_bytes": 1024}, "--memory"),
    ({"nano_cpus": -1}, "--cpus"),
    ({"labels": {"io.shoal.id": "forged"}}, "--label"),
    ({"labels": {"bad key": "v"}}, "--label"),
    ({"strategy": "best"}, "--strategy"),
    ({"constraints": ["node.labels.zone=eu"]}, "--constraint"),
    ({"constraints": ["node.labels.zone==/[/"]}, "--constraint"),
])
def test_each_bad_field_is_named(fields, field):
    with pytest.raises(InvalidField) as info:
        check_run(req(**fields))
    assert str(info.value).startswith(field + ": ")
    assert "\n" not in str(info.value)
