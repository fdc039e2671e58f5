"""The spine end to end: CLI -> manager -> etcd + agents -> real dockerd on netns hosts."""
from __future__ import annotations

import select
import sys
import time

import pytest

from tests.integration.conftest import LEASE_TTL
from tests.polling import poll

pytestmark = pytest.mark.integration

IMAGE = "shoal/busybox:latest"
IDLE = [IMAGE, "sleep", "3600"]
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"


def test_nodes_describe_their_hosts(shoal, cluster):
    nodes = shoal.nodes()
    assert sorted(nodes) == [h.name for h in cluster.hosts]
    for host in cluster.hosts:
        n = nodes[host.name]
        assert n["address"] == host.agent_address
        assert n["state"] == "ready" and n["availability"] == "active"
        d = n["description"]
        assert int(d["memory_bytes"]) == 256 << 20
        assert d["engine_version"] and d["kernel"] and int(d["nano_cpus"]) > 0
    assert shoal("node", "inspect", "shoalt-h2").stdout.count('"shoalt-h2"') >= 1


def test_spread_places_six_equal_containers_two_per_host(shoal):
    for i in range(6):
        shoal("run", "-d", "--name", f"s{i}", "-m", "32m", *IDLE)
    assert sorted(shoal.placement().values()) == [2, 2, 2]
    assert all(c["status"] == "running" for c in shoal.json("ps"))


def test_binpack_fills_one_host_until_memory_runs_out(shoal):
    nodes_used = []
    for i in range(5):
        shoal("run", "-d", "--strategy", "binpack", "--name", f"b{i}", "-m", "64m", *IDLE)
        nodes_used.append({c["name"]: c["node"] for c in shoal.json("ps")}[f"b{i}"])
    # 256 MiB hosts hold four 64 MiB reservations; the fifth must go elsewhere.
    assert len(set(nodes_used[:4])) == 1
    assert nodes_used[4] != nodes_used[0]


def test_constraint_pins_to_the_labelled_host(shoal):
    shoal("node", "update", "--label-add", "zone=eu", "shoalt-h3")
    assert shoal.nodes()["shoalt-h3"]["labels"] == {"zone": "eu"}
    for i in range(3):
        shoal("run", "-d", "--name", f"eu{i}", "--constraint", "node.labels.zone==eu", *IDLE)
    assert shoal.placement() == {"shoalt-h3": 3}


def test_impossible_constraint_is_explained_and_creates_nothing(shoal, cluster):
    r = shoal("run", "-d", "--name", "nowhere", "--constraint", "node.labels.zone==mars", *IDLE, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "shoal: no node fits: 3 nodes do not match node.labels.zone==mars"
    assert shoal.json("ps", "-a") == []
    for host in cluster.hosts:
        assert cluster.docker(host).containers.list(all=True) == []


def test_not_enough_memory_anywhere_is_explained(shoal):
    r = shoal("run", "-d", "-m", "512m", *IDLE, check=False)
    assert r.returncode == 1
    assert "no node fits: 3 nodes lack 512 MiB memory" in r.stderr


def test_same_host_port_lands_on_different_hosts_and_answers_from_elsewhere(shoal, cluster):
    for name in ("web1", "web2"):
        shoal("run", "-d", "--name", name, "-p", "8080:80", IMAGE,
              "sh", "-c", f"mkdir -p /www && echo hello-{name} > /www/index.html && httpd -f -p 80 -h /www")
    placed = {c["name"]: c for c in shoal.json("ps")}
    assert placed["web1"]["node"] != placed["web2"]["node"]
    assert placed["web1"]["ports"] == ["8080->80/tcp"]
    by_name = {h.name: h for h in cluster.hosts}
    for name, c in placed.items():
        target = by_name[c["node"]]
        other = next(h for h in cluster.hosts if h.name != c["node"])

        def answer(other=other, target=target):
            # Debian's static busybox wget crashes in getaddrinfo, so the client is Python.
            r = cluster.host_exec(other, [sys.executable, "-c", FETCH, f"http://{target.ip}:8080/"])
            return r.stdout.strip() if r.returncode == 0 else None

        assert poll(answer, 20, what=f"{name} answering on {target.ip}:8080") == f"hello-{name}"
    # A third container on port 8080 cannot fit on those two hosts.
    shoal("run", "-d", "--name", "web3", "-p", "8080:80", *IDLE)
    third = {c["name"]: c["node"] for c in shoal.json("ps")}["web3"]
    assert third not in (placed["web1"]["node"], placed["web2"]["node"])
    r = shoal("run", "-d", "--name", "web4", "-p", "8080:80", *IDLE, check=False)
    assert r.returncode == 1 and "3 nodes already publish port 8080/tcp" in r.stderr


def test_logs_follow_streams_and_tail_limits(shoal):
    shoal("run", "-d", "--name", "ticker", IMAGE, "sh", "-c",
          "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done")
    proc = shoal.popen("logs", "-f", "ticker")
    try:
        seen = [b""]

        def ninth_tick() -> bytes | None:
            if select.select([proc.stdout], [], [], 0)[0]:
                seen[0] += proc.stdout.read1(4096)
            return seen[0] if b"tick8\n" in seen[0] else None

        streamed = poll(ninth_tick, 20, interval=0.1, what="`logs -f` to stream tick8")
        assert b"tick0\ntick1\n" in streamed, streamed
        assert proc.poll() is None, "logs -f ended although the container still runs"
    finally:
        proc.kill()
        proc.wait()
    tail = poll(lambda: shoal("logs", "--tail", "2", "ticker").stdout.splitlines(), 5, what="tail output")
    assert len(tail) == 2 and all(line.startswith("tick") for line in tail)


def test_run_attached_prints_output_and_exits_with_the_container_code(shoal):
    r = shoal("run", "--name", "once", IMAGE, "sh", "-c", "echo out-line; exit 7", check=False)
    assert r.returncode == 7, r.stderr
    assert r.stdout == "out-line\n"
    assert {c["name"]: c["status"] for c in shoal.json("ps", "-a")}["once"] == "exited (7)"
    assert "once" not in {c["name"] for c in shoal.json("ps")}


def test_stop_then_rm(shoal, cluster):
    shoal("run", "-d", "--name", "victim", *IDLE)
    c = shoal.json("ps")[0]
    host = next(h for h in cluster.hosts if h.name == c["node"])
    r = shoal("rm", "victim", check=False)
    assert r.returncode == 1 and "is running: stop it first or use -f" in r.stderr
    shoal("stop", "-t", "1", "victim")
    stopped = {x["name"]: x for x in shoal.json("ps", "-a")}["victim"]
    assert stopped["state"] == "exited"
    assert cluster.docker(host).containers.list(all=True)[0].status == "exited"
    shoal("rm", c["id"][:8])  # by id prefix
    assert shoal.json("ps", "-a") == []
    assert cluster.docker(host).containers.list(all=True) == []
    r = shoal("rm", "victim", check=False)
    assert r.returncode == 1 and 'container "victim": no such container' in r.stderr


def test_inspect_shows_record_and_engine_document(shoal):
    cid = shoal("run", "-d", "--name", "insp", "-e", "A=1", "--label", "team=x", *IDLE).stdout.strip()
    import json
    doc = json.loads(shoal("inspect", "insp").stdout)
    assert doc["id"] == cid and doc["name"] == "insp"
    assert doc["engine"]["Config"]["Labels"]["io.shoal.id"] == cid
    assert doc["engine"]["Config"]["Labels"]["team"] == "x"
    assert "A=1" in doc["engine"]["Config"]["Env"]


def test_names_are_unique_and_a_rejected_run_changes_nothing(shoal):
    shoal("run", "-d", "--name", "dup", *IDLE)
    before = shoal.json("ps", "-a")
    r = shoal("run", "-d", "--name", "dup", *IDLE, check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'shoal: --name: "dup" is already in use'
    r = shoal("run", "-d", "--name", "../etc", *IDLE, check=False)
    # Refused by the manager's validation: a usage error, exit 2 as when the CLI catches one.
    assert r.returncode == 2 and r.stderr.startswith('shoal: --name: "../etc" is not a valid name')
    assert shoal.json("ps", "-a") == before


def test_a_failed_create_leaves_no_ghost(shoal, cluster):
    # The image points at a registry on the host's own loopback where nothing listens: the pull fails at once.
    r = shoal("run", "-d", "--name", "ghost", "127.0.0.1:1/nothing:latest", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("shoal: node shoalt-h") and len(r.stderr.strip().splitlines()) == 1
    assert shoal.json("ps", "-a") == []
    for host in cluster.hosts:
        assert cluster.docker(host).containers.list(all=True) == []
    shoal("run", "-d", "--name", "ghost", *IDLE)  # the name was released


def test_drain_keeps_new_containers_off(shoal):
    shoal("node", "update", "--availability", "drain", "shoalt-h1")
    assert shoal.nodes()["shoalt-h1"]["availability"] == "drain"
    for i in range(4):
        shoal("run", "-d", "--name", f"d{i}", *IDLE)
    assert "shoalt-h1" not in shoal.placement()
    shoal("node", "update", "--availability", "pause", "shoalt-h2")
    r = shoal("run", "-d", *IDLE)
    assert shoal.placement().get("shoalt-h3") == 3
    shoal("node", "update", "--availability", "pause", "shoalt-h3")
    r = shoal("run", "-d", *IDLE, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "shoal: no node fits: 1 node is draining, 2 nodes are paused" or \
        r.stderr.strip() == "shoal: no node fits: 2 nodes are paused, 1 node is draining"


def test_killed_agent_leaves_and_its_restart_readopts_without_duplicates(shoal, cluster):
    host = cluster.hosts[1]
    shoal("run", "-d", "--name", "keep", "--constraint", "node.hostname!=nothing", "--constraint",
          f"node.name=={host.name}", *IDLE)
    before = {c["name"]: c for c in shoal.json("ps")}["keep"]
    cluster.kill_agent(host)
    killed_at = time.monotonic()
    poll(lambda: host.name not in shoal.nodes(), LEASE_TTL + 5, what=f"{host.name} to leave node ls")
    assert time.monotonic() - killed_at <= LEASE_TTL + 5
    gone = {c["name"]: c for c in shoal.json("ps", "-a")}["keep"]
    assert gone["state"] == "unknown"
    cluster.start_agent(host)
    poll(lambda: host.name in shoal.nodes(), 30, what=f"{host.name} to register again")
    after = poll(lambda: [c for c in shoal.json("ps") if c["name"] == "keep" and c["state"] == "running"], 15,
                 what="keep to be reported running again")
    assert len(after) == 1 and after[0]["id"] == before["id"]
    engine = cluster.docker(host).containers.list(all=True)
    assert [c.labels["io.shoal.id"] for c in engine] == [before["id"]]
    assert len(shoal.json("ps", "-a")) == 1
