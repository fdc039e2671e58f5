"""Host ports are taken per address, as the engine binds them (scheduler/ports.py)."""
from types import SimpleNamespace

import pytest

from shoal.manager.scheduler import TaskRequest, place_many
from shoal.manager.scheduler.ports import clash, host_ports
from tests.unit.conftest import node_snapshot

LOOPBACK = (8080, "tcp", "127.0.0.1")
PRIVATE = (8080, "tcp", "10.0.0.5")
EVERY = (8080, "tcp", "")


@pytest.mark.parametrize(
    ("wanted", "used", "expected"),
    [
        ({LOOPBACK}, {PRIVATE}, None),                # two addresses share the port
        ({LOOPBACK}, {LOOPBACK}, (8080, "tcp")),
        ({EVERY}, {PRIVATE}, (8080, "tcp")),          # every address takes it on all of them
        ({PRIVATE}, {EVERY}, (8080, "tcp")),
        ({EVERY}, {EVERY}, (8080, "tcp")),
        ({(8080, "udp", "")}, {PRIVATE}, None),       # protocols apart
        ({(8081, "tcp", "")}, {PRIVATE}, None),
        ({(9000, "tcp", "10.0.0.5"), (443, "tcp", "")}, {(443, "tcp", "10.0.0.9"), (9000, "tcp", "")}, (443, "tcp")),
        (set(), {EVERY}, None),
        ({EVERY}, set(), None),
    ],
)
def test_clash_per_address(wanted, used, expected) -> None:
    assert clash(frozenset(wanted), frozenset(used)) == expected


def mapping(host_port: int, host_ip: str = "", protocol: str = "tcp") -> SimpleNamespace:
    return SimpleNamespace(host_port=host_port, protocol=protocol, host_ip=host_ip)


def test_host_ports_from_mappings() -> None:
    mappings = [mapping(80, "0.0.0.0"), mapping(81, "::"), mapping(82, "127.0.0.1"), mapping(0), mapping(53, protocol="")]
    assert host_ports(mappings) == {(80, "tcp", ""), (81, "tcp", ""), (82, "tcp", "127.0.0.1"), (53, "tcp", "")}


def test_two_addresses_of_one_port_share_a_node_and_every_address_does_not() -> None:
    nodes = [node_snapshot("n1", used_ports=frozenset({LOOPBACK}))]
    placed, nofit = place_many(nodes, TaskRequest(host_ports=frozenset({PRIVATE})), 1)
    assert [p.node_id for p in placed] == ["n1"] and nofit is None
    placed, nofit = place_many(nodes, TaskRequest(host_ports=frozenset({EVERY})), 1)
    assert placed == [] and nofit is not None and nofit.message == "no node fits: 1 node already publishes port 8080/tcp"
    # Within one batch, the first copy's address stays taken for the second.
    placed, nofit = place_many(nodes, TaskRequest(host_ports=frozenset({PRIVATE})), 2)
    assert len(placed) == 1 and nofit is not None
