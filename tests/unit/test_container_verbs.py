"""The pure parts of start ... cp: docker stats' arithmetic, its columns, port lines, cp's arguments
and archive renaming, and which verbs a service task refuses."""
from __future__ import annotations

import pytest

from shoal.agent.runtime import engine_stats
from shoal.cli import verb_text as vt
from shoal.manager.container_verbs import ends_task, revive
from shoal.protos import task_states
from shoal.protos.shoal.v1 import types_pb2


def doc(**over) -> dict:
    d = {
        "read": "2026-12-03T15:00:00Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}, "system_cpu_usage": 20_000_000_000, "online_cpus": 4},
        "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 16_000_000_000},
        "memory_stats": {"usage": 10 << 20, "limit": 100 << 20, "stats": {"inactive_file": 2 << 20}},
        "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 500}, "eth1": {"rx_bytes": 24, "tx_bytes": 12}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"op": "Read", "value": 4096}, {"op": "Write", "value": 8192}, {"op": "read", "value": 4096},
            {"op": "Total", "value": 99}]},
        "pids_stats": {"current": 3},
    }
    d.update(over)
    return d


def test_cpu_percent_is_the_share_of_host_time_times_the_cpus():
    # 1 s of container CPU over 4 s of host CPU time (all 4 CPUs): 1/4 * 4 * 100 = 100 %, one core busy.
    assert engine_stats.cpu_percent(doc()) == pytest.approx(100.0)


def test_cpu_percent_counts_percpu_usage_when_online_cpus_is_missing():
    d = doc()
    del d["cpu_stats"]["online_cpus"]
    d["cpu_stats"]["cpu_usage"]["percpu_usage"] = [1, 1]
    assert engine_stats.cpu_percent(d) == pytest.approx(50.0)


def test_cpu_percent_is_zero_without_a_positive_delta():
    # A counter that went back (the container restarted between the readings) is no negative load.
    pre = {"cpu_usage": {"total_usage": 5_000_000_000}, "system_cpu_usage": 16_000_000_000}
    assert engine_stats.cpu_percent(doc(precpu_stats=pre)) == 0.0


def test_memory_is_usage_minus_inactive_page_cache_v1_and_v2():
    assert engine_stats.memory_used(doc()) == 8 << 20
    v1 = doc(memory_stats={"usage": 10 << 20, "stats": {"total_inactive_file": 1 << 20}})
    assert engine_stats.memory_used(v1) == 9 << 20
    # A cache figure larger than the usage is not subtracted (docker's rule).
    odd = doc(memory_stats={"usage": 1 << 20, "stats": {"inactive_file": 2 << 20}})
    assert engine_stats.memory_used(odd) == 1 << 20


def test_network_and_block_io_are_summed():
    s = engine_stats.sample(doc())
    assert (s.net_rx_bytes, s.net_tx_bytes) == (1024, 512)
    assert (s.block_read_bytes, s.block_write_bytes) == (8192, 8192)
    assert s.pids == 3 and s.memory_limit_bytes == 100 << 20


def test_an_empty_document_is_all_zeros():
    s = engine_stats.sample({})
    assert (s.cpu_percent, s.memory_bytes, s.pids, s.net_rx_bytes) == (0.0, 0, 0, 0)


@pytest.mark.parametrize("n,binary,decimal", [
    (0, "0B", "0B"), (1023, "1023B", "1.02kB"), (1536, "1.5KiB", "1.54kB"),
    (8 << 20, "8MiB", "8.39MB"), (7_812_500_000, "7.276GiB", "7.81GB"),
])
def test_sizes_as_docker_prints_them(n, binary, decimal):
    assert vt.bytes_size(n) == binary
    assert vt.human_size(n) == decimal


def test_stats_row_has_dockers_columns_and_the_node():
    s = types_pb2.ContainerStats(id="a" * 32, name="web", node_name="h2", cpu_percent=12.345,
                                 memory_bytes=8 << 20, memory_limit_bytes=100 << 20, net_rx_bytes=1536,
                                 net_tx_bytes=0, block_read_bytes=0, block_write_bytes=4096, pids=3)
    assert vt.stats_row(s) == ["a" * 12, "web", "12.35%", "8MiB / 100MiB", "8.00%", "1.54kB / 0B",
                               "0B / 4.1kB", "3", "h2"]
    assert len(vt.STATS_TITLES) == len(vt.stats_row(s))
    assert vt.stats_row(types_pb2.ContainerStats(name="x", error="node h3: down"))[2] == "--"


def mapping(port, host, ip="", proto="tcp"):
    return types_pb2.PortMapping(container_port=port, host_port=host, host_ip=ip, protocol=proto)


def test_port_lines_as_docker_port():
    ports = [mapping(443, 8443), mapping(80, 8080), mapping(80, 8081, "::"), mapping(53, 5353, proto="udp"),
             mapping(9000, 0)]
    assert vt.port_lines(ports) == ["53/udp -> 0.0.0.0:5353", "80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8081",
                                    "443/tcp -> 0.0.0.0:8443"]
    assert vt.port_lines(ports, (80, "tcp")) == ["0.0.0.0:8080", "[::]:8081"]
    assert vt.port_lines(ports, (80, "udp")) == []


@pytest.mark.parametrize("text,want", [("80", (80, "tcp")), ("53/udp", (53, "udp"))])
def test_private_port(text, want):
    assert vt.parse_private_port(text) == want


@pytest.mark.parametrize("text", ["0", "70000", "80/icmp", "http", ""])
def test_private_port_refused(text):
    with pytest.raises(ValueError):
        vt.parse_private_port(text)


@pytest.mark.parametrize("src,dest,want", [
    ("web:/etc/hosts", ".", vt.CopyArgs("web", "/etc/hosts", ".", False)),
    ("./a:b", "web:/tmp", vt.CopyArgs("web", "/tmp", "./a:b", True)),
    ("/abs/x", "web:/tmp/", vt.CopyArgs("web", "/tmp/", "/abs/x", True)),
    ("-", "web:/tmp", vt.CopyArgs("web", "/tmp", "-", True)),
    ("web:/d", "-", vt.CopyArgs("web", "/d", "-", False)),
])
def test_cp_arguments(src, dest, want):
    assert vt.parse_cp(src, dest) == want


@pytest.mark.parametrize("src,dest,why", [
    ("a:/x", "b:/y", "between containers"), ("x", "y", "CONTAINER:PATH"), ("web:", "x", "must not be empty"),
    ("x", "web:", "must not be empty"),
])
def test_cp_arguments_refused(src, dest, why):
    with pytest.raises(ValueError, match=why):
        vt.parse_cp(src, dest)


def test_archive_root_is_renamed_only_at_its_first_component():
    assert vt.renamed("d", "d", "e") == "e"
    assert vt.renamed("d/x/d", "d", "e") == "e/x/d"
    assert vt.renamed("./d/x", "d", "e") == "e/x"
    assert vt.renamed("dd/x", "d", "e") == "dd/x"


@pytest.mark.parametrize("name,unsafe", [("a/b", False), ("a/../../etc", True), ("/etc/passwd", True),
                                         ("a..b/c", False)])
def test_archive_members_outside_the_destination_are_refused(name, unsafe):
    assert bool(vt.unsafe_member(name)) is unsafe


def test_go_mode_bits():
    assert vt.is_dir(0x80000000 | 0o755) and not vt.is_dir(0o644)


@pytest.mark.parametrize("signal,ends", [("", True), ("KILL", True), ("sigterm", True), ("9", True),
                                         ("USR1", False), ("SIGHUP", False), ("10", False)])
def test_a_task_refuses_only_the_signals_that_end_it(signal, ends):
    assert ends_task(signal) is ends


def test_start_brings_a_stopped_record_back_to_desired_running():
    c = types_pb2.Container(id="x", name="db")
    task_states.set_ended(c, types_pb2.END_REASON_STOPPED, "killed")
    assert not task_states.is_live(c)
    revive(c)
    assert task_states.is_live(c) and c.desired_state == "running"
    assert task_states.recorded_state(c) == task_states.RUNNING and not c.end and not c.note
