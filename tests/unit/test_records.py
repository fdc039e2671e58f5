"""Per-container records in etcd: binary now; JSON from earlier versions is still read."""
import pytest
from google.protobuf import json_format

from shoal.protos import records
from shoal.protos.shoal.v1 import agent_pb2, types_pb2
from tests.unit.conftest import container


def observed() -> agent_pb2.AgentContainer:
    return agent_pb2.AgentContainer(id="c1", name="web.1", image="img", status=types_pb2.ContainerStatus(
        state="running", exit_code=0, started_at="2026-11-28T02:00:00+00:00", health="healthy"))


def task() -> types_pb2.Container:
    return container(desired_state="running", slot=3,
                     spec=types_pb2.ContainerSpec(image="img", command=["sleep", "1"], labels={"b": "2", "a": "1"}))


@pytest.mark.parametrize("make", [observed, task])
def test_binary_round_trip_deterministic_and_never_looks_like_json(make) -> None:
    value = records.encode(make())
    assert not value.startswith(b"{")
    assert records.decode(type(make()), value) == make()
    assert records.encode(make()) == value   # unchanged records are recognised as unchanged


@pytest.mark.parametrize("make", [observed, task])
def test_json_written_by_an_earlier_version_is_read(make) -> None:
    value = json_format.MessageToJson(make(), indent=None).encode()
    assert records.decode(type(make()), value) == make()


def test_an_empty_record_decodes_to_an_empty_message() -> None:
    assert records.decode(agent_pb2.AgentContainer, records.encode(agent_pb2.AgentContainer())) == agent_pb2.AgentContainer()
